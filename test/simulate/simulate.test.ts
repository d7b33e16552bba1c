import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileCalendar } from '../../src/domain/calendar.ts';
import { type Policy, parsePolicyYaml } from '../../src/policy/policy.ts';
import { parseScript, parseScriptYaml } from '../../src/simulate/script.ts';
import { simulate } from '../../src/simulate/simulate.ts';
import { formatTimeline, type Timeline, type TimelineEntry } from '../../src/simulate/timeline.ts';

// The simulator runs the case machine on a simulated clock. Golden files pin the timelines of the
// shipped examples against the example policy (UPDATE_GOLDEN=1 rewrites them); the focused tests check
// the clock rules of issue 4 against hand-computed working time.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = join(ROOT, 'examples/simulate');
const GOLDEN = join(ROOT, 'test/simulate/golden');
const POLICY_FILE = join(ROOT, 'policies/example.yaml');
const policy: Policy = parsePolicyYaml(readFileSync(POLICY_FILE, 'utf8'), POLICY_FILE);
const csHours = compileCalendar(policy.calendars.cs_hours as NonNullable<Policy['calendars'][string]>);

const H = 3_600_000;
const MIN = 60_000;
const FRIDAY_9 = '2026-10-09T09:00:00+08:00';

const CASE = {
  channel: 'phone',
  category: 'complaint',
  customer: { id: 'c-1', name: 'Test Customer' },
  subject: 'Technician did not come',
  description: 'The booked visit did not happen.',
};
const RESPOND = { at: 'PT1M', as: 'agent', event: { type: 'RESPOND' } };

function run(doc: Record<string, unknown>): Timeline {
  return simulate(policy, parseScript({ start: FRIDAY_9, case: CASE, until: 'P3D', ...doc }, policy));
}

const of = (t: Timeline, kind: TimelineEntry['kind'], deadline?: string) =>
  t.entries.filter((e) => e.kind === kind && (deadline === undefined || e.deadline === deadline));
const ms = (iso: string | undefined) => Date.parse(iso as string);

describe('golden timelines of the example scripts against the example policy', () => {
  const scripts = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));

  it('ships at least the three examples the issue asks for', () => {
    expect(scripts).toEqual(
      expect.arrayContaining(['late-on-business-clock.yaml', 'pause-customer-caused.yaml', 'outage-windows.yaml']),
    );
  });

  for (const file of scripts) {
    it(`${file} gives its golden timeline`, () => {
      const text = readFileSync(join(EXAMPLES, file), 'utf8');
      const actual = `${formatTimeline(simulate(policy, parseScriptYaml(text, policy, file)))}\n`;
      const golden = join(GOLDEN, `${basename(file, '.yaml')}.txt`);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, actual);
      expect(actual).toBe(readFileSync(golden, 'utf8'));
    });
  }
});

describe('warnings (issue 4: 50 %, 75 %, 90 %, once per arming)', () => {
  it('warns at 50, 75 and 90 % of initialNotice in working time, lunch excluded, each once', () => {
    const t = run({ events: [RESPOND] });
    const warnings = of(t, 'warning', 'initialNotice');
    expect(warnings.map((w) => w.fraction)).toEqual([0.5, 0.75, 0.9]);
    // Friday 09:00 + PT4H on 09:00-12:00 / 13:30-18:00: due 14:30; the 75 % mark is the end of lunch.
    expect(warnings.map((w) => w.at)).toEqual([
      '2026-10-09T11:00:00+08:00',
      '2026-10-09T13:30:00+08:00',
      '2026-10-09T14:06:00+08:00',
    ]);
    for (const w of warnings) expect(csHours.measure(ms(FRIDAY_9), ms(w.at))).toBe((w.fraction as number) * 4 * H);
    expect(of(t, 'breached', 'initialNotice').map((e) => e.at)).toEqual(['2026-10-09T14:30:00+08:00']);
  });

  it('does not repeat a warning after a pause and resume: the arming keeps the ones it sent', () => {
    const t = run({
      events: [
        RESPOND,
        { at: 'PT2H30M', as: 'agent', event: { type: 'PAUSE', reason: 'customer_caused', note: 'wrong number' } },
        { at: 'P3D', as: 'agent', event: { type: 'RESUME' } },
      ],
      until: 'P5D',
    });
    const warnings = of(t, 'warning', 'initialNotice');
    expect(warnings.map((w) => w.fraction)).toEqual([0.5, 0.75, 0.9]);
    // Working time run by each warning, the paused weekend excluded: the fraction of PT4H again.
    const pausedAt = ms('2026-10-09T11:30:00+08:00');
    const resumedAt = ms('2026-10-12T09:00:00+08:00');
    for (const w of warnings) {
      const at = ms(w.at);
      const run = at <= pausedAt ? csHours.measure(ms(FRIDAY_9), at) : 2.5 * H + csHours.measure(resumedAt, at);
      expect(run).toBe((w.fraction as number) * 4 * H);
    }
  });

  it('warns each arming of the hand-off again, three times per rung', () => {
    const t = run({ events: [] });
    const handoff = t.entries.filter((e) => e.deadline === 'handoff' && (e.kind === 'armed' || e.kind === 'warning'));
    const perArming: number[][] = [];
    for (const e of handoff) {
      if (e.kind === 'armed') perArming.push([]);
      else perArming.at(-1)?.push(e.fraction as number);
    }
    expect(perArming).toEqual([
      [0.5, 0.75, 0.9],
      [0.5, 0.75, 0.9],
      [0.5, 0.75, 0.9],
    ]);
  });
});

describe('the escalation ladder (issue 4, 3.2.3)', () => {
  it('a missed first response climbs team_lead → contract_management → management, each rung once', () => {
    const t = run({ events: [] });
    expect(of(t, 'escalated').map((e) => [e.department, e.rung, e.clause])).toEqual([
      ['team_lead', 1, '3.1.3'],
      ['contract_management', 2, '3.2.3'],
      ['management', 3, '3.2.3'],
    ]);
    expect(of(t, 'handoff').map((e) => e.target)).toEqual(['team_lead', 'contract_management', 'management']);
    // Each rung's hand-off is missed once; the top rung's miss is recorded and climbs nowhere.
    expect(of(t, 'breached', 'handoff').map((e) => e.at)).toEqual([
      '2026-10-09T11:15:00+08:00',
      '2026-10-09T13:15:00+08:00',
      '2026-10-09T15:15:00+08:00',
    ]);
    expect(t.final.escalation).toEqual({ department: 'management', rung: 3, status: 'pending' });
    expect(t.final.deadlines.find((d) => d.name === 'handoff')?.status).toBe('breached');
  });

  it('a case routed off the ladder (legal) climbs from the ladder’s foot', () => {
    const t = run({ case: { ...CASE, flags: ['legal_dispute'] } });
    expect(t.entries[0]).toMatchObject({ kind: 'opened', clause: '1', to: 'escalated' });
    expect(of(t, 'escalated').map((e) => e.department)).toEqual([
      'legal',
      'team_lead',
      'contract_management',
      'management',
    ]);
  });

  it('an accepted hand-off stops the climb', () => {
    const t = run({
      events: [
        {
          at: 'PT20M',
          as: 'department',
          department: 'team_lead',
          event: { type: 'HANDOFF_ACCEPT', department: 'team_lead' },
        },
      ],
    });
    expect(of(t, 'escalated').map((e) => e.department)).toEqual(['team_lead']);
    expect(of(t, 'met', 'handoff')).toHaveLength(1);
  });
});

describe('pauses (6.2)', () => {
  it('never shorten the remaining time: what was left is given back exactly, in working time', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 600 }), // pause this many minutes after the start
        fc.integer({ min: 1, max: 5 * 24 * 60 }), // for this many minutes
        (pauseAfter, pauseFor) => {
          const t = run({
            events: [
              RESPOND,
              { at: `PT${pauseAfter}M`, as: 'agent', event: { type: 'PAUSE', reason: 'customer_caused', note: 'x' } },
              { at: `PT${pauseAfter + pauseFor}M`, as: 'supervisor', event: { type: 'RESUME' } },
            ],
            until: 'P8D',
          });
          const armed = of(t, 'armed', 'initialNotice')[0] as TimelineEntry;
          const paused = of(t, 'paused', 'initialNotice')[0];
          const resumed = of(t, 'resumed', 'initialNotice')[0];
          const pausedAt = ms(FRIDAY_9) + pauseAfter * MIN;
          if (pausedAt >= ms(armed.dueAt)) {
            expect(paused).toBeUndefined(); // breached already: nothing left to freeze
            return;
          }
          const left = csHours.measure(pausedAt, ms(armed.dueAt));
          expect(paused?.remaining).toBe(isoHours(left));
          const resumedAt = pausedAt + pauseFor * MIN;
          expect(resumed).toBeDefined();
          expect(csHours.measure(resumedAt, ms(resumed?.dueAt))).toBe(left);
          expect(ms(resumed?.dueAt)).toBeGreaterThanOrEqual(ms(armed.dueAt));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a second pause for the same reason and a resume by a role that may not pause for it are refused', () => {
    const pause = { type: 'PAUSE', reason: 'customer_caused', note: 'x' };
    const t = run({
      events: [
        { at: 'PT5M', as: 'agent', event: pause },
        { at: 'PT6M', as: 'agent', event: pause },
        { at: 'PT7M', as: 'ops', event: { type: 'RESUME' } },
      ],
    });
    expect(of(t, 'refused').map((e) => [e.code, e.clause])).toEqual([
      ['ALREADY_PAUSED', '6.2'],
      ['PAUSE_NOT_ALLOWED', '6.2'],
    ]);
    expect(t.final.deadlines.find((d) => d.name === 'initialNotice')).toMatchObject({ status: 'paused' });
  });
});

describe('outages (6.2)', () => {
  it('push the due time out by exactly their working-time overlap, whether over or still open at the due time', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 2 * 24 * 60 }), // window start, minutes after the start
        fc.integer({ min: 1, max: 24 * 60 }), // window length in minutes
        (from, length) => {
          const t = run({
            outages: [{ id: 'o1', start: `PT${from}M`, end: `PT${from + length}M`, reason: 'system_failure' }],
            events: [RESPOND],
            until: 'P6D',
          });
          const breach = of(t, 'breached', 'initialNotice')[0] as TimelineEntry;
          const due = ms(breach.dueAt);
          const start = ms(FRIDAY_9) + from * MIN;
          const end = start + length * MIN;
          const overlap = csHours.measure(Math.max(start, ms(FRIDAY_9)), Math.min(end, due));
          // Working time run by the clock: PT4H, plus the outage's working time, no more and no less.
          expect(csHours.measure(ms(FRIDAY_9), due) - overlap).toBe(4 * H);
          expect(of(t, 'excused')).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('an open window holds the case and OUTAGE_END resumes it from the window’s end', () => {
    const t = run({
      outages: [{ id: 'o1', start: 'PT5M', end: 'PT25M', reason: 'system_failure' }],
    });
    expect(of(t, 'paused').map((e) => [e.deadline, e.remaining, e.reason, e.at])).toEqual([
      ['firstResponse', 'PT10M', 'outage o1', '2026-10-09T09:15:00+08:00'],
      ['initialNotice', 'PT3H55M', 'outage o1', '2026-10-09T09:15:00+08:00'],
    ]);
    expect(of(t, 'resumed').map((e) => [e.deadline, e.dueAt, e.at])).toEqual([
      ['firstResponse', '2026-10-09T09:35:00+08:00', '2026-10-09T09:25:00+08:00'],
      ['initialNotice', '2026-10-09T14:50:00+08:00', '2026-10-09T09:25:00+08:00'],
    ]);
  });

  it('a window declared after the fact excuses the breach it explains, and only that one', () => {
    const outage = { id: 'o9', start: 'PT5H', end: 'PT6H', declared: 'PT8H', reason: 'system_failure' };
    const t = run({ outages: [outage], events: [RESPOND] });
    // Due 14:30, breached then: the window 14:00-15:00 was unknown; declared at 17:00 it excuses the breach.
    expect(of(t, 'breached', 'initialNotice').map((e) => e.at)).toEqual(['2026-10-09T14:30:00+08:00']);
    expect(of(t, 'excused').map((e) => [e.deadline, e.at, e.reason, e.clause])).toEqual([
      ['initialNotice', '2026-10-09T17:00:00+08:00', 'outage o9', '6.2'],
    ]);
    const late = run({ outages: [{ ...outage, start: 'PT6H', end: 'PT7H' }], events: [RESPOND] });
    expect(of(late, 'excused')).toEqual([]);
  });
});

describe('scripted events', () => {
  it('a refused event is an entry with its code and clause, and the run goes on', () => {
    const t = run({
      events: [
        { at: 'PT1M', as: 'agent', event: { type: 'RESOLVE', resolution: 'done' } },
        { at: 'PT2M', as: 'auditor', event: { type: 'RESPOND' } },
        { ...RESPOND, at: 'PT3M' },
      ],
    });
    expect(of(t, 'refused').map((e) => [e.event, e.code, e.clause])).toEqual([
      ['RESOLVE', 'INVALID_TRANSITION', '3.2'],
      ['RESPOND', 'FORBIDDEN', '6.1'],
    ]);
    expect(of(t, 'met', 'firstResponse')).toHaveLength(1);
  });

  it('a wake-up due at the very time of an event fires first', () => {
    const t = run({ events: [{ at: 'PT15M', as: 'agent', event: { type: 'RESPOND' } }] });
    const kinds = t.entries.filter((e) => e.at === '2026-10-09T09:15:00+08:00').map((e) => e.kind);
    expect(kinds.indexOf('breached')).toBeLessThan(kinds.indexOf('event'));
    expect(of(t, 'met', 'firstResponse')).toEqual([]);
  });
});

describe('intervene simulate (the CLI, as a child process)', () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'simulate', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      // Nothing listens there: the simulator must not need Redis.
      env: { ...process.env, REDIS_URL: 'redis://127.0.0.1:1', INTERVENE_POLICIES: '/nonexistent' },
      timeout: 60_000,
    });

  it('prints the golden timeline, the same as JSON with --json, and exits 2 naming a bad field', () => {
    const script = join(EXAMPLES, 'outage-windows.yaml');
    const text = cli(['--policy', POLICY_FILE, '--script', script]);
    expect(text.stderr).toBe('');
    expect(text.status).toBe(0);
    expect(text.stdout).toBe(readFileSync(join(GOLDEN, 'outage-windows.txt'), 'utf8'));

    const json = cli(['--policy', POLICY_FILE, '--script', script, '--json']);
    expect(json.status).toBe(0);
    const timeline = JSON.parse(json.stdout) as Timeline;
    expect(formatTimeline(timeline)).toBe(text.stdout.trimEnd());
    expect(timeline.final.state).toBe('resolved');

    const bad = cli(['--policy', POLICY_FILE, '--script', join(ROOT, 'test/simulate/fixtures/bad-field.yaml')]);
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('events.1.event.reason: must be one of customer_caused');
  });
});

/** The ISO duration the timeline writes for a business clock's time left (hours, never days). */
function isoHours(ms: number): string {
  const h = Math.floor(ms / H);
  const m = Math.floor((ms % H) / MIN);
  const s = (ms % MIN) / 1000;
  const time = `${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s ? `${s}S` : ''}`;
  return time ? `PT${time}` : 'PT0S';
}
