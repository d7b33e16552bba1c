import { nextDue } from '../../machines/clocks.ts';
import type { CaseContext } from '../../machines/types.ts';

// The read side's indexes, moved in the same commit as the case (sorted sets per partition).
// Scores are the opening time, except `due` (the earliest armed deadline).

export interface IndexOp {
  /** Index name within the partition: `created`, `state:<s>`, `contract:<id>`, `dept:<d>`, `breached`, `due`. */
  readonly index: string;
  /** A score to add (or move) the case at, or `null` to remove it. */
  readonly score: number | null;
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
    ops.push(
      { index: 'created', score: created },
      { index: `contract:${after.context.open.contractId}`, score: created },
    );
  }
  if (before?.state !== after.state) {
    if (before) ops.push({ index: `state:${before.state}`, score: null });
    ops.push({ index: `state:${after.state}`, score: created });
  }
  const known = departments(before?.context);
  for (const d of departments(after.context)) if (!known.has(d)) ops.push({ index: `dept:${d}`, score: created });
  if (breached(after.context) && !breached(before?.context)) ops.push({ index: 'breached', score: created });
  const wasDue = before ? nextDue(before.context.deadlines)?.dueAt : undefined;
  const due = nextDue(after.context.deadlines)?.dueAt;
  if (due !== wasDue) ops.push({ index: 'due', score: due ?? null });
  return ops;
}
