import './zod-messages.ts';
import { z } from 'zod';
import { fieldErrors, ValidationError } from './errors.ts';

// Business time (issue 4): the working windows of a calendar, its holidays and make-up workdays, all
// in the calendar's own time zone. Pure: instants are inputs, offsets come from Intl's time-zone data,
// never from the host's clock or zone. Exact to the millisecond.

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** A working window 'HH:MM-HH:MM' (24h, start < end, same day; '24:00' allowed as an end). */
export interface CalendarSpec {
  readonly id: string;
  readonly version: number;
  readonly timezone: string;
  readonly week: Readonly<Partial<Record<Weekday, readonly string[]>>>;
  readonly holidays?: readonly string[];
  readonly makeUpDays?: readonly string[];
  readonly makeUpWindows?: readonly string[];
}

/** A calendar as written in the policy YAML: the `id` is its key under `calendars:`. */
export type CalendarDocument = Omit<CalendarSpec, 'id'>;

export interface BusinessCalendar {
  readonly id: string;
  readonly version: number;
  readonly timezone: string;
  /** The instant (ms since epoch) at which `ms` of working time has elapsed after `from`. ms >= 0.
   *  If `from` is outside working time the count starts at the next window's start. add(from, 0) === from. */
  add(from: number, ms: number): number;
  /** The working time (ms) between two instants (0 if to <= from). */
  measure(from: number, to: number): number;
  /** The latest instant t <= to such that measure(t, to) === ms (walks back in working time; used for warnings). */
  subtract(to: number, ms: number): number;
  isWorking(at: number): boolean;
  /** The next instant >= at that is working time (at itself when it is). */
  nextWorking(at: number): number;
}

const DAY = 86_400_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;
/** add, subtract and nextWorking give up after this many days in a row without working time. */
export const SEARCH_LIMIT_DAYS = 3660;
/** Widest instant accepted: Date's range, less the days the zone lookups probe around it. */
const MAX_INSTANT = 8.64e15 - 4 * DAY;

// ---------------------------------------------------------------------------------------------
// Text forms: windows 'HH:MM-HH:MM' (minutes after local midnight) and dates 'YYYY-MM-DD' (day numbers).

interface Window {
  readonly start: number;
  readonly end: number;
}

const WINDOW = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A window's minutes after local midnight; `end` may be 1440 ('24:00'). `undefined` if the text is not one. */
function parseWindow(text: string): Window | undefined {
  const match = WINDOW.exec(text);
  if (!match) return undefined;
  const [h1, m1, h2, m2] = match.slice(1).map(Number) as [number, number, number, number];
  if (h1 > 23 || m1 > 59 || m2 > 59 || h2 > 24 || (h2 === 24 && m2 !== 0)) return undefined;
  return { start: h1 * 60 + m1, end: h2 * 60 + m2 };
}

/** Days since 1970-01-01 of a 'YYYY-MM-DD' date that exists, else `undefined`. */
function dayNumber(text: string): number | undefined {
  const match = DATE.exec(text);
  if (!match) return undefined;
  const [y, m, d] = match.slice(1).map(Number) as [number, number, number];
  const date = new Date(Date.UTC(2000, m - 1, d));
  date.setUTCFullYear(y);
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return undefined;
  return date.getTime() / DAY;
}

// ---------------------------------------------------------------------------------------------
// The policy schema of a calendar.

const windowText = z
  .string()
  .refine(
    (text) => parseWindow(text) !== undefined,
    'not a working window: write HH:MM-HH:MM in 24-hour time, such as 09:00-12:00 (24:00 may end a day)',
  )
  .refine((text) => {
    const window = parseWindow(text);
    return window === undefined || window.start < window.end;
  }, 'must start before it ends, within one day (a night shift is two windows: 22:00-24:00 and 00:00-06:00)');

const windows = z.array(windowText).superRefine((list, ctx) => {
  const parsed = list
    .map((text, index) => ({ text, index, window: parseWindow(text) }))
    .filter((w): w is { text: string; index: number; window: Window } => w.window !== undefined)
    .filter((w) => w.window.start < w.window.end)
    .sort((a, b) => a.window.start - b.window.start);
  let latest = parsed[0];
  for (const w of parsed.slice(1)) {
    if (latest === undefined) break;
    if (w.window.start < latest.window.end) {
      ctx.addIssue({
        code: 'custom',
        path: [w.index],
        message: `overlaps ${latest.text}: the windows of one day must not overlap`,
      });
    }
    if (w.window.end > latest.window.end) latest = w;
  }
});

const date = z
  .string()
  .refine((text) => dayNumber(text) !== undefined, 'not a date written YYYY-MM-DD, such as 2026-10-01');

/** An IANA time zone (the policy's and each calendar's). */
export const timezoneSchema = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'not an IANA time zone such as Asia/Shanghai');

const unknownKeys =
  (what: string, known: readonly string[]) =>
  (issue: { code?: string | undefined; keys?: readonly string[] }): string | undefined =>
    issue.code === 'unrecognized_keys'
      ? `unknown ${what} ${(issue.keys ?? []).map((k) => `"${k}"`).join(', ')}: use ${known.join(', ')}`
      : undefined;

const week = z.strictObject(
  {
    mon: windows.exactOptional(),
    tue: windows.exactOptional(),
    wed: windows.exactOptional(),
    thu: windows.exactOptional(),
    fri: windows.exactOptional(),
    sat: windows.exactOptional(),
    sun: windows.exactOptional(),
  },
  { error: unknownKeys('weekday', WEEKDAYS) },
);

const CALENDAR_FIELDS = ['version', 'timezone', 'week', 'holidays', 'makeUpDays', 'makeUpWindows'];

/** A calendar in the policy YAML (everything but `id`, which is its key under `calendars:`). */
export const calendarSchema: z.ZodType<CalendarDocument> = z
  .strictObject(
    {
      version: z.number().int('an integer').positive('a positive integer'),
      timezone: timezoneSchema,
      week,
      holidays: z.array(date).exactOptional(),
      makeUpDays: z.array(date).exactOptional(),
      makeUpWindows: windows.exactOptional(),
    },
    { error: unknownKeys('field', CALENDAR_FIELDS) },
  )
  .superRefine((calendar, ctx) => {
    const holidays = new Set(calendar.holidays ?? []);
    for (const [i, day] of (calendar.makeUpDays ?? []).entries()) {
      if (holidays.has(day)) {
        ctx.addIssue({
          code: 'custom',
          path: ['makeUpDays', i],
          message: `${day} is also a holiday: a date is either a holiday or a make-up day`,
        });
      }
    }
    const makeUpDays = calendar.makeUpDays ?? [];
    if (WEEKDAYS.every((d) => (calendar.week[d] ?? []).length === 0) && makeUpDays.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['week'],
        message: 'no working window on any weekday and no make-up days: the calendar would never work',
      });
    }
    if (makeUpDays.length > 0 && (calendar.makeUpWindows ?? calendar.week.mon ?? []).length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['makeUpWindows'],
        message: 'make-up days need working windows: give makeUpWindows, or Monday windows (the default)',
      });
    }
  });

// ---------------------------------------------------------------------------------------------
// Time-zone arithmetic with Intl only. A "wall" number is a local date and time counted like an
// instant (ms since local 1970-01-01T00:00), so wall(day, 24:00) === wall(day + 1, 00:00).

class Zone {
  private static readonly zones = new Map<string, Zone>();
  private readonly format: Intl.DateTimeFormat;
  /** Offset at the UTC midnight of day k, the probes of the constant-offset fast path. */
  private readonly midnightOffsets = new Map<number, number>();
  /** Offsets of whole UTC hours without a transition; NaN marks an hour with one. */
  private readonly hourOffsets = new Map<number, number>();

  static of(timezone: string): Zone {
    let zone = Zone.zones.get(timezone);
    if (zone === undefined) {
      zone = new Zone(timezone);
      Zone.zones.set(timezone, zone);
    }
    return zone;
  }

  private constructor(readonly timezone: string) {
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /**
   * The zone's offset from UTC (ms) at an instant. An hour whose first and last second have the same
   * offset holds no transition (two transitions are taken to be over an hour apart, as `instant` takes
   * them to be a day apart) and is remembered; an hour with a transition is read from Intl each time.
   */
  offset(at: number): number {
    const hour = Math.floor(at / HOUR);
    let o = this.hourOffsets.get(hour);
    if (o === undefined) {
      if (this.hourOffsets.size > 100_000) this.hourOffsets.clear();
      const first = this.read(hour * HOUR);
      o = first === this.read(hour * HOUR + HOUR - 1000) ? first : Number.NaN;
      this.hourOffsets.set(hour, o);
    }
    return Number.isNaN(o) ? this.read(at) : o;
  }

  /** The offset at an instant as Intl reports it (wall time to the second). */
  private read(at: number): number {
    const second = Math.floor(at / 1000) * 1000;
    const f = { year: 0, month: 1, day: 1, hour: 0, minute: 0, second: 0 };
    let bc = false;
    for (const part of this.format.formatToParts(second)) {
      if (part.type === 'era') bc = part.value.startsWith('B');
      else if (part.type in f) f[part.type as keyof typeof f] = Number(part.value);
    }
    const wall = new Date(Date.UTC(2000, f.month - 1, f.day, f.hour, f.minute, f.second));
    wall.setUTCFullYear(bc ? 1 - f.year : f.year);
    return wall.getTime() - second;
  }

  /** The local day (days since 1970-01-01) of an instant. */
  day(at: number): number {
    return Math.floor((at + this.offset(at)) / DAY);
  }

  /** The instant of a wall time. A repeated wall time (autumn) is its earlier instant; a skipped one
   *  (spring) is the first instant after the gap, the moment the clocks jump. */
  instant(wall: number): number {
    const k = Math.floor(wall / DAY);
    const o = this.midnightOffset(k);
    // No offset change from a day before to a day after this wall date: the offset is o throughout.
    // (Like every tz library without the raw rules, this assumes two transitions are over a day apart.)
    if (this.midnightOffset(k - 1) === o && this.midnightOffset(k + 1) === o && this.midnightOffset(k + 2) === o) {
      return wall - o;
    }
    return this.resolve(wall);
  }

  private resolve(wall: number): number {
    const earlier = this.offset(wall - DAY);
    const later = this.offset(wall + DAY);
    const valid = [wall - earlier, wall - later].filter((t) => t + this.offset(t) === wall);
    if (valid.length > 0) return Math.min(...valid);
    // In a gap: the first instant whose wall time is at or past `wall` is the jump itself.
    let lo = Math.min(wall - earlier, wall - later);
    let hi = Math.max(wall - earlier, wall - later);
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (mid + this.offset(mid) >= wall) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  private midnightOffset(k: number): number {
    let o = this.midnightOffsets.get(k);
    if (o === undefined) {
      if (this.midnightOffsets.size > 100_000) this.midnightOffsets.clear();
      o = this.offset(k * DAY);
      this.midnightOffsets.set(k, o);
    }
    return o;
  }
}

/** The wall-clock reading of an instant in a time zone, to the second (the zone's offset as Intl gives it). */
export function wallClockIn(
  ms: number,
  timezone: string,
): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const second = Math.floor(ms / 1000) * 1000;
  const local = new Date(second + Zone.of(timezone).offset(second));
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    hour: local.getUTCHours(),
    minute: local.getUTCMinutes(),
    second: local.getUTCSeconds(),
  };
}

/** Formats an instant as ISO-8601 with the zone's offset, to the second: '2026-10-09T17:30:00+08:00'. */
export function isoInZone(ms: number, timezone: string): string {
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_INSTANT) {
    throw new RangeError(`isoInZone: ${ms} is not an instant (milliseconds since 1970-01-01T00:00Z)`);
  }
  const second = Math.floor(ms / 1000) * 1000;
  const offset = Zone.of(timezone).offset(second);
  const local = new Date(second + offset).toISOString().slice(0, -5);
  const abs = Math.abs(offset) / 1000;
  const hh = String(Math.floor(abs / 3600)).padStart(2, '0');
  const mm = String(Math.floor(abs / 60) % 60).padStart(2, '0');
  // Only local mean time before ~1900 has offsets with seconds; ISO-8601 writes them ±hh:mm:ss.
  const ss = abs % 60 === 0 ? '' : `:${String(abs % 60).padStart(2, '0')}`;
  return `${local}${offset < 0 ? '-' : '+'}${hh}:${mm}${ss}`;
}

// ---------------------------------------------------------------------------------------------
// The compiled calendar: each local day becomes its working intervals [start, end) as instants,
// in order and disjoint, so every walk goes day by day, never minute by minute.

type Interval = readonly [start: number, end: number];
const CLOSED: readonly Interval[] = [];
const CACHED_DAYS = 20_000;

/** Validates a calendar (the same rules as `calendarSchema`) and compiles it; throws ValidationError. */
export function compileCalendar(spec: CalendarSpec): BusinessCalendar {
  const { id, ...document } = spec;
  const where = `calendars.${id}`;
  if (typeof id !== 'string' || id === '') {
    throw new ValidationError('a calendar needs an id', [{ path: 'calendars.id', message: 'must not be empty' }]);
  }
  const result = calendarSchema.safeParse(document);
  if (!result.success) {
    const errors = fieldErrors(result.error.issues, where);
    throw new ValidationError(`calendar "${id}": ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
  }
  return Object.freeze(new CompiledCalendar(id, result.data));
}

const toWindows = (list: readonly string[] | undefined): readonly Window[] =>
  (list ?? []).map((text) => parseWindow(text) as Window).sort((a, b) => a.start - b.start);
const toDays = (list: readonly string[] | undefined): ReadonlySet<number> =>
  new Set((list ?? []).map((text) => dayNumber(text) as number));

class CompiledCalendar implements BusinessCalendar {
  readonly version: number;
  readonly timezone: string;
  private readonly zone: Zone;
  private readonly week: readonly (readonly Window[])[];
  private readonly holidays: ReadonlySet<number>;
  private readonly makeUpDays: ReadonlySet<number>;
  private readonly makeUpWindows: readonly Window[];
  private readonly days = new Map<number, readonly Interval[]>();

  constructor(
    readonly id: string,
    doc: CalendarDocument,
  ) {
    this.version = doc.version;
    this.timezone = doc.timezone;
    this.zone = Zone.of(doc.timezone);
    this.week = WEEKDAYS.map((d) => toWindows(doc.week[d]));
    this.holidays = toDays(doc.holidays);
    this.makeUpDays = toDays(doc.makeUpDays);
    this.makeUpWindows = toWindows(doc.makeUpWindows ?? doc.week.mon);
  }

  add(from: number, ms: number): number {
    this.checkInstant('from', from);
    this.checkDuration(ms);
    if (ms === 0) return from;
    let left = ms;
    return this.walkForward(from, 'add', ([start, end]) => {
      const begin = Math.max(start, from);
      if (left <= end - begin) return begin + left;
      left -= end - begin;
      return undefined;
    });
  }

  measure(from: number, to: number): number {
    this.checkInstant('from', from);
    this.checkInstant('to', to);
    if (to <= from) return 0;
    let total = 0;
    for (let day = this.zone.day(from) - 1, last = this.zone.day(to) + 1; day <= last; day++) {
      for (const [start, end] of this.intervals(day)) total += Math.max(0, Math.min(end, to) - Math.max(start, from));
    }
    return total;
  }

  subtract(to: number, ms: number): number {
    this.checkInstant('to', to);
    this.checkDuration(ms);
    if (ms === 0) return to;
    let left = ms;
    return this.walkBackward(to, ([start, end]) => {
      const finish = Math.min(end, to);
      if (left <= finish - start) return finish - left;
      left -= finish - start;
      return undefined;
    });
  }

  isWorking(at: number): boolean {
    this.checkInstant('at', at);
    const day = this.zone.day(at);
    for (let d = day - 1; d <= day + 1; d++) {
      if (this.intervals(d).some(([start, end]) => start <= at && at < end)) return true;
    }
    return false;
  }

  nextWorking(at: number): number {
    this.checkInstant('at', at);
    return this.walkForward(at, 'nextWorking', ([start]) => Math.max(start, at));
  }

  /** Visits the intervals that end after `from`, in order, until `visit` answers. */
  private walkForward(from: number, what: string, visit: (interval: Interval) => number | undefined): number {
    let idle = 0;
    let last = from;
    for (let day = this.zone.day(from) - 1; idle <= SEARCH_LIMIT_DAYS; day++) {
      const intervals = this.intervals(day).filter(([, end]) => end > from);
      idle = intervals.length === 0 ? idle + 1 : 0;
      for (const interval of intervals) {
        const found = visit(interval);
        if (found !== undefined) return found;
        last = interval[1];
      }
    }
    throw this.exhausted(`${what} found no working time in ${SEARCH_LIMIT_DAYS} days after`, last);
  }

  /** Visits the intervals that start before `to`, latest first, until `visit` answers. */
  private walkBackward(to: number, visit: (interval: Interval) => number | undefined): number {
    let idle = 0;
    let last = to;
    for (let day = this.zone.day(to) + 1; idle <= SEARCH_LIMIT_DAYS; day--) {
      const intervals = this.intervals(day).filter(([start]) => start < to);
      idle = intervals.length === 0 ? idle + 1 : 0;
      for (const interval of intervals.reverse()) {
        const found = visit(interval);
        if (found !== undefined) return found;
        last = interval[0];
      }
    }
    throw this.exhausted(`subtract found no working time in ${SEARCH_LIMIT_DAYS} days before`, last);
  }

  private exhausted(what: string, at: number): Error {
    return new Error(`calendar "${this.id}" v${this.version}: ${what} ${isoInZone(at, this.timezone)}`);
  }

  /** The working intervals of a local day; a window's ends in a DST change resolve as `Zone.instant` says. */
  private intervals(day: number): readonly Interval[] {
    let intervals = this.days.get(day);
    if (intervals === undefined) {
      if (this.days.size >= CACHED_DAYS) this.days.clear();
      const midnight = day * DAY;
      intervals = this.windowsOf(day)
        .map(
          ({ start, end }): Interval => [
            this.zone.instant(midnight + start * MINUTE),
            this.zone.instant(midnight + end * MINUTE),
          ],
        )
        .filter(([start, end]) => start < end);
      this.days.set(day, intervals.length === 0 ? CLOSED : intervals);
    }
    return intervals;
  }

  private windowsOf(day: number): readonly Window[] {
    if (this.holidays.has(day)) return [];
    if (this.makeUpDays.has(day)) return this.makeUpWindows;
    // Day 0 (1970-01-01) was a Thursday: index 3 of WEEKDAYS.
    return this.week[(((day + 3) % 7) + 7) % 7] ?? [];
  }

  private checkInstant(name: string, value: number): void {
    if (!Number.isSafeInteger(value) || Math.abs(value) > MAX_INSTANT) {
      throw new RangeError(
        `calendar "${this.id}": ${name} must be an integer of milliseconds since 1970-01-01T00:00Z, got ${value}`,
      );
    }
  }

  private checkDuration(ms: number): void {
    if (!Number.isSafeInteger(ms) || ms < 0) {
      throw new RangeError(`calendar "${this.id}": ms must be a non-negative integer of milliseconds, got ${ms}`);
    }
  }
}
