import type { CaseContext } from '../../machines/types.ts';

// What an accepted event did to a case's clocks and hand-offs, read off the contexts before and after
// it (the engine's observer gives both). Pure: the metrics are counted from these.

export type DeadlineChange = 'armed' | 'paused' | 'resumed' | 'met' | 'breached' | 'excused' | 'cancelled';

export interface Handoff {
  readonly department: string;
  /** The rung of the escalation ladder (1 for the first hand-off). */
  readonly rung: number;
  readonly trigger: string;
}

const running = (status: string | undefined) => status === 'armed' || status === 'paused';

/**
 * One entry per change of a deadline's clock. An arming stamps a new `armedAt` (a resume, a moved due
 * date or an outage deferral keep it, with a new epoch); a paused clock running again is a resume (6.2).
 * A running clock replaced by a new arming was missed when a firing did it (a hand-off not accepted in
 * time climbs a rung with a new `handoff`, 3.2.3), else cancelled (a re-route).
 */
export function deadlineChanges(
  event: string,
  before: CaseContext | undefined,
  after: CaseContext,
): { readonly deadline: string; readonly change: DeadlineChange }[] {
  const changes: { deadline: string; change: DeadlineChange }[] = [];
  const push = (deadline: string, change: DeadlineChange) => changes.push({ deadline, change });
  for (const [deadline, now] of Object.entries(after.deadlines)) {
    const was = before?.deadlines[deadline];
    if (was && was.epoch === now.epoch && was.status === now.status) continue;
    if (!was || was.armedAt !== now.armedAt) {
      if (was && running(was.status)) push(deadline, event === 'DEADLINE' ? 'breached' : 'cancelled');
      push(deadline, 'armed');
      // Armed and closed by the same event: the closing counts too (an arming while held starts paused).
      if (!running(now.status)) push(deadline, now.status as DeadlineChange);
    } else if (was.status !== now.status) {
      if (now.status === 'armed') {
        if (was.status === 'paused') push(deadline, 'resumed');
      } else push(deadline, now.status as DeadlineChange);
    }
  }
  return changes;
}

/** The hand-off an event produced (each one has a new `seq`), if any. */
export function handoffOf(before: CaseContext | undefined, after: CaseContext): Handoff | undefined {
  const e = after.escalation;
  if (!e || e.seq === before?.escalation?.seq) return undefined;
  return { department: e.department, rung: e.level, trigger: e.trigger };
}
