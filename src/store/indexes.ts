import { nextDue } from '../../machines/clocks.ts';
import type { CaseContext } from '../../machines/types.ts';

// The read side's indexes, moved in the same commit as the case (sorted sets per partition).
// Scores are the opening time, except `timers`: the case's armed wake-up timer, member = its job id,
// score = its due time (DESIGN.md invariant 5: the timer is part of the commit, so it can't be lost).

export interface IndexOp {
  /** Index name within the partition: `created`, `state:<s>`, `dept:<d>`, `breached`, `timers`. */
  readonly index: string;
  /** A score to add (or move) the member at, or `null` to remove it. */
  readonly score: number | null;
  /** The member; the case id when absent. */
  readonly member?: string;
}

/** BullMQ forbids ':' and all-digit custom ids: case id, deadline and epoch joined with '.'. */
export function timerJobId(caseId: string, name: string, epoch: number): string {
  return `${caseId}.${name}.${epoch}`;
}

export function parseTimerJobId(id: string): { caseId: string; name: string; epoch: number } {
  const [caseId = '', name = '', epoch = '0'] = id.split('.');
  return { caseId, name, epoch: Number(epoch) };
}

const departments = (c: CaseContext | undefined) =>
  new Set([c?.escalation?.department, c?.coordination?.department].filter((d): d is string => d !== undefined));

const breached = (c: CaseContext | undefined) => Object.values(c?.deadlines ?? {}).some((d) => d.status === 'breached');

export function indexOps(
  before: { state: string; context: CaseContext } | undefined,
  after: { state: string; context: CaseContext },
): IndexOp[] {
  const created = after.context.createdAt;
  const ops: IndexOp[] = [];
  if (!before) {
    // No per-contract index: a site runs few contracts, so lists filter them over `created`.
    ops.push({ index: 'created', score: created });
  }
  if (before?.state !== after.state) {
    if (before) ops.push({ index: `state:${before.state}`, score: null });
    ops.push({ index: `state:${after.state}`, score: created });
  }
  const known = departments(before?.context);
  for (const d of departments(after.context)) if (!known.has(d)) ops.push({ index: `dept:${d}`, score: created });
  if (breached(after.context) && !breached(before?.context)) ops.push({ index: 'breached', score: created });
  // One wake-up timer per case, for its earliest armed deadline.
  const caseId = after.context.caseId;
  const was = before ? nextDue(before.context.deadlines) : undefined;
  const now = nextDue(after.context.deadlines);
  if (was?.name !== now?.name || was?.epoch !== now?.epoch) {
    if (was) ops.push({ index: 'timers', score: null, member: timerJobId(caseId, was.name, was.epoch) });
    if (now) ops.push({ index: 'timers', score: now.dueAt, member: timerJobId(caseId, now.name, now.epoch) });
  }
  return ops;
}
