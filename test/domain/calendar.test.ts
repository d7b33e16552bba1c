import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  type BusinessCalendar,
  type CalendarSpec,
  calendarSchema,
  compileCalendar,
  isoInZone,
  SEARCH_LIMIT_DAYS,
  WEEKDAYS,
  wallClockIn,
} from '../../src/domain/calendar.ts';
import { parseDuration } from '../../src/domain/duration.ts';
import { ValidationError } from '../../src/domain/errors.ts';

const at = (iso: string) => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad test instant ${iso}`);
  return ms;
};
const dur = (iso: string) => parseDuration(iso) as number;
const H = 3_600_000;

/** Customer-service hours in Shanghai: a lunch break, a Friday holiday, a make-up Saturday, New Year. */
const cs = compileCalendar({
  id: 'cs_hours',
  version: 3,
  timezone: 'Asia/Shanghai',
  week: {
    mon: ['09:00-12:00', '13:30-18:00'],
    tue: ['09:00-12:00', '13:30-18:00'],
    wed: ['09:00-12:00', '13:30-18:00'],
    thu: ['09:00-12:00', '13:30-18:00'],
    fri: ['09:00-12:00', '13:30-18:00'],
  },
  holidays: ['2026-10-09', '2027-01-01'],
  makeUpDays: ['2026-09-26'],
});
const inCs = (ms: number) => isoInZone(ms, 'Asia/Shanghai');

const officeHours = (timezone: string, extra: Partial<CalendarSpec> = {}): BusinessCalendar =>
  compileCalendar({
    id: 'office',
    version: 1,
    timezone,
    week: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri'].map((d) => [d, ['09:00-17:00']])),
    ...extra,
  });

describe('business time in Asia/Shanghai (a working week with a lunch break)', () => {
  it('carries the compiled id, version and zone', () => {
    expect([cs.id, cs.version, cs.timezone]).toEqual(['cs_hours', 3, 'Asia/Shanghai']);
  });

  it('skips a holiday on a Friday and the weekend, into Monday', () => {
    // Thu 16:00-18:00 gives 2 h; Fri 10-09 is a holiday; Mon 09:00 + 2 h.
    expect(inCs(cs.add(at('2026-10-08T16:00:00+08:00'), dur('PT4H')))).toBe('2026-10-12T11:00:00+08:00');
  });

  it('works a make-up Saturday with the Monday windows by default', () => {
    // Fri 17:00-18:00 gives 1 h; Sat 09-26 works 09:00-12:00: 2 h more ends at 11:00.
    expect(inCs(cs.add(at('2026-09-25T17:00:00+08:00'), dur('PT3H')))).toBe('2026-09-26T11:00:00+08:00');
    expect(cs.isWorking(at('2026-09-26T10:00:00+08:00'))).toBe(true);
    expect(cs.isWorking(at('2026-10-03T10:00:00+08:00'))).toBe(false);
  });

  it('works a make-up day with its own makeUpWindows when given', () => {
    const short = compileCalendar({
      id: 'short',
      version: 1,
      timezone: 'Asia/Shanghai',
      week: { mon: ['09:00-12:00', '13:30-18:00'], fri: ['09:00-12:00', '13:30-18:00'] },
      makeUpDays: ['2026-09-26'],
      makeUpWindows: ['10:00-16:00'],
    });
    expect(inCs(short.add(at('2026-09-25T17:00:00+08:00'), dur('PT3H')))).toBe('2026-09-26T12:00:00+08:00');
  });

  it('works a make-up day that is a weekday with the make-up windows instead of its own', () => {
    const cal = officeHours('Asia/Shanghai', { makeUpDays: ['2026-10-14'], makeUpWindows: ['13:00-15:00'] });
    expect(cal.measure(at('2026-10-14T00:00:00+08:00'), at('2026-10-15T00:00:00+08:00'))).toBe(2 * H);
    expect(cal.isWorking(at('2026-10-14T10:00:00+08:00'))).toBe(false);
  });

  it('does not count the lunch break', () => {
    expect(inCs(cs.add(at('2026-10-12T11:00:00+08:00'), dur('PT2H')))).toBe('2026-10-12T14:30:00+08:00');
    // Working time that runs out exactly at a window's end ends there, not at the next start.
    expect(inCs(cs.add(at('2026-10-12T11:00:00+08:00'), dur('PT1H')))).toBe('2026-10-12T12:00:00+08:00');
  });

  it.each([
    ['before opening', '2026-10-12T07:15:00+08:00', 'PT30M', '2026-10-12T09:30:00+08:00'],
    ['during lunch', '2026-10-12T12:40:00+08:00', 'PT1H', '2026-10-12T14:30:00+08:00'],
    ['after closing', '2026-10-12T19:00:00+08:00', 'PT1H', '2026-10-13T10:00:00+08:00'],
    ['on a weekend', '2026-10-17T10:00:00+08:00', 'PT1H', '2026-10-19T10:00:00+08:00'],
    ['on a holiday', '2026-10-09T10:00:00+08:00', 'PT7H30M', '2026-10-12T18:00:00+08:00'],
  ])('starts counting at the next window when started %s', (_when, from, within, due) => {
    expect(inCs(cs.add(at(from), dur(within)))).toBe(due);
  });

  it('add(from, 0) is from, even outside working time', () => {
    expect(cs.add(at('2026-10-17T10:00:00.123+08:00'), 0)).toBe(at('2026-10-17T10:00:00.123+08:00'));
  });

  it('is exact to the millisecond', () => {
    expect(cs.add(at('2026-10-12T11:59:59.999+08:00'), 2)).toBe(at('2026-10-12T13:30:00.001+08:00'));
    expect(cs.measure(at('2026-10-12T11:59:59.999+08:00'), at('2026-10-12T13:30:00.001+08:00'))).toBe(2);
  });

  it('crosses the year end over the New Year holiday', () => {
    // Thu 12-31 17:00-18:00 gives 1 h; Fri 2027-01-01 is a holiday; Mon 01-04 09:00 + 1 h.
    expect(inCs(cs.add(at('2026-12-31T17:00:00+08:00'), dur('PT2H')))).toBe('2027-01-04T10:00:00+08:00');
    expect(cs.measure(at('2026-12-31T00:00:00+08:00'), at('2027-01-05T00:00:00+08:00'))).toBe(15 * H);
  });

  it.each([
    ['inside one window', '2026-10-12T09:30:00+08:00', '2026-10-12T11:00:00+08:00', 1.5 * H],
    ['from before opening into lunch', '2026-10-12T08:00:00+08:00', '2026-10-12T12:30:00+08:00', 3 * H],
    ['across lunch', '2026-10-12T10:00:00+08:00', '2026-10-12T14:00:00+08:00', 2.5 * H],
    ['inside lunch only', '2026-10-12T12:15:00+08:00', '2026-10-12T13:00:00+08:00', 0],
    ['over a weekend', '2026-10-16T17:00:00+08:00', '2026-10-19T10:00:00+08:00', 2 * H],
    ['over a holiday Friday', '2026-10-08T16:00:00+08:00', '2026-10-12T11:00:00+08:00', 4 * H],
    ['from a weekend to after closing', '2026-10-17T00:00:00+08:00', '2026-10-19T20:00:00+08:00', 7.5 * H],
    ['backwards', '2026-10-12T14:00:00+08:00', '2026-10-12T10:00:00+08:00', 0],
  ])('measures a span %s', (_what, from, to, ms) => {
    expect(cs.measure(at(from), at(to))).toBe(ms);
  });

  it.each([
    ['back over a holiday Friday', '2026-10-12T11:00:00+08:00', 'PT4H', '2026-10-08T16:00:00+08:00'],
    ['back over lunch', '2026-10-12T14:30:00+08:00', 'PT2H', '2026-10-12T11:00:00+08:00'],
    [
      'to the latest instant: a window start, not the lunch before it',
      '2026-10-12T14:30:00+08:00',
      'PT1H',
      '2026-10-12T13:30:00+08:00',
    ],
    ['from outside working time', '2026-10-17T12:00:00+08:00', 'PT30M', '2026-10-16T17:30:00+08:00'],
    // Mon 09:00-10:00 gives 1 h; the make-up Saturday works the Monday windows, so 3 h back from 18:00.
    ['over the make-up Saturday', '2026-09-28T10:00:00+08:00', 'PT4H', '2026-09-26T15:00:00+08:00'],
    ['by nothing', '2026-10-17T12:00:00+08:00', 'PT0S', '2026-10-17T12:00:00+08:00'],
  ])('subtracts working time %s', (_what, to, within, expected) => {
    expect(inCs(cs.subtract(at(to), dur(within)))).toBe(expected);
  });

  it('knows working instants (windows are [start, end)) and the next one', () => {
    expect(cs.isWorking(at('2026-10-12T09:00:00+08:00'))).toBe(true);
    expect(cs.isWorking(at('2026-10-12T11:59:59.999+08:00'))).toBe(true);
    expect(cs.isWorking(at('2026-10-12T12:00:00+08:00'))).toBe(false);
    expect(cs.isWorking(at('2026-10-09T10:00:00+08:00'))).toBe(false);
    expect(inCs(cs.nextWorking(at('2026-10-12T12:30:00+08:00')))).toBe('2026-10-12T13:30:00+08:00');
    expect(inCs(cs.nextWorking(at('2026-10-08T18:00:00+08:00')))).toBe('2026-10-12T09:00:00+08:00');
    expect(cs.nextWorking(at('2026-10-12T10:00:00.5+08:00'))).toBe(at('2026-10-12T10:00:00.5+08:00'));
  });
});

describe('long spans', () => {
  const utc = officeHours('UTC');

  it('adds 2,000 working hours (250 eight-hour days = 50 weeks) and measures 3 years, quickly', () => {
    const started = performance.now();
    expect(isoInZone(utc.add(at('2026-01-05T09:00:00Z'), 2000 * H), 'UTC')).toBe('2026-12-18T17:00:00+00:00');
    // 2026-01-05 to 2029-01-01 is 156 weeks of 40 working hours.
    expect(utc.measure(at('2026-01-05T00:00:00Z'), at('2029-01-01T00:00:00Z'))).toBe(156 * 40 * H);
    expect(cs.measure(at('2026-01-01T00:00:00+08:00'), at('2029-01-01T00:00:00+08:00'))).toBeGreaterThan(0);
    // Day by day with cached days; a minute-by-minute walk over 3 years would take seconds.
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('throws a clear error instead of looping when no working time remains', () => {
    const once = compileCalendar({
      id: 'once',
      version: 1,
      timezone: 'Europe/Berlin',
      week: {},
      makeUpDays: ['2026-01-05'],
      makeUpWindows: ['09:00-10:00'],
    });
    expect(isoInZone(once.add(at('2026-01-01T00:00:00Z'), dur('PT1H')), 'Europe/Berlin')).toBe(
      '2026-01-05T10:00:00+01:00',
    );
    expect(() => once.add(at('2026-01-01T00:00:00Z'), dur('PT1H1S'))).toThrow(
      new RegExp(
        `calendar "once" v1: add found no working time in ${SEARCH_LIMIT_DAYS} days after 2026-01-05T10:00:00\\+01:00`,
      ),
    );
    expect(() => once.nextWorking(at('2026-02-01T00:00:00Z'))).toThrow(/no working time in 3660 days/);
    expect(() => once.subtract(at('2026-01-05T12:00:00Z'), dur('PT2H'))).toThrow(
      /calendar "once" v1: subtract found no working time in 3660 days before 2026-01-05T09:00:00\+01:00/,
    );
  });

  it('refuses instants and durations that are not integers of milliseconds, naming the argument', () => {
    expect(() => cs.add(Number.NaN, 1)).toThrow(/from must be an integer of milliseconds/);
    expect(() => cs.add(0, -1)).toThrow(/ms must be a non-negative integer/);
    expect(() => cs.add(0, 1.5)).toThrow(/ms must be a non-negative integer/);
    expect(() => cs.measure(0, Number.POSITIVE_INFINITY)).toThrow(/to must be an integer/);
    expect(() => cs.isWorking(1e300)).toThrow(/at must be an integer/);
  });
});

describe('daylight saving time: real elapsed time, in the calendar zone', () => {
  const ny = (week: CalendarSpec['week']) =>
    compileCalendar({ id: 'ny', version: 1, timezone: 'America/New_York', week });
  const inNy = (ms: number) => isoInZone(ms, 'America/New_York');

  it('counts 2 real hours in 01:00-04:00 on the spring-forward day (2026-03-08)', () => {
    const cal = ny({ sun: ['01:00-04:00'] });
    expect(cal.measure(at('2026-03-08T00:00:00-05:00'), at('2026-03-09T00:00:00-04:00'))).toBe(2 * H);
    expect(inNy(cal.add(at('2026-03-08T00:00:00-05:00'), dur('PT1H30M')))).toBe('2026-03-08T03:30:00-04:00');
    expect(inNy(cal.add(at('2026-03-08T00:00:00-05:00'), dur('PT2H')))).toBe('2026-03-08T04:00:00-04:00');
    // A week earlier the same window is 3 hours.
    expect(cal.measure(at('2026-03-01T00:00:00-05:00'), at('2026-03-02T00:00:00-05:00'))).toBe(3 * H);
  });

  it('moves a window start in the skipped hour to the first valid instant, 03:00 EDT', () => {
    const cal = ny({ sun: ['02:30-05:00'] });
    expect(inNy(cal.nextWorking(at('2026-03-08T00:00:00-05:00')))).toBe('2026-03-08T03:00:00-04:00');
    expect(cal.measure(at('2026-03-08T00:00:00-05:00'), at('2026-03-09T00:00:00-04:00'))).toBe(2 * H);
    // A window wholly inside the skipped hour has no working time that day.
    const gone = ny({ sun: ['02:10-02:50'], mon: ['09:00-10:00'] });
    expect(inNy(gone.nextWorking(at('2026-03-08T00:00:00-05:00')))).toBe('2026-03-09T09:00:00-04:00');
  });

  it('counts the repeated hour once per pass on the fall-back day (2026-11-01), reading a repeated wall time as its first pass', () => {
    const cal = ny({ sun: ['01:00-03:00'] });
    // 01:00 EDT (05:00Z) to 03:00 EST (08:00Z): 3 real hours.
    expect(cal.measure(at('2026-11-01T00:00:00-04:00'), at('2026-11-02T00:00:00-05:00'))).toBe(3 * H);
    expect(inNy(cal.add(at('2026-11-01T00:00:00-04:00'), dur('PT2H')))).toBe('2026-11-01T02:00:00-05:00');
    expect(cal.isWorking(at('2026-11-01T01:30:00-05:00'))).toBe(true);

    const repeated = ny({ sun: ['01:15-01:45'] });
    expect(repeated.measure(at('2026-11-01T00:00:00-04:00'), at('2026-11-02T00:00:00-05:00'))).toBe(0.5 * H);
    expect(repeated.isWorking(at('2026-11-01T01:20:00-04:00'))).toBe(true);
    expect(repeated.isWorking(at('2026-11-01T01:20:00-05:00'))).toBe(false);

    const allDay = ny({ sun: ['00:00-24:00'] });
    expect(allDay.measure(at('2026-10-31T00:00:00-04:00'), at('2026-11-03T00:00:00-05:00'))).toBe(25 * H);

    const untilRepeated = ny({ sun: ['00:00-01:30'] });
    expect(untilRepeated.measure(at('2026-11-01T00:00:00-04:00'), at('2026-11-02T00:00:00-05:00'))).toBe(1.5 * H);
  });

  it('keeps office hours in local time across the change: 09:00 EST, then 09:00 EDT', () => {
    const office = officeHours('America/New_York');
    // Fri 03-06 16:00-17:00 EST gives 1 h; Mon 03-09 09:00 EDT + 1 h.
    expect(inNy(office.add(at('2026-03-06T16:00:00-05:00'), dur('PT2H')))).toBe('2026-03-09T10:00:00-04:00');
    // Fri 10-30 16:00-17:00 EDT gives 1 h; Mon 11-02 09:00 EST + 1 h.
    expect(inNy(office.add(at('2026-10-30T16:00:00-04:00'), dur('PT2H')))).toBe('2026-11-02T10:00:00-05:00');
  });

  it('handles Europe/Berlin around 2026-03-29 (02:00 CET → 03:00 CEST)', () => {
    const inBerlin = (ms: number) => isoInZone(ms, 'Europe/Berlin');
    const office = officeHours('Europe/Berlin');
    expect(inBerlin(office.add(at('2026-03-27T16:00:00+01:00'), dur('PT2H')))).toBe('2026-03-30T10:00:00+02:00');
    expect(office.measure(at('2026-03-27T12:00:00+01:00'), at('2026-03-30T12:00:00+02:00'))).toBe(8 * H);
    expect(inBerlin(office.subtract(at('2026-03-30T10:00:00+02:00'), dur('PT2H')))).toBe('2026-03-27T16:00:00+01:00');

    const allDay = compileCalendar({
      id: 'all',
      version: 1,
      timezone: 'Europe/Berlin',
      week: { sun: ['00:00-24:00'] },
    });
    expect(allDay.measure(at('2026-03-28T00:00:00+01:00'), at('2026-03-30T00:00:00+02:00'))).toBe(23 * H);
    expect(allDay.measure(at('2026-10-24T00:00:00+02:00'), at('2026-10-26T00:00:00+01:00'))).toBe(25 * H);

    const skipped = compileCalendar({ id: 's', version: 1, timezone: 'Europe/Berlin', week: { sun: ['02:30-04:00'] } });
    expect(inBerlin(skipped.nextWorking(at('2026-03-29T00:00:00+01:00')))).toBe('2026-03-29T03:00:00+02:00');
    expect(skipped.measure(at('2026-03-29T00:00:00+01:00'), at('2026-03-30T00:00:00+02:00'))).toBe(1 * H);
  });
});

describe('offset changes at midnight', () => {
  it('starts a day at 01:00 when its midnight is skipped (America/Havana, 2026-03-08)', () => {
    const cal = compileCalendar({ id: 'h', version: 1, timezone: 'America/Havana', week: { sun: ['00:00-02:00'] } });
    expect(isoInZone(cal.nextWorking(at('2026-03-07T12:00:00-05:00')), 'America/Havana')).toBe(
      '2026-03-08T01:00:00-04:00',
    );
    expect(cal.measure(at('2026-03-07T12:00:00-05:00'), at('2026-03-09T00:00:00-04:00'))).toBe(1 * H);
  });

  it('ends a day at its one midnight after a repeated last hour (America/Santiago, 2026-04-04)', () => {
    const cal = compileCalendar({
      id: 's',
      version: 1,
      timezone: 'America/Santiago',
      week: { sat: ['23:00-24:00'], sun: ['00:00-01:00'] },
    });
    // 23:00 -03 (first pass, 02:00Z) to 00:00 -04 (04:00Z): 2 real hours, then Sunday 00:00-01:00 -04.
    expect(cal.measure(at('2026-04-04T12:00:00-03:00'), at('2026-04-05T12:00:00-04:00'))).toBe(3 * H);
    expect(isoInZone(cal.add(at('2026-04-04T12:00:00-03:00'), dur('PT2H')), 'America/Santiago')).toBe(
      '2026-04-05T00:00:00-04:00',
    );
  });
});

describe('isoInZone', () => {
  it.each([
    [at('2026-10-09T09:30:00Z'), 'Asia/Shanghai', '2026-10-09T17:30:00+08:00'],
    [at('2026-10-09T09:30:00.999Z'), 'Asia/Shanghai', '2026-10-09T17:30:00+08:00'],
    [at('2026-03-08T07:00:00Z'), 'America/New_York', '2026-03-08T03:00:00-04:00'],
    [at('2026-03-08T06:59:59Z'), 'America/New_York', '2026-03-08T01:59:59-05:00'],
    [at('2026-01-01T00:00:00Z'), 'UTC', '2026-01-01T00:00:00+00:00'],
    [at('2026-01-01T00:00:00Z'), 'Asia/Kolkata', '2026-01-01T05:30:00+05:30'],
    [at('2026-01-01T00:00:00Z'), 'Asia/Kathmandu', '2026-01-01T05:45:00+05:45'],
    [at('1969-12-31T23:59:59.500Z'), 'UTC', '1969-12-31T23:59:59+00:00'],
    // Local mean time before 1901 had an offset with seconds; ISO-8601 writes it ±hh:mm:ss.
    [at('1900-01-01T00:00:00Z'), 'Asia/Shanghai', '1900-01-01T08:05:43+08:05:43'],
  ])('formats %d in %s as %s', (ms, timezone, iso) => {
    expect(isoInZone(ms, timezone)).toBe(iso);
  });

  it('refuses a non-instant and an unknown zone', () => {
    expect(() => isoInZone(Number.NaN, 'UTC')).toThrow(/not an instant/);
    expect(() => isoInZone(0, 'Mars/Olympus')).toThrow(RangeError);
  });
});

describe('calendar schema: each error names the field and the rule', () => {
  const valid = () => ({
    version: 1,
    timezone: 'Asia/Shanghai',
    week: { mon: ['09:00-12:00', '13:30-18:00'], fri: ['09:00-18:00'] },
    holidays: ['2026-10-01'],
    makeUpDays: ['2026-10-10'],
  });
  const issues = (input: unknown) => {
    const r = calendarSchema.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  const withChange = (change: (doc: Record<string, any>) => void) => {
    const doc: Record<string, any> = valid();
    change(doc);
    return issues(doc);
  };

  it('accepts a valid calendar, a night shift and 24:00 as an end', () => {
    expect(issues(valid())).toEqual([]);
    expect(withChange((d) => (d.week.sat = ['22:00-24:00']))).toEqual([]);
    expect(withChange((d) => (d.week.sun = ['00:00-06:00']))).toEqual([]);
    expect(withChange((d) => (d.week.tue = ['09:00-12:00', '12:00-13:00']))).toEqual([]);
    expect(withChange((d) => (d.week.wed = []))).toEqual([]);
  });

  it('parses the YAML of docs/calendars.md as written (unquoted times and dates are strings)', () => {
    const doc = parseYaml(`
version: 2
timezone: Asia/Shanghai
week:
  mon: [09:00-12:00, 13:30-18:00]
  sat: ["10:00-16:00"]
holidays: [2026-10-01, 2026-10-02]
makeUpDays: [2026-10-10]
makeUpWindows: [09:00-17:00]
`);
    expect(calendarSchema.parse(doc)).toEqual({
      version: 2,
      timezone: 'Asia/Shanghai',
      week: { mon: ['09:00-12:00', '13:30-18:00'], sat: ['10:00-16:00'] },
      holidays: ['2026-10-01', '2026-10-02'],
      makeUpDays: ['2026-10-10'],
      makeUpWindows: ['09:00-17:00'],
    });
  });

  const NOT_A_WINDOW =
    'not a working window: write HH:MM-HH:MM in 24-hour time, such as 09:00-12:00 (24:00 may end a day)';
  const BACKWARDS =
    'must start before it ends, within one day (a night shift is two windows: 22:00-24:00 and 00:00-06:00)';
  const NOT_A_DATE = 'not a date written YYYY-MM-DD, such as 2026-10-01';

  it.each([
    ['window text', (d: any) => (d.week.mon = ['9-12']), `week.mon.0: ${NOT_A_WINDOW}`],
    ['an hour past 23', (d: any) => (d.week.mon = ['09:00-25:00']), `week.mon.0: ${NOT_A_WINDOW}`],
    ['24:00 as a start', (d: any) => (d.week.mon = ['24:00-24:00']), `week.mon.0: ${NOT_A_WINDOW}`],
    ['minutes past 59', (d: any) => (d.week.fri = ['09:60-12:00']), `week.fri.0: ${NOT_A_WINDOW}`],
    ['a number for a window', (d: any) => (d.week.mon = [900]), 'week.mon.0: must be a string'],
    ['start after end', (d: any) => (d.week.mon = ['18:00-09:00']), `week.mon.0: ${BACKWARDS}`],
    ['start equal to end', (d: any) => (d.week.mon = ['09:00-09:00']), `week.mon.0: ${BACKWARDS}`],
    [
      'overlapping windows of one day',
      (d: any) => (d.week.mon = ['13:30-18:00', '09:00-12:00', '11:00-13:00']),
      'week.mon.2: overlaps 09:00-12:00: the windows of one day must not overlap',
    ],
    [
      'overlapping make-up windows',
      (d: any) => (d.makeUpWindows = ['09:00-12:00', '11:59-13:00']),
      'makeUpWindows.1: overlaps 09:00-12:00: the windows of one day must not overlap',
    ],
    ['a date that does not exist', (d: any) => (d.holidays = ['2026-02-29']), `holidays.0: ${NOT_A_DATE}`],
    ['a date in another format', (d: any) => (d.makeUpDays = ['10/10/2026']), `makeUpDays.0: ${NOT_A_DATE}`],
    [
      'a date both holiday and make-up day',
      (d: any) => (d.holidays = ['2026-10-01', '2026-10-10']),
      'makeUpDays.0: 2026-10-10 is also a holiday: a date is either a holiday or a make-up day',
    ],
    [
      'an unknown weekday key',
      (d: any) => (d.week.monday = ['09:00-12:00']),
      'week: unknown weekday "monday": use mon, tue, wed, thu, fri, sat, sun',
    ],
    [
      'no working window at all',
      (d: any) => {
        d.week = { mon: [], sat: [] };
        delete d.makeUpDays;
      },
      'week: no working window on any weekday and no make-up days: the calendar would never work',
    ],
    [
      'make-up days without windows to work',
      (d: any) => {
        d.week = { fri: ['09:00-18:00'] };
      },
      'makeUpWindows: make-up days need working windows: give makeUpWindows, or Monday windows (the default)',
    ],
    [
      'a bad time zone',
      (d: any) => (d.timezone = 'Mars/Olympus'),
      'timezone: not an IANA time zone such as Asia/Shanghai',
    ],
    ['version 0', (d: any) => (d.version = 0), 'version: a positive integer'],
    ['a fractional version', (d: any) => (d.version = 1.5), 'version: an integer'],
    ['a version as text', (d: any) => (d.version = '1'), 'version: must be a number'],
    ['a missing version', (d: any) => delete d.version, 'version: required'],
    ['a missing week', (d: any) => delete d.week, 'week: required'],
    [
      'an unknown field',
      (d: any) => (d.holiday = ['2026-10-02']),
      ': unknown field "holiday": use version, timezone, week, holidays, makeUpDays, makeUpWindows',
    ],
  ])('rejects %s', (_what, change, message) => {
    expect(withChange(change)).toEqual([message]);
  });

  it('names every window that overlaps an earlier one', () => {
    expect(withChange((d) => (d.week.mon = ['08:00-20:00', '09:00-12:00', '13:00-14:00']))).toEqual([
      'week.mon.1: overlaps 08:00-20:00: the windows of one day must not overlap',
      'week.mon.2: overlaps 08:00-20:00: the windows of one day must not overlap',
    ]);
  });

  it('is what compileCalendar checks too, with the path under calendars.<id>', () => {
    const spec = { id: 'cs_hours', ...valid(), week: { mon: ['09:00-12:00', '10:00-11:00'] } };
    expect(() => compileCalendar(spec)).toThrow(ValidationError);
    try {
      compileCalendar(spec);
    } catch (error) {
      expect((error as ValidationError).errors).toEqual([
        {
          path: 'calendars.cs_hours.week.mon.1',
          message: 'overlaps 09:00-12:00: the windows of one day must not overlap',
        },
      ]);
      expect((error as ValidationError).code).toBe('VALIDATION_FAILED');
    }
    expect(() => compileCalendar({ ...valid(), id: '' })).toThrow(/needs an id/);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over random calendars in zones with and without DST (30-minute DST, changes at
// midnight, southern hemisphere, 45-minute offsets).

const ZONES = [
  'Asia/Shanghai',
  'America/New_York',
  'Europe/Berlin',
  'Australia/Lord_Howe',
  'America/Santiago',
  'America/Havana',
  'Pacific/Chatham',
  'Asia/Kathmandu',
  'UTC',
] as const;
const FIRST_DAY = Date.UTC(2025, 0, 1) / 86_400_000;
const LAST_DAY = Date.UTC(2028, 0, 1) / 86_400_000;

const hhmm = (minute: number) =>
  `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
/** Sorted distinct minutes of the day, paired into disjoint windows. */
const windowsArb = fc.uniqueArray(fc.integer({ min: 0, max: 1440 }), { maxLength: 6 }).map((minutes) => {
  const sorted = [...minutes].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i + 1 < sorted.length; i += 2) out.push(`${hhmm(sorted[i]!)}-${hhmm(sorted[i + 1]!)}`);
  return out;
});
const dateArb = fc
  .integer({ min: FIRST_DAY, max: LAST_DAY })
  .map((day) => new Date(day * 86_400_000).toISOString().slice(0, 10));

const specArb: fc.Arbitrary<CalendarSpec> = fc
  .record({
    timezone: fc.constantFrom(...ZONES),
    week: fc.record(Object.fromEntries(WEEKDAYS.map((d) => [d, windowsArb])) as Record<string, fc.Arbitrary<string[]>>),
    holidays: fc.uniqueArray(dateArb, { maxLength: 40 }),
    makeUpDays: fc.uniqueArray(dateArb, { maxLength: 10 }),
    makeUpWindows: fc.option(
      windowsArb.filter((w) => w.length > 0),
      { nil: undefined },
    ),
  })
  .map(({ timezone, week, holidays, makeUpDays, makeUpWindows }) => {
    const holidaySet = new Set(holidays);
    const spec: CalendarSpec = {
      id: 'random',
      version: 1,
      timezone,
      week,
      holidays,
      makeUpDays: makeUpDays.filter((d) => !holidaySet.has(d)),
      makeUpWindows: makeUpWindows ?? ['09:00-17:00'],
    };
    return spec;
  })
  .filter((spec) => WEEKDAYS.some((d) => (spec.week[d] ?? []).length > 0));

/** Local dates of 2026 on which one of ZONES changes its offset. */
const CHANGE_DAYS = [
  '2026-03-08', // America/New_York, America/Havana
  '2026-03-29', // Europe/Berlin
  '2026-04-05', // Australia/Lord_Howe (30 minutes), America/Santiago (at midnight), Pacific/Chatham
  '2026-09-06', // America/Santiago
  '2026-09-27', // Pacific/Chatham
  '2026-10-04', // Australia/Lord_Howe
  '2026-10-25', // Europe/Berlin
  '2026-11-01', // America/New_York, America/Havana
];
/** Uniform over 2025–2027, or within two days of an offset change. */
const instantArb = fc.oneof(
  fc.integer({ min: FIRST_DAY * 86_400_000, max: LAST_DAY * 86_400_000 }),
  fc
    .tuple(fc.constantFrom(...CHANGE_DAYS), fc.integer({ min: -2 * 86_400_000, max: 2 * 86_400_000 }))
    .map(([day, offset]) => Date.parse(`${day}T00:00:00Z`) + offset),
);
const durationArb = fc.oneof(fc.integer({ min: 0, max: 4 * H }), fc.integer({ min: 0, max: 400 * H }));
const RUNS = { numRuns: 300 };

describe('properties over random calendars (fast-check)', () => {
  it('measure(from, add(from, d)) === d, and add is the earliest such instant', () => {
    fc.assert(
      fc.property(specArb, instantArb, durationArb, (spec, from, d) => {
        const cal = compileCalendar(spec);
        const due = cal.add(from, d);
        expect(cal.measure(from, due)).toBe(d);
        if (d > 0) expect(cal.measure(from, due - 1)).toBe(d - 1);
      }),
      RUNS,
    );
  });

  it('add is monotonic in the duration', () => {
    fc.assert(
      fc.property(specArb, instantArb, durationArb, durationArb, (spec, from, a, b) => {
        const cal = compileCalendar(spec);
        const [short, long] = a <= b ? [a, b] : [b, a];
        expect(cal.add(from, short)).toBeLessThanOrEqual(cal.add(from, long));
      }),
      RUNS,
    );
  });

  it('measure is additive: measure(a, b) + measure(b, c) === measure(a, c)', () => {
    fc.assert(
      fc.property(specArb, instantArb, instantArb, instantArb, (spec, x, y, z) => {
        const cal = compileCalendar(spec);
        const [a, b, c] = [x, y, z].sort((p, q) => p - q) as [number, number, number];
        expect(cal.measure(a, b) + cal.measure(b, c)).toBe(cal.measure(a, c));
      }),
      RUNS,
    );
  });

  it('subtract walks back: t = subtract(add(f, d), d) has measure(t, add(f, d)) === d and f <= t', () => {
    fc.assert(
      fc.property(specArb, instantArb, durationArb, (spec, from, d) => {
        const cal = compileCalendar(spec);
        const due = cal.add(from, d);
        const t = cal.subtract(due, d);
        expect(cal.measure(t, due)).toBe(d);
        expect(t).toBeGreaterThanOrEqual(from);
        expect(t).toBeLessThanOrEqual(due);
      }),
      RUNS,
    );
  });

  it('nextWorking is the first working instant: add(from, 1) === nextWorking(from) + 1', () => {
    fc.assert(
      fc.property(specArb, instantArb, (spec, from) => {
        const cal = compileCalendar(spec);
        const next = cal.nextWorking(from);
        expect(cal.isWorking(next)).toBe(true);
        expect(cal.isWorking(from)).toBe(next === from);
        expect(cal.add(from, 1)).toBe(next + 1);
        if (next > from) expect(cal.measure(from, next)).toBe(0);
      }),
      RUNS,
    );
  });

  it('isWorking agrees with a direct reading of the local wall clock (outside repeated hours)', () => {
    fc.assert(
      fc.property(specArb, instantArb, (spec, instant) => {
        const wall = wallClock(instant, spec.timezone);
        fc.pre(wallClock(instant - 3 * H, spec.timezone).offset === wallClock(instant + 3 * H, spec.timezone).offset);
        const windows = spec.holidays?.includes(wall.date)
          ? []
          : spec.makeUpDays?.includes(wall.date)
            ? (spec.makeUpWindows ?? [])
            : (spec.week[wall.weekday] ?? []);
        const expected = windows.some((w) => {
          const [start, end] = w.split('-').map((t) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3)));
          return start! <= wall.minute && wall.minute < end!;
        });
        expect(compileCalendar(spec).isWorking(instant)).toBe(expected);
      }),
      RUNS,
    );
  });

  it('isoInZone round-trips through Date.parse, to the second', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2100, 0, 1) }),
        fc.constantFrom(...ZONES),
        (ms, timezone) => {
          expect(Date.parse(isoInZone(ms, timezone))).toBe(Math.floor(ms / 1000) * 1000);
        },
      ),
      RUNS,
    );
  });
});

/** An independent reading of an instant's local wall clock (a different Intl call from the module's). */
function wallClock(ms: number, timezone: string) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: timezone,
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    })
      .formatToParts(ms)
      .map((p) => [p.type, p.value]),
  );
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    weekday: String(parts.weekday).toLowerCase().slice(0, 3) as (typeof WEEKDAYS)[number],
    minute: Number(parts.hour) * 60 + Number(parts.minute),
    offset: parts.timeZoneName,
  };
}

/** An instant's wall clock in a zone, to the second, as Intl.DateTimeFormat reads it. */
function intlWallClock(ms: number, zone: string): Record<string, number> {
  return Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(ms)
      .filter((p) => p.type !== 'literal')
      .map((p) => [p.type, Number(p.value)]),
  );
}

describe('wallClockIn (the one zone reading notices and reports use)', () => {
  it('agrees with Intl.DateTimeFormat on any instant in any of several zones', () => {
    const zones = [
      'Asia/Shanghai',
      'America/New_York',
      'Europe/Berlin',
      'Australia/Lord_Howe',
      'Asia/Kathmandu',
      'UTC',
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2100, 0, 1) }),
        fc.constantFrom(...zones),
        (ms, zone) => {
          expect(wallClockIn(ms, zone)).toEqual(intlWallClock(ms, zone));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('agrees with Intl to the second around offset changes (the remembered hours hold no change)', () => {
    const zones = ['America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'America/Santiago', 'Pacific/Chatham'];
    fc.assert(
      fc.property(
        fc.constantFrom(...CHANGE_DAYS),
        fc.integer({ min: -2 * 86_400_000, max: 2 * 86_400_000 }),
        fc.constantFrom(...zones),
        (day, delta, zone) => {
          const ms = Date.parse(`${day}T00:00:00Z`) + delta;
          // Each instant is read twice and beside its neighbours: a cached hour must still be right.
          for (const at of [ms, ms - 1000, ms + 1000, ms])
            expect(wallClockIn(at, zone)).toEqual(intlWallClock(at, zone));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
