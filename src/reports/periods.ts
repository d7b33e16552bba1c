import { wallClockIn } from '../domain/calendar.ts';

// Days and report periods in a contract's time zone (the policy's `timezone`). A day is written
// `YYYY-MM-DD`; day arithmetic is done on the calendar (UTC dates), instants only where a day begins.

export type PeriodKind = 'daily' | 'weekly' | 'monthly';
export const PERIOD_KINDS: readonly PeriodKind[] = ['daily', 'weekly', 'monthly'];

export interface DayRange {
  readonly from: string;
  readonly to: string;
}

const DAY_MS = 86_400_000;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
/** The wall-clock fields of an instant in a time zone (one zone arithmetic for the project: calendar.ts). */
const wallClock = wallClockIn;

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function formatDay(ms: number, timeZone: string): string {
  const w = wallClock(ms, timeZone);
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`;
}

/** The last day looked up per time zone with its bounds: events of one process mostly fall on one day. */
const lastDay = new Map<string, { readonly day: string; readonly start: number; readonly end: number }>();

/** The local day (`YYYY-MM-DD`) of an instant in a time zone. */
export function localDay(ms: number, timeZone: string): string {
  const cached = lastDay.get(timeZone);
  if (cached && ms >= cached.start && ms < cached.end) return cached.day;
  const day = formatDay(ms, timeZone);
  lastDay.set(timeZone, { day, start: dayStart(day, timeZone), end: dayStart(addDays(day, 1), timeZone) });
  return day;
}

/** Whether the text is a real calendar day written `YYYY-MM-DD`. */
export function isDay(text: string): boolean {
  const m = DAY.exec(text);
  if (!m) return false;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return date.toISOString().slice(0, 10) === text;
}

const utcOf = (day: string) => Date.parse(`${day}T00:00:00Z`);
const dayOf = (utcMs: number) => new Date(utcMs).toISOString().slice(0, 10);

export function addDays(day: string, n: number): string {
  return dayOf(utcOf(day) + n * DAY_MS);
}

/** Days from `from` to `to`, both included (1 for a single day). */
export function dayCount(range: DayRange): number {
  return Math.round((utcOf(range.to) - utcOf(range.from)) / DAY_MS) + 1;
}

export function eachDay(range: DayRange): string[] {
  const days: string[] = [];
  for (let d = range.from; d <= range.to; d = addDays(d, 1)) days.push(d);
  return days;
}

/** 0 = Sunday … 6 = Saturday. */
export function weekday(day: string): number {
  return new Date(utcOf(day)).getUTCDay();
}

/** The instant a local day begins (its first existing minute where a clock change skips midnight). */
export function dayStart(day: string, timeZone: string): number {
  const target = utcOf(day);
  let t = target;
  for (let i = 0; i < 3; i++) {
    const w = wallClock(t, timeZone);
    const wallAsUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
    t += target - wallAsUtc;
  }
  // A midnight that does not exist (a clock change at 00:00) lands an hour early or late: step to the day.
  while (formatDay(t, timeZone) < day) t += 15 * 60_000;
  while (formatDay(t - 1, timeZone) === day) t -= 15 * 60_000;
  return t;
}

/** The last complete period of a kind before the local day of `at` (what a scheduled run reports on). */
export function previousPeriod(
  kind: PeriodKind,
  at: number,
  timeZone: string,
  weekStart: 'monday' | 'sunday' = 'monday',
): DayRange {
  const today = localDay(at, timeZone);
  if (kind === 'daily') {
    const yesterday = addDays(today, -1);
    return { from: yesterday, to: yesterday };
  }
  if (kind === 'weekly') {
    const first = weekStart === 'monday' ? 1 : 0;
    const thisWeek = addDays(today, -((weekday(today) - first + 7) % 7));
    return { from: addDays(thisWeek, -7), to: addDays(thisWeek, -1) };
  }
  const thisMonth = `${today.slice(0, 8)}01`;
  const lastMonthEnd = addDays(thisMonth, -1);
  return { from: `${lastMonthEnd.slice(0, 8)}01`, to: lastMonthEnd };
}

/** Whether the range is exactly one calendar month. */
export function isCalendarMonth(range: DayRange): boolean {
  return (
    range.from.endsWith('-01') &&
    addDays(range.to, 1).endsWith('-01') &&
    range.from.slice(0, 7) === range.to.slice(0, 7)
  );
}

/** The period a report compares with: the previous calendar month for a month, else as many days just before. */
export function precedingRange(range: DayRange): DayRange {
  if (isCalendarMonth(range)) {
    const end = addDays(range.from, -1);
    return { from: `${end.slice(0, 8)}01`, to: end };
  }
  const n = dayCount(range);
  return { from: addDays(range.from, -n), to: addDays(range.from, -1) };
}

/** What kind of period a range is, as a reader would name it. */
export function periodKindOf(range: DayRange, weekStart: 'monday' | 'sunday' = 'monday'): PeriodKind | 'custom' {
  const n = dayCount(range);
  if (n === 1) return 'daily';
  if (n === 7 && weekday(range.from) === (weekStart === 'monday' ? 1 : 0)) return 'weekly';
  if (isCalendarMonth(range)) return 'monthly';
  return 'custom';
}
