import type { CaseContext, CasePolicy, DeadlineClock } from './types.ts';

// Deadline arithmetic on the case's own clock table. Pure: time comes in as `at`.
// XState `after` is not used: delayed events are not restored from a persisted snapshot.

type Clocks = Record<string, DeadlineClock>;
type Patch = Pick<CaseContext, 'deadlines' | 'epoch'>;

const isRunning = (c: DeadlineClock | undefined) => c?.status === 'armed' || c?.status === 'paused';

/** Arms (or re-arms, with a new epoch) the named deadlines for their full policy duration. */
export function arm(policy: CasePolicy, ctx: Patch, names: readonly string[], at: number): Patch {
  const deadlines: Clocks = { ...ctx.deadlines };
  let epoch = ctx.epoch;
  for (const name of names) {
    const rule = policy.deadlines[name];
    if (!rule) continue;
    epoch += 1;
    deadlines[name] = { status: 'armed', epoch, armedAt: at, dueAt: at + rule.withinMs };
  }
  return { deadlines, epoch };
}

/** Closes running deadlines with a final status (met, cancelled, breached). */
export function close(
  ctx: Patch,
  names: readonly string[],
  status: 'met' | 'cancelled' | 'breached',
  at: number,
): Patch {
  let deadlines: Clocks | undefined;
  for (const name of names) {
    const clock = ctx.deadlines[name];
    if (!clock || !isRunning(clock)) continue;
    deadlines ??= { ...ctx.deadlines };
    const { remainingMs: _frozen, ...rest } = clock;
    deadlines[name] = { ...rest, status, at };
  }
  return deadlines ? { deadlines, epoch: ctx.epoch } : ctx;
}

export function closeAll(ctx: Patch, status: 'met' | 'cancelled', at: number): Patch {
  return close(ctx, Object.keys(ctx.deadlines), status, at);
}

/** 6.2: waiting on the customer freezes what is left of every armed deadline. */
export function pauseAll(ctx: Patch, at: number): Patch {
  const deadlines: Clocks = { ...ctx.deadlines };
  for (const [name, clock] of Object.entries(ctx.deadlines)) {
    if (clock.status !== 'armed') continue;
    deadlines[name] = { ...clock, status: 'paused', remainingMs: Math.max(0, clock.dueAt - at), at };
  }
  return { deadlines, epoch: ctx.epoch };
}

/** Resuming re-arms each paused deadline with exactly the time it had left, under a new epoch. */
export function resumeAll(ctx: Patch, at: number): Patch {
  const deadlines: Clocks = { ...ctx.deadlines };
  let epoch = ctx.epoch;
  for (const [name, clock] of Object.entries(ctx.deadlines)) {
    if (clock.status !== 'paused') continue;
    epoch += 1;
    const remaining = clock.remainingMs ?? 0;
    deadlines[name] = { status: 'armed', epoch, armedAt: clock.armedAt, dueAt: at + remaining, at };
  }
  return { deadlines, epoch };
}

/** The armed deadline due first: the one a case's single wake-up timer waits for. */
export function nextDue(deadlines: Readonly<Record<string, DeadlineClock>>) {
  let best: { name: string; epoch: number; dueAt: number } | undefined;
  for (const [name, clock] of Object.entries(deadlines)) {
    if (clock.status !== 'armed') continue;
    if (!best || clock.dueAt < best.dueAt || (clock.dueAt === best.dueAt && name < best.name)) {
      best = { name, epoch: clock.epoch, dueAt: clock.dueAt };
    }
  }
  return best;
}
