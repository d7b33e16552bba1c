import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CaseContext } from '../../machines/types.ts';
import type { Policy } from '../../src/policy/policy.ts';
import { parsePolicy } from '../../src/policy/policy.ts';
import { reportSettings } from '../../src/policy/reports.ts';
import { aggregate, F } from '../../src/reports/aggregate.ts';
import { reportCsv } from '../../src/reports/csv.ts';
import { type Fact, reportFact } from '../../src/reports/facts.ts';
import { BUCKET_BOUNDS_MS, bucketOf, percentile } from '../../src/reports/histogram.ts';
import { reportHtml } from '../../src/reports/html.ts';
import { dayStart, isDay, localDay, periodKindOf, precedingRange, previousPeriod } from '../../src/reports/periods.ts';
import { buildReport } from '../../src/reports/report.ts';
import type { Report } from '../../src/reports/schema.ts';
import { themeTerms } from '../../src/reports/themes.ts';
import { cronFor } from '../../src/reports/worker.ts';
import { AGENT, candidateEvents, PureCase, SYSTEM, T0, timeFor } from '../support/machine.ts';
import { exampleDocument, testPolicy } from '../support/policy.ts';
import { parseCsv } from './csv-parse.ts';

const someone = { id: 'u-1', name: '张三', phone: '+86 138 0000 0000' };

describe('theme terms (3.3): normalised, segmented, never personal (4.2)', () => {
  it('segments Chinese into words and drops stop words, single characters and numbers', () => {
    expect(
      themeTerms({
        subject: '我的订单退款一直没有到账',
        description: '已经等了三天，订单号123456，金额八百元。',
        customer: someone,
      }),
    ).toEqual(['订单', '退款', '三天', '金额']);
  });

  it('normalises English: case, width, possessives and regular plurals; drops stop words and digits', () => {
    expect(
      themeTerms({
        subject: 'Refunds for the LATE FEES',
        description: "The customer's invoices show 2 charges; Ｉｎｖｏｉｃｅ 4711 is wrong. Deliveries delayed.",
        customer: someone,
      }),
    ).toEqual(['refund', 'late', 'fee', 'invoice', 'show', 'charge', 'wrong', 'delivery', 'delayed']);
  });

  it('drops every part of the customer name, phone, e-mail and id, in Chinese and in Latin script', () => {
    const customer = {
      id: 'crm-walrus-42',
      name: '欧阳明日',
      phone: '+86 139 1234 5678',
      email: 'mingri.ouyang@walrus-post.example',
    };
    const terms = themeTerms({
      subject: '欧阳明日的快递丢了',
      description:
        '明日说快递丢了，请联系13912345678或mingri.ouyang@walrus-post.example，客户号crm-walrus-42。Mingri says the parcel is lost; ouyang walrus post.',
      customer,
    });
    // "post" is a piece of the e-mail's domain: dropped with the rest of it.
    expect(terms).toEqual(['快递', 'parcel', 'lost']);
    for (const t of terms)
      for (const part of ['欧阳', '明日', 'mingri', 'ouyang', 'walrus', '1391234', 'crm'])
        expect(t).not.toContain(part);
  });

  it('keeps at most 24 distinct terms of a case, in order of appearance', () => {
    const words = Array.from(
      { length: 40 },
      (_, i) => `word${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}`,
    );
    const terms = themeTerms({ subject: words.join(' '), description: words.join(' '), customer: someone });
    expect(terms).toEqual(words.slice(0, 24));
  });
});

describe('days and periods in the policy time zone', () => {
  it('puts an instant on its local day (Asia/Shanghai is UTC+8)', () => {
    expect(localDay(Date.parse('2026-11-01T15:59:59.999Z'), 'Asia/Shanghai')).toBe('2026-11-01');
    expect(localDay(Date.parse('2026-11-01T16:00:00.000Z'), 'Asia/Shanghai')).toBe('2026-11-02');
    expect(localDay(Date.parse('2026-11-01T16:00:00.000Z'), 'UTC')).toBe('2026-11-01');
    expect(dayStart('2026-11-02', 'Asia/Shanghai')).toBe(Date.parse('2026-11-01T16:00:00Z'));
  });

  it('knows a day that has 23 hours where clocks change', () => {
    const start = dayStart('2026-03-08', 'America/New_York');
    expect(start).toBe(Date.parse('2026-03-08T05:00:00Z'));
    expect(dayStart('2026-03-09', 'America/New_York') - start).toBe(23 * 3_600_000);
    expect(localDay(start - 1, 'America/New_York')).toBe('2026-03-07');
  });

  it('names the last complete daily, weekly and monthly period of a run', () => {
    const run = Date.parse('2026-11-02T00:30:00+08:00'); // a Monday
    expect(previousPeriod('daily', run, 'Asia/Shanghai')).toEqual({ from: '2026-11-01', to: '2026-11-01' });
    expect(previousPeriod('weekly', run, 'Asia/Shanghai')).toEqual({ from: '2026-10-26', to: '2026-11-01' });
    expect(previousPeriod('weekly', run, 'Asia/Shanghai', 'sunday')).toEqual({ from: '2026-10-25', to: '2026-10-31' });
    // A run a day late still reports the week it was due for.
    expect(previousPeriod('weekly', run + 86_400_000, 'Asia/Shanghai')).toEqual({
      from: '2026-10-26',
      to: '2026-11-01',
    });
    expect(previousPeriod('monthly', run, 'Asia/Shanghai')).toEqual({ from: '2026-10-01', to: '2026-10-31' });
    expect(previousPeriod('monthly', Date.parse('2027-01-01T00:30:00+08:00'), 'Asia/Shanghai')).toEqual({
      from: '2026-12-01',
      to: '2026-12-31',
    });
  });

  it('compares a month with the previous month, and other ranges with as many days before', () => {
    expect(precedingRange({ from: '2026-03-01', to: '2026-03-31' })).toEqual({ from: '2026-02-01', to: '2026-02-28' });
    expect(precedingRange({ from: '2026-11-02', to: '2026-11-08' })).toEqual({ from: '2026-10-26', to: '2026-11-01' });
    expect(periodKindOf({ from: '2026-11-02', to: '2026-11-08' })).toBe('weekly');
    expect(periodKindOf({ from: '2026-11-03', to: '2026-11-09' })).toBe('custom');
    expect(periodKindOf({ from: '2026-02-01', to: '2026-02-28' })).toBe('monthly');
    expect(isDay('2026-02-29')).toBe(false);
    expect(isDay('2028-02-29')).toBe(true);
    expect(isDay('2026-1-01')).toBe(false);
  });

  it('schedules each period at the policy time of day (cron, run in the policy zone)', () => {
    expect(cronFor('daily', '00:30', 'monday')).toBe('30 0 * * *');
    expect(cronFor('weekly', '06:05', 'monday')).toBe('5 6 * * 1');
    expect(cronFor('weekly', '06:05', 'sunday')).toBe('5 6 * * 0');
    expect(cronFor('monthly', '23:59', 'monday')).toBe('59 23 1 * *');
  });
});

describe('turnaround histograms', () => {
  it('puts a duration in the first bucket whose bound it does not exceed', () => {
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(10_000)).toBe(0);
    expect(bucketOf(10_001)).toBe(1);
    expect(bucketOf(15 * 60_000)).toBe(BUCKET_BOUNDS_MS.indexOf(15 * 60_000));
    expect(bucketOf(31 * 86_400_000)).toBe(BUCKET_BOUNDS_MS.length);
  });

  it('reads nearest-rank percentiles as bucket bounds; the open bucket has none', () => {
    const counts = new Array(BUCKET_BOUNDS_MS.length + 1).fill(0);
    counts[0] = 5;
    counts[9] = 4; // <= 15 min
    counts[BUCKET_BOUNDS_MS.length] = 1;
    expect(percentile(counts, 0.5)).toBe(10_000);
    expect(percentile(counts, 0.6)).toBe(15 * 60_000);
    expect(percentile(counts, 0.9)).toBe(15 * 60_000);
    expect(percentile(counts, 0.99)).toBeNull();
    expect(percentile([0, 0], 0.5)).toBeNull();
  });
});

/** A report built from facts alone (no Redis): the fold and the report, pure. */
function reportOf(policy: Policy, facts: Fact[], previous: Fact[] = []): Report {
  const sum = (list: Fact[]) => {
    const { counters, terms } = aggregate(list);
    const c = new Map<string, number>();
    const t = new Map<string, number>();
    for (const fields of counters.values()) for (const [k, v] of fields) c.set(k, (c.get(k) ?? 0) + v);
    for (const fields of terms.values()) for (const [k, v] of fields) t.set(k, (t.get(k) ?? 0) + v);
    return { counters: c, terms: t };
  };
  return buildReport({
    policy,
    kind: 'weekly',
    range: { from: '2026-11-02', to: '2026-11-08' },
    previousRange: { from: '2026-10-26', to: '2026-11-01' },
    current: sum(facts),
    previous: sum(previous),
    generatedAt: T0,
    pendingFacts: 0,
  });
}

const base: Fact = {
  c: 'MC-2026-001',
  e: 'OPEN',
  d: '2026-11-03',
  o: '2026-11-03',
  g: 'inquiry',
  h: 'phone',
  f: null,
  t: 'received',
  l: '2.1',
  r: 'agent',
};
const times = <T>(n: number, make: (i: number) => T) => Array.from({ length: n }, (_, i) => make(i));

describe('improvement suggestions (3.3): each with the rule that produced it', () => {
  const policy = testPolicy();

  it('fee waivers above the limit escalated 5 times: raise the 2.2.4 limit or route directly', () => {
    const facts = times(5, () => ({
      ...base,
      g: 'fee_waiver',
      t: 'escalated',
      b: 1 as const,
      x: { tr: 'beyond_authority', dep: 'contract_management', lvl: 1, cl: '1', first: 1 as const },
    }));
    expect(reportOf(policy, facts).suggestions).toEqual([
      {
        rule: 'beyond-authority',
        when: 'at least 5 fee_waiver cases escalated as beyond authority in the period',
        clause: '2.2.4',
        text: 'fee waivers above the limit were escalated 5 times: consider raising the 2.2.4 limit (now 500.00 CNY) or routing them directly to the department that decides them (now 合同管理部).',
        figures: { category: 'fee_waiver', escalations: 5, aboveLimit: 5, limit: '500.00 CNY' },
      },
    ]);
    expect(reportOf(policy, facts.slice(1)).suggestions).toEqual([]);
  });

  it('first responses on time in 80% of 10 cases, under the 95% target', () => {
    const facts = times(10, (i) => ({
      ...base,
      e: i < 8 ? 'RESPOND' : 'DEADLINE',
      k: [
        {
          n: 'firstResponse',
          s: i < 8 ? ('met' as const) : ('breached' as const),
          l: '3.1.3',
          ...(i < 8 ? { ms: 60_000 } : {}),
        },
      ],
    }));
    expect(reportOf(policy, facts).suggestions).toEqual([
      {
        rule: 'deadline-attainment',
        when: 'a deadline met in less than 95% of at least 10 concluded cases',
        clause: '3.1.3',
        text: 'first responses were on time in 80% of 10 cases (target 95%, clause 3.1.3): staff the busiest intake hours, or let agents send a holding reply first.',
        figures: { deadline: 'firstResponse', met: 8, breached: 2, attainment: 0.8, target: 0.95 },
      },
    ]);
    // Nine concluded cases are too few to say.
    expect(reportOf(policy, facts.slice(1)).suggestions).toEqual([]);
  });

  it('a target set in the policy moves the line', () => {
    const doc = exampleDocument();
    doc.reports = { targets: { attainment: 0.75, satisfaction: 2, reopenRate: 0.5 } };
    const lenient = parsePolicy(doc, 'lenient');
    const facts = times(10, (i) => ({
      ...base,
      k: [{ n: 'firstResponse', s: i < 8 ? ('met' as const) : ('breached' as const), l: '3.1.3' }],
    }));
    expect(reportOf(lenient, facts).suggestions).toEqual([]);
  });

  it('themes rising, satisfaction low, reopens high, outages excusing, a department missing hand-offs, escalations up', () => {
    const opened = times(20, (i) => ({ ...base, w: i < 6 ? ['退款', 'invoice'] : ['invoice'] }));
    const before = times(20, () => ({ ...base, d: '2026-10-27', o: '2026-10-27', w: ['invoice'] }));
    const surveys = times(5, (i) => ({
      ...base,
      e: 'SURVEY_RESULT',
      s: [i < 4 ? 2 : 5, i < 2 ? 1 : 0] as [number, 0 | 1],
    }));
    const resolved = times(10, () => ({ ...base, e: 'RESOLVE', f: 'verified', t: 'resolved' }));
    const reopened = times(2, () => ({ ...base, e: 'REOPEN', f: 'resolved', t: 'verified' }));
    const excused = times(3, () => ({
      ...base,
      e: 'EXCUSE',
      k: [{ n: 'initialNotice', s: 'excused' as const, l: '3.1.3' }],
    }));
    const handoffs = times(4, (i) => ({
      ...base,
      e: i < 2 ? 'DEADLINE' : 'HANDOFF_ACCEPT',
      k: [
        {
          n: 'handoff',
          s: i < 2 ? ('breached' as const) : ('met' as const),
          l: '3.2.3',
          dep: 'legal',
          ...(i < 2 ? {} : { ms: 600_000 }),
        },
      ],
    }));
    const escalated = times(7, () => ({
      ...base,
      e: 'FLAG',
      t: 'escalated',
      x: { tr: 'legal_dispute', dep: 'legal', lvl: 1, cl: '1', first: 1 as const },
    }));
    const report = reportOf(
      policy,
      [...opened, ...surveys, ...resolved, ...reopened, ...excused, ...handoffs, ...escalated],
      before,
    );
    expect(report.suggestions.map((s) => [s.rule, s.clause, s.text])).toEqual([
      [
        'handoff-breaches',
        '3.2.3',
        '法务部 let 2 of 4 hand-offs pass the acceptance time (clause 3.2.3): agree a receiving rota or a deputy with 法务部.',
      ],
      [
        'rising-theme',
        '3.3',
        '“退款” came up in 6 cases, new this period: look for a common cause and fix it at the source.',
      ],
      [
        'dominant-theme',
        '3.3',
        "“invoice” came up in 100% of the period's cases: publish an answer customers can find by themselves.",
      ],
      [
        'low-satisfaction',
        '5.2',
        'satisfaction averaged 2.6 over 5 responses (target 4); 2 came with a comment: read them and act on the most common complaint.',
      ],
      [
        'reopen-rate',
        '3.2.1',
        '20% of resolutions were reopened (2 of 10; target at most 10%): confirm the result with the customer before closing.',
      ],
      [
        'excused-breaches',
        '6.2',
        '3 missed deadlines were excused by declared outages (6.2): review the reliability of the systems customer service depends on.',
      ],
      [
        'escalation-rate-rise',
        '3.2.3',
        'the escalation rate rose from 0% to 35%: check which triggers grew (see escalations by trigger).',
      ],
    ]);
    for (const s of report.suggestions) expect(s.when.length).toBeGreaterThan(10);
  });
});

describe('the report fact of an event (pure, from the case before and after)', () => {
  const policy = testPolicy();

  it('never throws, never carries personal data, and its folded state counts follow the case', () => {
    const customer = {
      id: 'cust-88-walrus',
      name: 'Walrus Thompson',
      phone: '+44 20 7946 0958',
      email: 'walrus.t@example.org',
    };
    const step = fc.record({ pick: fc.nat(), gapMinutes: fc.integer({ min: 1, max: 600 }) });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
        const c = new PureCase({
          customer,
          subject: 'Walrus Thompson: refund of a late fee',
          description: 'walrus.t@example.org called from +44 20 7946 0958 about a fee',
        });
        const facts: Fact[] = [];
        const audit = (event: string, from: string | null, to: string, at: number, data?: object) => ({
          at: new Date(at).toISOString(),
          actor: AGENT,
          event,
          from,
          to,
          clause: '2.1',
          ...(data ? { data } : {}),
        });
        facts.push(reportFact(policy, undefined, c.context, audit('OPEN', null, c.state, T0)) as Fact);
        for (const s of steps) {
          const candidates = candidateEvents(c.context);
          const event = candidates[s.pick % candidates.length] as (typeof candidates)[number];
          const before: CaseContext = c.context;
          const from = c.state;
          const at = event.type === 'DEADLINE' ? timeFor(before, event) : before.updatedAt + s.gapMinutes * 60_000;
          if (c.send(event, at, event.type === 'DEADLINE' ? { name: 't', role: 'system' } : AGENT)) continue;
          const { type, ...data } = event;
          facts.push(reportFact(policy, before, c.context, audit(type, from, c.state, at, data)) as Fact);
        }
        const text = JSON.stringify(facts).toLowerCase();
        for (const part of ['walrus', 'thompson', '7946', 'example.org', 'cust-88']) expect(text).not.toContain(part);
        // The cohort's state counters end at exactly one case, in its current state.
        const { counters } = aggregate(facts);
        const day = [...counters.values()];
        const states = new Map<string, number>();
        for (const fields of day)
          for (const [k, v] of fields) if (k.startsWith('st:')) states.set(k, (states.get(k) ?? 0) + v);
        expect([...states].filter(([, v]) => v !== 0)).toEqual([[F.state(c.state), 1]]);
      }),
      { numRuns: 150 },
    );
  });

  it('a warning timer is counted apart from the deadline firing (DEADLINE_WARNING), with no outcome', () => {
    const clocks = testPolicy({}, 1, { clocks: true });
    const c = new PureCase({}, clocks);
    const clock = c.context.deadlines.firstResponse as NonNullable<CaseContext['deadlines'][string]>;
    const before = c.context;
    const warning = { type: 'DEADLINE', name: 'firstResponse', epoch: clock.epoch, warning: 0 } as const;
    expect(c.send(warning, clock.warnAt as number, SYSTEM)).toBeUndefined();
    const { type: _t, ...data } = warning;
    const fact = reportFact(clocks, before, c.context, {
      at: new Date(clock.warnAt as number).toISOString(),
      actor: SYSTEM,
      event: 'DEADLINE',
      from: 'received',
      to: 'received',
      clause: '3.1.3',
      data,
    });
    expect(fact).toMatchObject({ e: 'DEADLINE_WARNING', f: 'received', t: 'received' });
    expect(fact?.k).toBeUndefined();
  });

  it('a policy can turn reports off: no fact at all', () => {
    const doc = exampleDocument();
    doc.reports = { enabled: false };
    const off = parsePolicy(doc, 'off');
    const c = new PureCase({}, off);
    expect(
      reportFact(off, undefined, c.context, {
        at: new Date(T0).toISOString(),
        actor: AGENT,
        event: 'OPEN',
        from: null,
        to: 'received',
        clause: '2.1',
      }),
    ).toBeUndefined();
  });
});

describe('the reports: section of a policy', () => {
  it('is optional: the defaults apply, and a policy without it is unchanged', () => {
    const policy = testPolicy();
    expect(policy.reports).toBeUndefined();
    expect(reportSettings(policy)).toEqual({
      enabled: true,
      periods: ['daily', 'weekly', 'monthly'],
      at: '00:30',
      weekStart: 'monday',
      retentionDays: 400,
      targets: { attainment: 0.95, satisfaction: 4, reopenRate: 0.1 },
    });
  });

  it('names the field and the rule of every error', () => {
    const doc = exampleDocument();
    doc.reports = {
      periods: ['daily', 'hourly', 'daily'],
      at: '24:00',
      retentionDays: 10,
      targets: { attainment: 95 },
      colour: 'red',
    };
    expect(() => parsePolicy(doc, 'bad.yaml')).toThrow(
      expect.objectContaining({
        errors: expect.arrayContaining([
          { path: 'reports.periods.1', message: 'one of daily, weekly, monthly' },
          { path: 'reports.at', message: 'a local time HH:MM such as "00:30"' },
          { path: 'reports.retentionDays', message: 'at least 35' },
          { path: 'reports.targets.attainment', message: 'at most 1 (a share, e.g. 0.95)' },
        ]),
      }),
    );
    doc.reports = { periods: ['daily', 'daily'] };
    expect(() => parsePolicy(doc, 'bad.yaml')).toThrow(/reports\.periods: lists a period twice/);
    doc.reports = { colour: 'red' };
    expect(() => parsePolicy(doc, 'bad.yaml')).toThrow(/reports.*colour/);
  });
});

describe('CSV and HTML output', () => {
  const policy = testPolicy();
  // Two cases raise the same terms: a term one case raised is not listed.
  const hostile: Fact = { ...base, w: ['=cmd', '<img src=x onerror=alert(1)>', 'a,"b"\nc'] };

  it('CSV: quoted per RFC 4180, with a byte-order mark, and no cell a spreadsheet would run as a formula', () => {
    const csv = reportCsv(reportOf(policy, [hostile, hostile]));
    expect(csv.startsWith('\uFEFFsection,metric,dimension,value\r\n')).toBe(true);
    const rows = parseCsv(csv);
    const terms = rows.filter((r) => r[0] === 'themes' && r[1] === 'count').map((r) => r[2]);
    expect(terms).toContain('term==cmd');
    expect(terms).toContain('term=a,"b"\nc');
    expect(rows.every((r) => r.length === 4)).toBe(true);
    for (const cell of rows.flat()) expect(/^[=+@\t\r]|^-\D/.test(cell), cell).toBe(false);
    // A cell that would start a formula is prefixed with an apostrophe.
    const rising = reportOf(
      policy,
      times(5, () => ({ ...base, w: ['=cmd'] })),
    );
    const suggestion = {
      ...rising,
      suggestions: [{ ...(rising.suggestions[0] as Report['suggestions'][number]), text: '=HYPERLINK("x")' }],
    };
    expect(parseCsv(reportCsv(suggestion)).find((r) => r[1] === 'text')?.[3]).toBe(`'=HYPERLINK("x")`);
  });

  it('HTML: every text escaped; no script, no outside reference', () => {
    const html = reportHtml(reportOf(policy, [hostile, hostile]));
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).not.toMatch(/<script|<link|<img|src=["']?http|href=["']?http|@import|url\(/i);
  });
});

describe('themes and personal data', () => {
  it('lists a term only when at least two cases raised it: a word one case used (a name) never appears', () => {
    const policy = testPolicy();
    const one: Fact = { ...base, w: ['wang', 'xiaoming', 'refund'] };
    const two: Fact = { ...base, w: ['refund'] };
    const report = reportOf(policy, [one, two]);
    expect(report.themes.map((t) => t.term)).toEqual(['refund']);
    expect(JSON.stringify(report)).not.toContain('xiaoming');
  });
});
