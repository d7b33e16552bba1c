import { type BusinessCalendar, compileCalendar } from '../src/domain/calendar.ts';
import type { CaseContext, CasePolicy, DeadlineClock, DeadlineRule, Hold, OutageWindow } from './types.ts';

// Deadline arithmetic on the case's own clock table. Pure: time comes in as `at`.
// XState `after` is not used: delayed events are not restored from a persisted snapshot.

type Clocks = Record<string, DeadlineClock>;
export type Patch = Pick<CaseContext, 'deadlines' | 'epoch'> & { readonly holds?: readonly Hold[] };

/** How a deadline counts time: wall time, or the working time of a business calendar. */
export interface ClockTime {
  add(from: number, ms: number): number;
  measure(from: number, to: number): number;
  subtract(to: number, ms: number): number;
  /** `<calendar>@<version>` for a business clock. */
  readonly calendar?: string;
}

const WALL: ClockTime = {
  add: (from, ms) => from + ms,
  measure: (from, to) => Math.max(0, to - from),
  subtract: (to, ms) => to - ms,
};

const compiled = new WeakMap<object, ClockTime>();

/** The clock a deadline runs on; business calendars are compiled once per policy object. */
export function clockOf(policy: CasePolicy, rule: DeadlineRule | undefined): ClockTime {
  if (rule?.clock !== 'business' || !rule.calendar) return WALL;
  const spec = policy.calendars?.[rule.calendar];
  if (!spec) return WALL;
  let time = compiled.get(spec);
  if (!time) {
    const calendar: BusinessCalendar = compileCalendar(spec);
    time = {
      add: (from, ms) => calendar.add(from, ms),
      measure: (from, to) => calendar.measure(from, to),
      subtract: (to, ms) => calendar.subtract(to, ms),
      calendar: `${calendar.id}@${calendar.version}`,
    };
    compiled.set(spec, time);
  }
  return time;
}

/** Only the clock fields: a patch spread into a context must not carry stale copies of its other fields. */
const own = (ctx: Patch): Patch => ({
  deadlines: ctx.deadlines,
  epoch: ctx.epoch,
  ...(ctx.holds ? { holds: ctx.holds } : {}),
});

export const isRunning = (c: DeadlineClock | undefined) => c?.status === 'armed' || c?.status === 'paused';
export const isHeld = (ctx: Pick<CaseContext, 'holds'>) => (ctx.holds?.length ?? 0) > 0;

/** When the next unsent warning of an armed clock is due (`undefined` when none is left). */
function warningDue(policy: CasePolicy, name: string, clock: Omit<DeadlineClock, 'warnAt'>): number | undefined {
  const rule = policy.deadlines[name];
  const fractions = rule?.warnAt ?? [];
  const next = fractions[clock.warned ?? 0];
  if (!rule || next === undefined) return undefined;
  return clockOf(policy, rule).subtract(clock.dueAt, Math.round((1 - next) * rule.withinMs));
}

/** A running clock with `warnAt` set to its next warning. */
function running(policy: CasePolicy, name: string, clock: DeadlineClock): DeadlineClock {
  const { warnAt: _old, ...rest } = clock;
  if (rest.status !== 'armed') return rest;
  const warnAt = warningDue(policy, name, rest);
  return warnAt !== undefined && warnAt < rest.dueAt ? { ...rest, warnAt } : rest;
}

/**
 * Arms (or re-arms, with a new epoch) the named deadlines for their full policy duration. While the
 * case is held (6.2) a new deadline starts paused, with its whole duration left.
 */
export function arm(policy: CasePolicy, ctx: Patch, names: readonly string[], at: number): Patch {
  const deadlines: Clocks = { ...ctx.deadlines };
  let epoch = ctx.epoch;
  for (const name of names) {
    const rule = policy.deadlines[name];
    if (!rule) continue;
    epoch += 1;
    const time = clockOf(policy, rule);
    const base = { epoch, armedAt: at, since: at, ...(time.calendar ? { calendar: time.calendar } : {}) };
    deadlines[name] = isHeld(ctx)
      ? { ...base, status: 'paused', dueAt: time.add(at, rule.withinMs), remainingMs: rule.withinMs, at }
      : running(policy, name, { ...base, status: 'armed', dueAt: time.add(at, rule.withinMs) });
  }
  return { ...own(ctx), deadlines, epoch };
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
    const { remainingMs: _frozen, warnAt: _warn, ...rest } = clock;
    deadlines[name] = {
      ...rest,
      status,
      at,
      ...(status === 'breached' ? { lateMs: Math.max(0, at - clock.dueAt) } : {}),
    };
  }
  return deadlines ? { ...own(ctx), deadlines } : own(ctx);
}

export function closeAll(ctx: Patch, status: 'met' | 'cancelled', at: number): Patch {
  return close(ctx, Object.keys(ctx.deadlines), status, at);
}

/**
 * 6.2: freezes what is left of every armed deadline, in the deadline's own clock. Outage windows the
 * clock ran through (given by the engine) are not counted as time used.
 */
export function pauseAll(policy: CasePolicy, ctx: Patch, at: number, outages: readonly OutageWindow[] = []): Patch {
  const deadlines: Clocks = { ...ctx.deadlines };
  for (const [name, clock] of Object.entries(ctx.deadlines)) {
    if (clock.status !== 'armed') continue;
    const { warnAt: _warn, ...rest } = clock;
    const time = clockOf(policy, policy.deadlines[name]);
    let dueAt = clock.dueAt;
    let remainingMs: number | undefined;
    if (outages.length > 0) {
      const r = throughOutages(time, clock.since ?? clock.armedAt, clock.dueAt, outages);
      if ('dueAt' in r) dueAt = r.dueAt;
      else remainingMs = r.remainingMs;
    }
    deadlines[name] = { ...rest, status: 'paused', remainingMs: remainingMs ?? time.measure(at, dueAt), at };
  }
  return { ...own(ctx), deadlines };
}

/** Re-arms each paused deadline with exactly the time it had left, under a new epoch, from `at`. */
export function resumeAll(policy: CasePolicy, ctx: Patch, at: number): Patch {
  const deadlines: Clocks = { ...ctx.deadlines };
  let epoch = ctx.epoch;
  for (const [name, clock] of Object.entries(ctx.deadlines)) {
    if (clock.status !== 'paused') continue;
    epoch += 1;
    const { remainingMs, ...rest } = clock;
    // A clock armed (paused) after `at` — e.g. during an outage ended in the past — runs from its arming.
    const from = Math.max(at, clock.at ?? at);
    const dueAt = clockOf(policy, policy.deadlines[name]).add(from, remainingMs ?? 0);
    deadlines[name] = running(policy, name, { ...rest, status: 'armed', epoch, since: from, dueAt, at: from });
  }
  return { ...own(ctx), deadlines, epoch };
}

/** Adds a hold (6.2); the first hold pauses every armed clock. */
export function hold(policy: CasePolicy, ctx: Patch, add: Hold, outages: readonly OutageWindow[] = []): Patch {
  const holds = [...(ctx.holds ?? []), add];
  const paused = isHeld(ctx) ? own(ctx) : pauseAll(policy, ctx, add.at, outages);
  return { ...paused, holds };
}

/** Ends the holds `match` selects; when none is left, every paused clock resumes from `at`. */
export function release(policy: CasePolicy, ctx: Patch, match: (h: Hold) => boolean, at: number): Patch {
  const holds = (ctx.holds ?? []).filter((h) => !match(h));
  if (holds.length > 0) return { ...own(ctx), holds };
  // No hold left (snapshots from before holds existed have none at all): every paused clock runs again.
  return resumeAll(policy, { ...own(ctx), holds }, at);
}

/** How many of a deadline's warnings fall at or before `at` for a clock due at `dueAt` (at least `sent`). */
function warningsPast(policy: CasePolicy, name: string, dueAt: number, at: number, sent = 0): number {
  const rule = policy.deadlines[name];
  if (!rule) return sent;
  const time = clockOf(policy, rule);
  let past = sent;
  for (const [k, f] of (rule.warnAt ?? []).entries()) {
    if (k >= past && time.subtract(dueAt, Math.round((1 - f) * rule.withinMs)) <= at) past = k + 1;
  }
  return past;
}

/** Records that warning number `warned` of a clock went out, and schedules the next one. */
export function warned(policy: CasePolicy, ctx: Patch, name: string): Patch {
  const clock = ctx.deadlines[name];
  if (clock?.status !== 'armed') return own(ctx);
  return {
    ...ctx,
    deadlines: { ...ctx.deadlines, [name]: running(policy, name, { ...clock, warned: (clock.warned ?? 0) + 1 }) },
  };
}

/**
 * A due date moved (by hand, or past an outage): the clock re-arms at the new due time, under a new
 * epoch, counting from `since` (default `at`).
 */
export function moveDue(policy: CasePolicy, ctx: Patch, name: string, dueAt: number, at: number, since = at): Patch {
  const clock = ctx.deadlines[name];
  if (!clock || !isRunning(clock)) return own(ctx);
  const epoch = ctx.epoch + 1;
  const { remainingMs: _r, ...rest } = clock;
  const next: DeadlineClock =
    clock.status === 'paused'
      ? { ...rest, epoch, dueAt, remainingMs: clockOf(policy, policy.deadlines[name]).measure(at, dueAt), at }
      : running(policy, name, {
          ...rest,
          epoch,
          dueAt,
          since,
          at,
          warned: warningsPast(policy, name, dueAt, at, rest.warned),
        });
  return { ...own(ctx), deadlines: { ...ctx.deadlines, [name]: next }, epoch };
}

/**
 * 6.2, outages: a deadline's running time excludes the outage windows in its scope. Walking from when
 * the clock last started with the time it had then, this finds when it is really due, or, when an
 * open-ended window holds it, that it is paused with what was left when the window began.
 */
export function throughOutages(
  time: ClockTime,
  since: number,
  dueAt: number,
  outages: readonly OutageWindow[],
): { dueAt: number; since: number } | { heldBy: OutageWindow; remainingMs: number } {
  let cursor = since;
  let left = time.measure(since, dueAt);
  const windows = [...outages].sort((a, b) => a.start - b.start);
  for (const w of windows) {
    const end = w.end ?? Number.POSITIVE_INFINITY;
    if (end <= cursor) continue;
    const start = Math.max(w.start, cursor);
    if (time.add(cursor, left) <= start) break;
    left -= time.measure(cursor, start);
    if (w.end === undefined) return { heldBy: w, remainingMs: left };
    cursor = end;
  }
  // `since`: after the last window walked through, so a later walk never counts a window twice.
  return { dueAt: time.add(cursor, left), since: cursor };
}

/**
 * 6.2, after the fact: the breached clocks an outage window excuses — those that, with the window's
 * time excluded, were not yet due when the breach was recorded.
 */
export function excusable(policy: CasePolicy, ctx: Patch, outage: OutageWindow): Clocks {
  const excused: Clocks = {};
  for (const [name, clock] of Object.entries(ctx.deadlines)) {
    if (clock.status !== 'breached' || clock.at === undefined) continue;
    const time = clockOf(policy, policy.deadlines[name]);
    const r = throughOutages(time, clock.since ?? clock.armedAt, clock.dueAt, [outage]);
    if ('heldBy' in r || r.dueAt > clock.at) excused[name] = { ...clock, status: 'excused', excusedBy: outage.id };
  }
  return excused;
}

/**
 * A policy migration (on purpose, with a reason): each running deadline keeps the time it has already
 * run and gets the rest of the new version's duration, on the new version's clock and calendar.
 */
export function migrateClocks(
  policy: CasePolicy,
  ctx: Patch,
  elapsed: Readonly<Record<string, number>>,
  at: number,
): Patch {
  const deadlines: Clocks = { ...ctx.deadlines };
  let epoch = ctx.epoch;
  for (const [name, clock] of Object.entries(ctx.deadlines)) {
    const rule = policy.deadlines[name];
    const ran = elapsed[name];
    // A due date moved by hand past the policy duration (ran < 0) is an audited decision: it stays.
    if (!rule || ran === undefined || ran < 0 || !isRunning(clock)) continue;
    const remaining = Math.max(0, rule.withinMs - ran);
    const time = clockOf(policy, rule);
    epoch += 1;
    const { warnAt: _w, remainingMs: _r, calendar: _c, ...rest } = clock;
    // The new version's warnings already due by the time run count as sent.
    const warned = (rule.warnAt ?? []).filter((f) => f * rule.withinMs <= ran).length;
    const base = {
      ...rest,
      epoch,
      since: at,
      at,
      dueAt: time.add(at, remaining),
      warned,
      ...(time.calendar ? { calendar: time.calendar } : {}),
    };
    deadlines[name] = clock.status === 'paused' ? { ...base, remainingMs: remaining } : running(policy, name, base);
  }
  return { ...own(ctx), deadlines, epoch };
}

/** The time each running deadline has run so far, in its own clock: what a migration carries over. */
export function elapsedOf(policy: CasePolicy, ctx: Patch, at: number): Record<string, number> {
  const elapsed: Record<string, number> = {};
  for (const [name, clock] of Object.entries(ctx.deadlines)) {
    const rule = policy.deadlines[name];
    if (!rule || !isRunning(clock)) continue;
    const left = clock.status === 'paused' ? (clock.remainingMs ?? 0) : clockOf(policy, rule).measure(at, clock.dueAt);
    // Negative when a due date was moved beyond the policy duration: the migration keeps it.
    elapsed[name] = rule.withinMs - left;
  }
  return elapsed;
}

/** The running deadline due first (or its next warning): what the case's single wake-up timer waits for. */
export function nextDue(deadlines: Readonly<Record<string, DeadlineClock>>) {
  let best: { name: string; epoch: number; dueAt: number; warning?: number } | undefined;
  for (const [name, clock] of Object.entries(deadlines)) {
    if (clock.status !== 'armed') continue;
    const warning = clock.warnAt !== undefined;
    const dueAt = clock.warnAt ?? clock.dueAt;
    if (!best || dueAt < best.dueAt || (dueAt === best.dueAt && name < best.name)) {
      best = { name, epoch: clock.epoch, dueAt, ...(warning ? { warning: clock.warned ?? 0 } : {}) };
    }
  }
  return best;
}
