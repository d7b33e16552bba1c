import { nextDue } from '../../machines/clocks.ts';
import type { CaseContext } from '../../machines/types.ts';

// The read side's indexes, moved in the same commit as the case (sorted sets per partition).
// Scores are the opening time, except `timers`: the case's armed wake-up timer, member = its job id,
// score = its due time (DESIGN.md invariant 5: the timer is part of the commit, so it can't be lost).

export interface IndexOp {
  /** Index name within the partition: `created`, `state:<s>`, `dept:<d>`, `breached`, `breaches`, `outage:<id>`, `timers`. */
  readonly index: string;
  /** A score to add (or move) the member at, or `null` to remove it. */
  readonly score: number | null;
  /** The member; the case id when absent. */
  readonly member?: string;
}

/**
 * BullMQ forbids ':' and all-digit custom ids: case id, deadline and epoch joined with '.', and `w<k>`
 * for the deadline's warning number k.
 */
export function timerJobId(caseId: string, name: string, epoch: number, warning?: number): string {
  return warning === undefined ? `${caseId}.${name}.${epoch}` : `${caseId}.${name}.${epoch}.w${warning}`;
}

export function parseTimerJobId(id: string): { caseId: string; name: string; epoch: number; warning?: number } {
  const [caseId = '', name = '', epoch = '0', warning] = id.split('.');
  return { caseId, name, epoch: Number(epoch), ...(warning ? { warning: Number(warning.slice(1)) } : {}) };
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
  // `breaches`: each deadline's latest breach by its time, for excusing them after the fact (6.2).
  for (const [name, clock] of Object.entries(after.context.deadlines)) {
    const was = before?.context.deadlines[name];
    if (clock.status === 'breached' && (was?.status !== 'breached' || was.epoch !== clock.epoch)) {
      ops.push({
        index: 'breaches',
        score: clock.at ?? after.context.updatedAt,
        member: `${after.context.caseId}.${name}`,
      });
    }
  }
  // `outage:<id>`: the cases an open outage window holds, to resume when it ends.
  const heldBy = (c: CaseContext | undefined) => new Set((c?.holds ?? []).flatMap((h) => (h.outage ? [h.outage] : [])));
  const wasHeld = heldBy(before?.context);
  const nowHeld = heldBy(after.context);
  for (const id of nowHeld) if (!wasHeld.has(id)) ops.push({ index: `outage:${id}`, score: created });
  for (const id of wasHeld) if (!nowHeld.has(id)) ops.push({ index: `outage:${id}`, score: null });
  // One wake-up timer per case, for its earliest armed deadline.
  const caseId = after.context.caseId;
  const was = before ? nextDue(before.context.deadlines) : undefined;
  const now = nextDue(after.context.deadlines);
  const wasId = was && timerJobId(caseId, was.name, was.epoch, was.warning);
  const nowId = now && timerJobId(caseId, now.name, now.epoch, now.warning);
  if (wasId !== nowId) {
    if (wasId) ops.push({ index: 'timers', score: null, member: wasId });
    if (nowId && now) ops.push({ index: 'timers', score: now.dueAt, member: nowId });
  }
  return ops;
}
