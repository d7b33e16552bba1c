import type { CaseContext, CasePolicy, DeadlineClock, Hold } from './types.ts';

// What happened to each deadline in one step of a case, read off its clock table before and after the
// step (status, epoch, due time, warnings). Pure: the simulator's timeline and the engine's audit both
// describe a transition with it, so neither re-derives the clock rules.

export const CLOCK_STEPS = [
  'armed',
  'warning',
  'paused',
  'resumed',
  'moved',
  'met',
  'breached',
  'excused',
  'cancelled',
] as const;
export type ClockStepKind = (typeof CLOCK_STEPS)[number];

export interface ClockStep {
  readonly deadline: string;
  readonly step: ClockStepKind;
  /** When the step happened (ms since epoch): the time of the event that caused it. */
  readonly at: number;
  /** The due time after the step, as the machine computed it (a business clock's from its calendar). */
  readonly dueAt?: number;
  /** `<calendar>@<version>` of a business clock. */
  readonly calendar?: string;
  /** Paused (or armed while the case is held): the frozen time left, in the deadline's own clock. */
  readonly remainingMs?: number;
  /** Why: the hold's reason or outage (paused, resumed), the excusing outage (excused). */
  readonly reason?: string;
  /** The clause behind the step: the deadline's own, or 6.2 for pauses, resumes and excuses. */
  readonly clause: string;
  /** The arming the step belongs to after it. */
  readonly epoch: number;
  /** Warning steps: the index of the warning fraction that went out (0 for the first). */
  readonly warning?: number;
  /** Breached: how long after its due time the breach was recorded. */
  readonly lateMs?: number;
}

export type ClockView = Pick<CaseContext, 'deadlines' | 'updatedAt'> & { readonly holds?: readonly Hold[] };

const running = (c: DeadlineClock | undefined) => c?.status === 'armed' || c?.status === 'paused';
const holdReason = (h: Hold) => (h.outage ? `outage ${h.outage}` : h.reason);
const sameHold = (a: Hold, b: Hold) => a.reason === b.reason && a.outage === b.outage && a.at === b.at;

/**
 * The steps of every deadline between two snapshots of one case (`before` undefined: the opening).
 * A clock replaced by a fresh arming in one step ended its old arming in between: breached when it
 * was already due (the ladder's climb breaches the hand-off and arms the next rung's), else cancelled
 * (a re-route cancels the hand-off and arms the new department's). That end is reported first.
 */
export function clockSteps(
  before: ClockView | undefined,
  after: ClockView,
  policy: Pick<CasePolicy, 'deadlines'>,
): ClockStep[] {
  const at = after.updatedAt;
  const added = (after.holds ?? []).filter((h) => !(before?.holds ?? []).some((b) => sameHold(b, h)));
  const released = (before?.holds ?? []).filter((h) => !(after.holds ?? []).some((a) => sameHold(a, h)));
  const holding = added[0] ?? after.holds?.[0];
  const steps: ClockStep[] = [];
  for (const [deadline, now] of Object.entries(after.deadlines)) {
    const was = before?.deadlines[deadline];
    const clause = policy.deadlines[deadline]?.clause ?? '3.1.3';
    const base = { deadline, at, clause, epoch: now.epoch, ...(now.calendar ? { calendar: now.calendar } : {}) };
    const due = { dueAt: now.dueAt };
    const frozen = now.remainingMs === undefined ? {} : { remainingMs: now.remainingMs };
    const push = (step: ClockStepKind, extra: Partial<ClockStep> = {}) => steps.push({ ...base, step, ...extra });
    // A paused clock has no due time, only what it has left.
    const paused = () =>
      push('paused', { ...frozen, clause: '6.2', ...(holding ? { reason: holdReason(holding) } : {}) });

    // Armed while the case is held, a clock starts paused, with its whole duration left.
    const armed = () =>
      push('armed', now.status === 'paused' ? { ...frozen, ...(holding ? { reason: holdReason(holding) } : {}) } : due);
    if (!running(was) && running(now)) {
      armed();
      continue;
    }
    if (!was || !running(was)) {
      if (was?.status === 'breached' && now.status === 'excused') {
        push('excused', { ...due, clause: '6.2', ...(now.excusedBy ? { reason: `outage ${now.excusedBy}` } : {}) });
      }
      continue;
    }
    // `was` is running from here on.
    if (!running(now)) {
      const late = now.status === 'breached' ? { lateMs: now.lateMs ?? Math.max(0, at - was.dueAt) } : {};
      if (now.status === 'met' || now.status === 'breached' || now.status === 'cancelled') {
        push(now.status, { dueAt: was.dueAt, ...late });
      }
      continue;
    }
    if (now.epoch === was.epoch) {
      const sent = (now.warned ?? 0) - (was.warned ?? 0);
      for (let i = 0; i < sent; i++) push('warning', { ...due, warning: (was.warned ?? 0) + i });
      if (was.status === 'armed' && now.status === 'paused') paused();
      continue;
    }
    // A new epoch on a running clock: resumed, moved, or replaced by a fresh arming.
    if (now.armedAt !== was.armedAt) {
      const old = { ...base, epoch: was.epoch, dueAt: was.dueAt };
      if (was.status === 'armed' && was.dueAt <= now.armedAt) {
        steps.push({ ...old, step: 'breached', lateMs: now.armedAt - was.dueAt });
      } else {
        steps.push({ ...old, step: 'cancelled' });
      }
      armed();
    } else if (was.status === 'paused' && now.status === 'armed') {
      push('resumed', { ...due, clause: '6.2', ...(released[0] ? { reason: holdReason(released[0]) } : {}) });
    } else if (was.status === 'armed' && now.status === 'paused') {
      paused();
    } else {
      push('moved', { ...due, ...frozen });
    }
  }
  return steps;
}
