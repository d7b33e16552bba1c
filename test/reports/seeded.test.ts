import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportCsv } from '../../src/reports/csv.ts';
import { reportHtml } from '../../src/reports/html.ts';
import { Reports } from '../../src/reports/reports.ts';
import { reportSchema } from '../../src/reports/schema.ts';
import { SYSTEM_ACTOR } from '../../src/runtime.ts';
import { closeRuntime } from '../support/runtime.ts';
import { figuresOf, parseCsv } from './csv-parse.ts';
import { at, CANARY, CONTRACT, type Seeded, seed } from './seed.ts';

// The seeded data set (seed.ts) through the real engine, the commit's facts, the fold and the report:
// every figure checked against what the cases did.

const GENERATED = Date.parse('2026-11-04T01:00:00Z');
const PERIOD = { from: '2026-11-02', to: '2026-11-03' };
const FORBIDDEN = [
  CANARY.name,
  CANARY.namePart,
  CANARY.latinName,
  CANARY.latinPart,
  'Quoxbury',
  'zyxwv',
  CANARY.email,
  CANARY.emailPart,
  'canary',
  CANARY.phone,
  CANARY.phoneDigits,
  '1391234',
  CANARY.id,
];

let seeded: Seeded;
let reports: Reports;
let factsBeforeFold: string[];

const turnaround = (
  count: number,
  meanMs: number | null,
  p: [number, number, number] | null,
  histogram: [number, number][],
) => ({
  count,
  meanMs,
  p50Ms: p?.[0] ?? null,
  p90Ms: p?.[1] ?? null,
  p99Ms: p?.[2] ?? null,
  histogram: histogram.map(([leMs, n]) => ({ leMs, count: n })),
});
const none = turnaround(0, null, null, []);
const deadline = (
  name: string,
  clause: string,
  [met, breached, excused, cancelled]: [number, number, number, number],
  attainment: number | null,
  previousAttainment: number | null,
  t = none,
) => ({ name, clause, met, breached, excused, cancelled, attainment, previousAttainment, turnaround: t });
const MIN = 60_000;

/** What the seeded cases did in 2026-11-02..03 (and 11-01 for the comparison), figure by figure. */
const EXPECTED = {
  schema: 'intervene.report/v1',
  contract: { id: CONTRACT, name: '某某服务主合同', version: 1 },
  timezone: 'Asia/Shanghai',
  period: {
    kind: 'custom',
    from: '2026-11-02',
    to: '2026-11-03',
    days: 2,
    start: '2026-11-01T16:00:00.000Z',
    end: '2026-11-03T16:00:00.000Z',
  },
  previousPeriod: { from: '2026-10-31', to: '2026-11-01' },
  generatedAt: '2026-11-04T01:00:00.000Z',
  pendingFacts: 0,
  volume: {
    // C1..C5 opened in the period; P1, P2 the day before.
    opened: 5,
    previous: 2,
    byCategory: [
      { category: 'complaint', count: 2, previous: 1 },
      { category: 'fee_waiver', count: 1, previous: 0 },
      { category: 'inquiry', count: 1, previous: 1 },
      { category: 'small_claim', count: 1, previous: 0 },
    ],
    byChannel: [
      { channel: 'phone', count: 3, previous: 1 },
      { channel: 'chat', count: 1, previous: 1 },
      { channel: 'email', count: 1, previous: 0 },
    ],
    // Now: C1 closed, C2 and C4 resolved, C3 and C5 escalated. Entered: OPEN into received (C1, C3, C4,
    // C5) or escalated (C2); VERIFY x2, C4's reply and reopen back to verified; C3 missed, C5 flagged.
    byState: [
      { state: 'received', current: 0, entered: 4 },
      { state: 'verified', current: 0, entered: 4 },
      { state: 'coordinating', current: 0, entered: 1 },
      { state: 'awaitingCustomer', current: 0, entered: 0 },
      { state: 'escalated', current: 2, entered: 3 },
      { state: 'resolved', current: 2, entered: 4 },
      { state: 'closed', current: 1, entered: 1 },
    ],
    events: [
      { type: 'CLOSE', count: 1 },
      { type: 'COORDINATE', count: 1 },
      { type: 'DEADLINE', count: 2 },
      { type: 'DEPARTMENT_REPLY', count: 1 },
      { type: 'ESCALATION_RESOLVE', count: 1 },
      { type: 'FLAG', count: 1 },
      { type: 'HANDOFF_ACCEPT', count: 2 },
      { type: 'OPEN', count: 5 },
      { type: 'REOPEN', count: 1 },
      { type: 'RESOLVE', count: 3 },
      { type: 'RESPOND', count: 2 },
      { type: 'SURVEY_RESULT', count: 2 },
      { type: 'VERIFY', count: 2 },
    ],
  },
  deadlines: [
    // Met: C1 5 min, C2 at intake (0), C4 10 min, C5 5 min (the flag escalates and tells the customer);
    // C3 missed. Before: P2 met, P1 missed.
    deadline(
      'firstResponse',
      '3.1.3',
      [4, 1, 0, 0],
      0.8,
      0.5,
      turnaround(
        4,
        5 * MIN,
        [5 * MIN, 10 * MIN, 10 * MIN],
        [
          [10_000, 1],
          [5 * MIN, 2],
          [10 * MIN, 1],
        ],
      ),
    ),
    // Met: C1 30 min, C2 0, C3 15 min (its escalation told the customer), C4 30 min twice (coordinate;
    // after the reopen re-armed it), C5 5 min.
    deadline(
      'initialNotice',
      '3.1.3',
      [6, 0, 0, 0],
      1,
      1,
      turnaround(
        6,
        1_100_000,
        [15 * MIN, 30 * MIN, 30 * MIN],
        [
          [10_000, 1],
          [5 * MIN, 1],
          [15 * MIN, 1],
          [30 * MIN, 3],
        ],
      ),
    ),
    // C2 accepted in 30 min; C3 missed at team_lead, climbed, accepted by contract_management in 45 min.
    deadline(
      'handoff',
      '3.2.3',
      [2, 1, 0, 0],
      2 / 3,
      null,
      turnaround(
        2,
        2_250_000,
        [30 * MIN, 45 * MIN, 45 * MIN],
        [
          [30 * MIN, 1],
          [45 * MIN, 1],
        ],
      ),
    ),
    deadline(
      'coordination',
      '3.2.2',
      [1, 0, 0, 0],
      1,
      null,
      turnaround(1, 120 * MIN, [120 * MIN, 120 * MIN, 120 * MIN], [[120 * MIN, 1]]),
    ),
    // Surveys 30 min after C1's and C4's first resolutions.
    deadline(
      'followUp',
      '2.2.5',
      [2, 0, 0, 0],
      1,
      null,
      turnaround(2, 30 * MIN, [30 * MIN, 30 * MIN, 30 * MIN], [[30 * MIN, 2]]),
    ),
  ],
  breaches: {
    real: 2,
    excused: 0,
    byDeadline: [
      { deadline: 'firstResponse', clause: '3.1.3', real: 1, excused: 0 },
      { deadline: 'handoff', clause: '3.2.3', real: 1, excused: 0 },
    ],
  },
  escalations: {
    // C2 (beyond authority, at intake), C3 (missed deadline), C5 (legal dispute) of 5; before: P1 of 2.
    escalatedCases: 3,
    rate: 0.6,
    previousRate: 0.5,
    byTrigger: [
      { trigger: 'legal_dispute', cases: 1, rate: 0.2, handoffs: 1 },
      { trigger: 'core_term_change', cases: 0, rate: 0, handoffs: 0 },
      { trigger: 'major_breach', cases: 0, rate: 0, handoffs: 0 },
      { trigger: 'customer_requests_management', cases: 0, rate: 0, handoffs: 0 },
      { trigger: 'beyond_authority', cases: 1, rate: 0.2, handoffs: 1 },
      { trigger: 'deadline_missed', cases: 1, rate: 0.2, handoffs: 2 },
    ],
    handoffs: 4,
    byRoute: [
      { trigger: 'beyond_authority', department: 'contract_management', handoffs: 1 },
      { trigger: 'deadline_missed', department: 'contract_management', handoffs: 1 },
      { trigger: 'deadline_missed', department: 'team_lead', handoffs: 1 },
      { trigger: 'legal_dispute', department: 'legal', handoffs: 1 },
    ],
    byLevel: [
      { level: 1, handoffs: 3 },
      { level: 2, handoffs: 1 },
    ],
    beyondAuthority: [{ category: 'fee_waiver', escalations: 1, aboveLimit: 1 }],
    handoffTurnaround: [
      {
        department: 'contract_management',
        breached: 0,
        ...turnaround(
          2,
          2_250_000,
          [30 * MIN, 45 * MIN, 45 * MIN],
          [
            [30 * MIN, 1],
            [45 * MIN, 1],
          ],
        ),
      },
      { department: 'team_lead', breached: 1, ...none },
    ],
  },
  coordination: {
    requests: 1,
    replies: 1,
    turnaround: [
      {
        department: 'finance',
        breached: 0,
        ...turnaround(1, 120 * MIN, [120 * MIN, 120 * MIN, 120 * MIN], [[120 * MIN, 1]]),
      },
    ],
  },
  adjustments: {
    count: 2,
    totals: [{ currency: 'CNY', count: 2, amount: '170.50' }],
    byRole: [
      { role: 'agent', currency: 'CNY', count: 1, amount: '120.00' },
      { role: 'supervisor', currency: 'CNY', count: 1, amount: '50.50' },
    ],
  },
  reopens: { reopened: 1, resolved: 4, rate: 0.25 },
  satisfaction: {
    responses: 2,
    average: 3.5,
    previousAverage: null,
    distribution: [
      { score: 1, count: 0 },
      { score: 2, count: 1 },
      { score: 3, count: 0 },
      { score: 4, count: 0 },
      { score: 5, count: 1 },
    ],
    comments: 1,
  },
  themes: [
    // refund: C1, C4, C5 (before: P1); invoice: C1, C4 (before: P1, P2); 账单: C2, C3; 退款: C3, C4.
    { term: 'refund', count: 3, previous: 1, change: 2, trend: 'up' },
    { term: 'invoice', count: 2, previous: 2, change: 0, trend: 'same' },
    { term: '账单', count: 2, previous: 0, change: 2, trend: 'new' },
    { term: '退款', count: 2, previous: 0, change: 2, trend: 'new' },
    // A term one case raised (arrived, broken, …) is not listed: a word that came up once may name a person.
  ],
  suggestions: [],
};

beforeAll(async () => {
  seeded = await seed();
  const { rt } = seeded;
  factsBeforeFold = [];
  for (let p = 0; p < rt.store.keys.partitions; p++) {
    for (const [, fields] of await rt.redis.xrange(`${rt.store.keys.tag(p)}:facts`, '-', '+')) {
      factsBeforeFold.push(fields[1] as string);
    }
  }
  reports = new Reports({ store: rt.store, policies: rt.policies, clock: () => GENERATED });
});
afterAll(async () => {
  if (seeded) await closeRuntime(seeded.rt);
});

describe('the seeded data set (3.3, 5.2)', () => {
  it('the commit wrote one fact per accepted event, without personal data', () => {
    // P1 2, P2 2, C1 6, C2 3, C3 4, C4 9, C5 2.
    expect(factsBeforeFold).toHaveLength(28);
    for (const fact of factsBeforeFold) for (const value of FORBIDDEN) expect(fact).not.toContain(value);
    const c3 = factsBeforeFold.map((f) => JSON.parse(f)).filter((f) => f.h === 'email');
    expect(c3.map((f) => f.e)).toEqual(['OPEN', 'DEADLINE', 'DEADLINE', 'HANDOFF_ACCEPT']);
    expect(c3[0].w).toEqual(['账单', '退款', '三天']);
  });

  it('reports every figure as the cases did it', async () => {
    const report = await reports.render(CONTRACT, PERIOD);
    expect(reportSchema.parse(report)).toEqual(report);
    expect(report).toEqual(EXPECTED);
  });

  it('folded every fact and trimmed the streams; a second render counts nothing twice', async () => {
    const { rt } = seeded;
    for (let p = 0; p < rt.store.keys.partitions; p++) {
      expect(await rt.redis.xlen(`${rt.store.keys.tag(p)}:facts`)).toBe(0);
    }
    expect(await reports.render(CONTRACT, PERIOD)).toEqual(EXPECTED);
  });

  it('keeps no personal data in the aggregates, the JSON, the CSV or the HTML (4.2)', async () => {
    const { rt } = seeded;
    const report = await reports.render(CONTRACT, PERIOD);
    const outputs = [JSON.stringify(report), reportCsv(report), reportHtml(report)];
    const stored: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await rt.redis.scan(cursor, 'MATCH', `${rt.config.INTERVENE_PREFIX}*report*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await rt.redis.type(key);
        if (type === 'hash') stored.push(JSON.stringify(await rt.redis.hgetall(key)));
        if (type === 'zset') stored.push(JSON.stringify(await rt.redis.zrange(key, '0', '-1')));
        stored.push(key);
      }
    } while (cursor !== '0');
    expect(stored.length).toBeGreaterThan(4);
    for (const text of [...outputs, ...stored]) {
      for (const value of FORBIDDEN) expect(text.toLowerCase()).not.toContain(value.toLowerCase());
    }
  });

  it('the CSV parses back (RFC 4180) to exactly the figures of the JSON', async () => {
    const report = await reports.render(CONTRACT, PERIOD);
    const rows = parseCsv(reportCsv(report));
    expect(rows[0]).toEqual(['section', 'metric', 'dimension', 'value']);
    const csv = new Map(rows.slice(1).map((r) => [`${r[0]}|${r[1]}|${r[2]}`, r[3] as string]));
    expect(rows.slice(1).every((r) => r.length === 4)).toBe(true);
    expect(csv).toEqual(figuresOf(report));
    expect(csv.get('volume|opened|')).toBe('5');
    expect(csv.get('deadlines|attainment|name=firstResponse;clause=3.1.3')).toBe('0.8');
    expect(csv.get('themes|count|term=退款')).toBe('2');
    expect(csv.get('adjustments.totals|amount|currency=CNY')).toBeUndefined();
    expect(csv.get('adjustments|totals.amount|currency=CNY')).toBe('170.50');
    expect(csv.get('satisfaction|average|')).toBe('3.5');
  });

  it('an empty period has zeros, no rates and no suggestions', async () => {
    const report = await reports.render(CONTRACT, { from: '2026-11-10', to: '2026-11-12' });
    expect(report.period).toMatchObject({ kind: 'custom', days: 3 });
    expect(report.previousPeriod).toEqual({ from: '2026-11-07', to: '2026-11-09' });
    expect(report.volume).toEqual({
      opened: 0,
      previous: 0,
      byCategory: [],
      byChannel: [],
      byState: EXPECTED.volume.byState.map((s) => ({ state: s.state, current: 0, entered: 0 })),
      events: [],
    });
    expect(report.deadlines).toEqual(
      EXPECTED.deadlines.map((d) => deadline(d.name, d.clause, [0, 0, 0, 0], null, null)),
    );
    expect(report.breaches).toEqual({ real: 0, excused: 0, byDeadline: [] });
    expect(report.escalations).toEqual({
      escalatedCases: 0,
      rate: null,
      previousRate: null,
      byTrigger: EXPECTED.escalations.byTrigger.map((t) => ({ trigger: t.trigger, cases: 0, rate: null, handoffs: 0 })),
      handoffs: 0,
      byRoute: [],
      byLevel: [],
      beyondAuthority: [],
      handoffTurnaround: [],
    });
    expect(report.coordination).toEqual({ requests: 0, replies: 0, turnaround: [] });
    expect(report.adjustments).toEqual({ count: 0, totals: [], byRole: [] });
    expect(report.reopens).toEqual({ reopened: 0, resolved: 0, rate: null });
    expect(report.satisfaction).toEqual({
      responses: 0,
      average: null,
      previousAverage: null,
      distribution: [1, 2, 3, 4, 5].map((score) => ({ score, count: 0 })),
      comments: 0,
    });
    expect(report.themes).toEqual([]);
    expect(report.suggestions).toEqual([]);
    // The empty report renders in every format.
    expect(parseCsv(reportCsv(report)).length).toBeGreaterThan(50);
    expect(reportHtml(report)).toContain('no data in this period');
  });

  it('a single day is a daily report compared with the day before; the previous day shows P1 and P2', async () => {
    const report = await reports.render(CONTRACT, { from: '2026-11-01', to: '2026-11-01' });
    expect(report.period.kind).toBe('daily');
    expect(report.previousPeriod).toEqual({ from: '2026-10-31', to: '2026-10-31' });
    expect(report.volume.opened).toBe(2);
    expect(report.deadlines[0]).toMatchObject({ name: 'firstResponse', met: 1, breached: 1, attainment: 0.5 });
    // invoice: P1 and P2; P1's and P2's other terms came up once each, so they are not listed.
    expect(report.themes).toEqual([{ term: 'invoice', count: 2, previous: 0, change: 2, trend: 'new' }]);
  });

  it('a breach excused later by a declared outage moves from real to excused, on the day it was counted (6.2)', async () => {
    const { rt, cases, setNow } = seeded;
    // Declared on 11-04: the system was down 11:05-11:10 on 11-02, inside C3's first-response time.
    setNow(at('11-04', '09:00'));
    const outage = {
      id: 'o-1',
      start: at('11-02', '11:05'),
      end: at('11-02', '11:10'),
      reason: 'system_failure' as const,
    };
    await rt.engine.apply(cases.C3 as string, { type: 'EXCUSE', outage }, SYSTEM_ACTOR);
    const found = await rt.engine.get(cases.C3 as string);
    expect(found?.stored.context.deadlines.firstResponse?.status).toBe('excused');
    const report = await reports.render(CONTRACT, PERIOD);
    expect(report.deadlines[0]).toEqual(
      deadline('firstResponse', '3.1.3', [4, 0, 1, 0], 1, 0.5, EXPECTED.deadlines[0]?.turnaround),
    );
    expect(report.breaches).toEqual({
      real: 1,
      excused: 1,
      byDeadline: [
        { deadline: 'firstResponse', clause: '3.1.3', real: 0, excused: 1 },
        { deadline: 'handoff', clause: '3.2.3', real: 1, excused: 0 },
      ],
    });
    // Everything else is as it was; the EXCUSE event itself happened on 11-04, outside the period.
    expect({ ...report, deadlines: [], breaches: null }).toEqual({ ...EXPECTED, deadlines: [], breaches: null });
    const later = await reports.render(CONTRACT, { from: '2026-11-04', to: '2026-11-04' });
    expect(later.volume.events).toEqual([{ type: 'EXCUSE', count: 1 }]);
    expect(later.breaches).toEqual({ real: 0, excused: 0, byDeadline: [] });
  });
});
