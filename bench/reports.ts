import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { initialTransition, transition } from 'xstate';
import { parse } from 'yaml';
import { createCaseMachine } from '../machines/case.machine.ts';
import type { CaseContext, MachineEvent } from '../machines/types.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { type Policy, parsePolicy } from '../src/policy/policy.ts';
import { aggregate } from '../src/reports/aggregate.ts';
import { type Fact, reportFact } from '../src/reports/facts.ts';
import { eachDay } from '../src/reports/periods.ts';
import { formatReport, Reports } from '../src/reports/reports.ts';
import { createRuntime, type Runtime } from '../src/runtime.ts';
import { type RedisServer, startRedisServer } from '../src/store/redis.ts';
import type { DayWrite } from '../src/store/report-store.ts';
import { dummySecrets, envInt, fmtInt, info, LIFE, lanes, openInput, out, round, SERVICE, spread } from './lib.ts';

// Service-data reports (issue 7), measured: (1) the hot-path cost of the report fact (the pure function,
// and engine.apply with facts on vs off), (2) fold throughput, (3) a month of 1,000,000 cases: render time
// and Redis memory of the aggregates. Not part of `npm test`; `node --max-semi-space-size=64 --import tsx bench/reports.ts`.
// BENCH_REPORT_CASES (default 1,000,000 per month), BENCH_REPORT_MONTHS (2: the month and the one before,
// which the report compares with), BENCH_AB_CASES (1,500 per round), BENCH_REDIS_URL.

const CASES_PER_MONTH = envInt('BENCH_REPORT_CASES', 1_000_000);
const MONTHS = envInt('BENCH_REPORT_MONTHS', 2);
const AB_CASES = envInt('BENCH_AB_CASES', 1_500);
const CONCURRENCY = 50;

let server: RedisServer | undefined;
let redisDir: string | undefined;
let url = process.env.BENCH_REDIS_URL;
if (!url) {
  redisDir = mkdtempSync(join(tmpdir(), 'intervene-bench-reports-redis-'));
  server = await startRedisServer(redisDir);
  url = server.url;
}
const redisUrl: string = url;
const varDir = mkdtempSync(join(tmpdir(), 'intervene-bench-reports-var-'));
process.once('exit', () => {
  server?.kill('SIGKILL');
  for (const dir of [redisDir, varDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});
const admin = new Redis(redisUrl);
const log = createLogger('warn', process.stderr);
const usedMemory = async () => Number((await info(admin, 'memory')).used_memory);

out('Intervene benchmark: service-data reports');
out(
  `machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown cpu'}), ${round(totalmem() / 2 ** 30)} GiB, node ${process.version}, redis ${(await info(admin, 'server')).redis_version}`,
);

/** The example policy on wall clocks (so the workload does not depend on the hour), reports on or off. */
function policyWith(reports: boolean): Policy {
  const doc = parse(readFileSync(new URL('../policies/example.yaml', import.meta.url), 'utf8')) as Record<string, any>;
  for (const d of Object.values(doc.deadlines) as Record<string, unknown>[]) {
    d.clock = 'calendar';
    delete d.calendar;
  }
  doc.warnings = { at: [] };
  if (!reports) doc.reports = { enabled: false };
  return parsePolicy(doc, 'bench policy');
}

async function runtime(tag: string, policy: Policy): Promise<Runtime> {
  const config = loadConfig({
    ...dummySecrets(policy),
    INTERVENE_PREFIX: `${tag}:`,
    INTERVENE_QUEUE_PREFIX: `${tag}-bull`,
    INTERVENE_VAR_DIR: varDir,
    LOG_LEVEL: 'warn',
  });
  return createRuntime(config, log, { redisUrl, policies: [policy] });
}

// ---- (1a) the pure fact function -------------------------------------------------------------------

function factCost(): Record<string, number> {
  const policy = policyWith(true);
  const machine = createCaseMachine(policy);
  const t0 = Date.parse('2026-11-25T09:00:00+08:00');
  const actor = { name: 'agent', role: 'agent' } as const;
  const audit = (event: string, from: string | null, to: string) => ({
    at: new Date(t0).toISOString(),
    actor,
    event,
    from,
    to,
    clause: '2.1',
  });
  const opening = (subject: string, description: string) => {
    const open = { ...openInput(policy, 1), subject, description };
    const [snap] = initialTransition(machine, { caseId: 'c1', open, at: t0 });
    return snap;
  };
  const zh = opening(
    '账单多扣了滞纳金，要求退款',
    '客户反映本月账单重复扣除滞纳金，已经联系过两次，希望尽快退款并说明原因。'.repeat(4),
  );
  const en = opening(
    'Late fee charged twice',
    'The customer says the late fee was charged twice on the November invoice and asks for a refund. '.repeat(4),
  );
  const long = opening('账单多扣了滞纳金', '客户反映本月账单重复扣除滞纳金，希望尽快退款。'.repeat(200));
  const [responded] = transition(machine, zh, { type: 'RESPOND', at: t0 + 60_000, actor } as MachineEvent);
  const cases: Record<string, () => unknown> = {
    'OPEN, Chinese, ~200 chars': () =>
      reportFact(policy, undefined, zh.context as CaseContext, audit('OPEN', null, 'received')),
    'OPEN, English, ~400 chars': () =>
      reportFact(policy, undefined, en.context as CaseContext, audit('OPEN', null, 'received')),
    'OPEN, Chinese, 4,600 chars (300 read)': () =>
      reportFact(policy, undefined, long.context as CaseContext, audit('OPEN', null, 'received')),
    RESPOND: () =>
      reportFact(
        policy,
        zh.context as CaseContext,
        responded.context as CaseContext,
        audit('RESPOND', 'received', 'received'),
      ),
  };
  const result: Record<string, number> = {};
  for (const [name, run] of Object.entries(cases)) {
    for (let i = 0; i < 2_000; i++) run();
    const n = 20_000;
    const start = performance.now();
    for (let i = 0; i < n; i++) run();
    result[name] = ((performance.now() - start) * 1000) / n;
    out(`  reportFact ${name}: ${round(result[name] as number, 1)} µs`);
  }
  return result;
}

// ---- (1b) engine.apply with facts on and off ---------------------------------------------------------

const ZH_DESCRIPTION = '客户反映本月账单重复扣除滞纳金，已经联系过两次，希望尽快退款并说明原因。'.repeat(4);

async function abRound(rt: Runtime, offset: number): Promise<{ eventsPerSec: number; cpuUsPerEvent: number }> {
  const policy = rt.policies.all()[0] as Policy;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  await lanes(CONCURRENCY, AB_CASES, async (k) => {
    const i = offset + k;
    // A Chinese intake of ~150 characters: its theme terms are the costly part of a fact.
    const input = { ...openInput(policy, i), subject: '账单多扣了滞纳金，要求退款', description: ZH_DESCRIPTION };
    const { caseId } = await rt.engine.open(input, SERVICE, { idempotencyKey: `ab-${i}` });
    for (const event of LIFE) await rt.engine.apply(caseId, event, SERVICE);
  });
  await rt.dispatcher.flush();
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const events = AB_CASES * (1 + LIFE.length);
  return { eventsPerSec: events / seconds, cpuUsPerEvent: (cpu.user + cpu.system) / events };
}

async function hotPath() {
  out('(1) hot path');
  const pure = factCost();
  const on = await runtime('ab-on', policyWith(true));
  const off = await runtime('ab-off', policyWith(false));
  on.startWorkers(['dispatcher']);
  off.startWorkers(['dispatcher']);
  const runs: Record<'on' | 'off', { eventsPerSec: number; cpuUsPerEvent: number }[]> = { on: [], off: [] };
  await abRound(on, 1_000_000); // warm-up
  await abRound(off, 1_000_000);
  for (let r = 0; r < 3; r++) {
    runs.off.push(await abRound(off, r * AB_CASES));
    runs.on.push(await abRound(on, r * AB_CASES));
  }
  const median = (xs: number[]) => spread(xs).p50;
  const eps = { on: median(runs.on.map((x) => x.eventsPerSec)), off: median(runs.off.map((x) => x.eventsPerSec)) };
  const cpuUs = { on: median(runs.on.map((x) => x.cpuUsPerEvent)), off: median(runs.off.map((x) => x.cpuUsPerEvent)) };
  out(
    `  engine.apply, ${fmtInt(AB_CASES * 8)} events per round, ${CONCURRENCY} cases in flight, median of 3 alternating rounds: ` +
      `facts on ${fmtInt(eps.on)} events/s (Node CPU ${round(cpuUs.on)} µs/event), off ${fmtInt(eps.off)} events/s (${round(cpuUs.off)} µs/event)`,
  );
  out(
    `  rounds on:  ${runs.on.map((x) => fmtInt(x.eventsPerSec)).join(' / ')}; off: ${runs.off.map((x) => fmtInt(x.eventsPerSec)).join(' / ')}`,
  );
  // What an unfolded fact costs in Redis (the stream a stopped reports worker lets grow).
  let facts = 0;
  let bytes = 0;
  for (let p = 0; p < on.store.keys.partitions; p++) {
    const key = `${on.store.keys.tag(p)}:facts`;
    facts += await admin.xlen(key);
    bytes += Number((await admin.memory('USAGE', key, 'SAMPLES', '0')) ?? 0);
  }
  out(`  unfolded facts: ${fmtInt(facts)} in the streams, ${round(bytes / Math.max(1, facts))} B each (MEMORY USAGE)`);
  // (2) fold throughput on what the engine wrote.
  const reports = new Reports({ store: on.store, policies: on.policies });
  const t0 = performance.now();
  const folded = await reports.folder.drain();
  const foldSec = (performance.now() - t0) / 1000;
  out(
    `(2) fold: ${fmtInt(folded)} facts folded in ${round(foldSec, 2)} s = ${fmtInt(folded / foldSec)} facts/s (one process, 16 partitions in parallel)`,
  );
  await on.close();
  await off.close();
  return {
    pureUs: pure,
    eventsPerSecOn: Math.round(eps.on),
    eventsPerSecOff: Math.round(eps.off),
    cpuUsPerEventOn: round(cpuUs.on),
    cpuUsPerEventOff: round(cpuUs.off),
    bytesPerUnfoldedFact: round(bytes / Math.max(1, facts)),
    foldFactsPerSec: Math.round(folded / foldSec),
  };
}

// ---- (3) a month of 1,000,000 cases ------------------------------------------------------------------

/** A small deterministic generator, so runs compare. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    s ^= s + Math.imul(s ^ (s >>> 7), 61);
    return ((s ^ (s >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const pick = <T>(r: number, weighted: readonly [T, number][]): T => {
  let acc = 0;
  for (const [value, w] of weighted) {
    acc += w;
    if (r < acc) return value;
  }
  return (weighted.at(-1) as [T, number])[0];
};

const CATEGORIES: [string, number][] = [
  ['inquiry', 0.35],
  ['complaint', 0.25],
  ['fee_waiver', 0.1],
  ['appointment', 0.1],
  ['small_claim', 0.05],
  ['change_request', 0.05],
  ['suggestion', 0.05],
  ['feedback', 0.05],
];
const CHANNELS: [string, number][] = [
  ['phone', 0.5],
  ['chat', 0.3],
  ['email', 0.2],
];
const TRIGGERS: [string, string, number][] = [
  ['beyond_authority', 'contract_management', 0.5],
  ['customer_requests_management', 'management', 0.25],
  ['legal_dispute', 'legal', 0.15],
  ['major_breach', 'contract_management', 0.1],
];
const VOCABULARY = Array.from({ length: 4_000 }, (_, i) => (i % 2 === 0 ? `term${i}` : `词语${i}`));

/** The facts one synthetic case produces on its day (what the engine would write for it). */
function caseFacts(next: () => number, contract: string, day: string): Fact[] {
  const g = pick(next(), CATEGORIES);
  const h = pick(next(), CHANNELS);
  const base = { c: contract, d: day, o: day, g, h, l: '3.1.3', r: 'agent' };
  const n = 3 + Math.floor(next() * 6);
  const terms = new Set<string>();
  for (let i = 0; i < n; i++) terms.add(VOCABULARY[Math.floor(VOCABULARY.length * next() ** 3)] as string);
  const facts: Fact[] = [{ ...base, e: 'OPEN', f: null, t: 'received', w: [...terms] }];
  const minutes = (lo: number, hi: number) => Math.round((lo + next() * (hi - lo)) * 60_000);
  if (next() < 0.05) {
    facts.push({
      ...base,
      e: 'DEADLINE',
      f: 'received',
      t: 'escalated',
      r: 'system',
      k: [
        { n: 'firstResponse', s: 'breached', l: '3.1.3' },
        { n: 'initialNotice', s: 'met', l: '3.1.3', ms: 900_000 },
      ],
      x: { tr: 'deadline_missed', dep: 'team_lead', lvl: 1, cl: '3.1.3', first: 1 },
    });
    if (next() < 0.2)
      facts.push({
        ...base,
        e: 'EXCUSE',
        f: 'escalated',
        t: 'escalated',
        r: 'system',
        k: [{ n: 'firstResponse', s: 'excused', l: '3.1.3', p: day }],
      });
    facts.push({
      ...base,
      e: 'HANDOFF_ACCEPT',
      f: 'escalated',
      t: 'escalated',
      r: 'department',
      k: [{ n: 'handoff', s: 'met', l: '3.2.3', ms: minutes(5, 110), dep: 'team_lead' }],
    });
    return facts;
  }
  facts.push({
    ...base,
    e: 'RESPOND',
    f: 'received',
    t: 'received',
    k: [{ n: 'firstResponse', s: 'met', l: '3.1.3', ms: minutes(0.2, 14.9) }],
  });
  facts.push({ ...base, e: 'VERIFY', f: 'received', t: 'verified', l: '2.2.2' });
  const fate = next();
  if (fate < 0.2) {
    const [tr, dep] = pick(
      next(),
      TRIGGERS.map(([t, d, w]) => [[t, d], w] as [[string, string], number]),
    );
    facts.push({
      ...base,
      e: 'ESCALATE',
      f: 'verified',
      t: 'escalated',
      l: '3.2.3',
      k: [{ n: 'initialNotice', s: 'met', l: '3.1.3', ms: minutes(5, 120) }],
      x: { tr, dep, lvl: 1, cl: '3.2.3', first: 1 },
      ...(g === 'fee_waiver' && next() < 0.7 ? { b: 1 as const } : {}),
    });
    if (next() < 0.08) {
      facts.push({
        ...base,
        e: 'DEADLINE',
        f: 'escalated',
        t: 'escalated',
        r: 'system',
        k: [{ n: 'handoff', s: 'breached', l: '3.2.3', dep }],
        x: { tr: 'deadline_missed', dep: 'team_lead', lvl: 2, cl: '3.2.3', first: 0 },
      });
    } else {
      facts.push({
        ...base,
        e: 'HANDOFF_ACCEPT',
        f: 'escalated',
        t: 'escalated',
        r: 'department',
        k: [{ n: 'handoff', s: 'met', l: '3.2.3', ms: minutes(5, 115), dep }],
      });
    }
    facts.push({ ...base, e: 'ESCALATION_RESOLVE', f: 'escalated', t: 'resolved', r: 'department' });
    return facts;
  }
  if (fate < 0.3) {
    const dep = next() < 0.5 ? 'finance' : 'tech_support';
    facts.push({
      ...base,
      e: 'COORDINATE',
      f: 'verified',
      t: 'coordinating',
      k: [{ n: 'initialNotice', s: 'met', l: '3.1.3', ms: minutes(5, 200) }],
    });
    facts.push({
      ...base,
      e: 'DEPARTMENT_REPLY',
      f: 'coordinating',
      t: 'verified',
      r: 'department',
      k: [{ n: 'coordination', s: next() < 0.9 ? 'met' : 'breached', l: '3.2.2', ms: minutes(30, 470), dep }],
    });
  }
  const adjusted = (g === 'fee_waiver' || g === 'small_claim') && next() < 0.6;
  facts.push({
    ...base,
    e: 'RESOLVE',
    f: 'verified',
    t: 'resolved',
    l: adjusted ? '2.2.4' : '3.2.1',
    r: next() < 0.8 ? 'agent' : 'supervisor',
    ...(fate >= 0.3
      ? {
          k: [
            {
              n: 'initialNotice',
              s: next() < 0.97 ? ('met' as const) : ('breached' as const),
              l: '3.1.3',
              ms: minutes(5, 230),
            },
          ],
        }
      : {}),
    ...(adjusted ? { a: [100 * Math.round(1 + next() * 499), 'CNY'] as const } : {}),
  });
  if (next() < 0.4)
    facts.push({
      ...base,
      e: 'SURVEY_RESULT',
      f: 'resolved',
      t: 'resolved',
      l: '2.2.5',
      k: [{ n: 'followUp', s: 'met', l: '2.2.5', ms: minutes(60, 4000) }],
      s: [
        pick(next(), [
          [5, 0.45],
          [4, 0.3],
          [3, 0.12],
          [2, 0.08],
          [1, 0.05],
        ]),
        next() < 0.3 ? 1 : 0,
      ],
    });
  if (next() < 0.03) facts.push({ ...base, e: 'REOPEN', f: 'resolved', t: 'verified' });
  else facts.push({ ...base, e: 'CLOSE', f: 'resolved', t: 'closed', l: '3.2.1' });
  return facts;
}

async function month() {
  out(`(3) ${fmtInt(CASES_PER_MONTH)} cases a month, ${MONTHS} month(s) of aggregates`);
  const policy = policyWith(true);
  const rt = await runtime('scale', policy);
  const reports = new Reports({ store: rt.store, policies: rt.policies, catchUpMs: 0 });
  const store = reports.store;
  const partitions = rt.store.keys.partitions;
  const contract = policy.contract.id;
  const november = { from: '2026-11-01', to: '2026-11-30' };
  const months = [november, { from: '2026-10-01', to: '2026-10-31' }].slice(0, MONTHS);
  const memory0 = await usedMemory();
  let facts = 0;
  let cases = 0;
  let foldMs = 0;
  let aggregateMs = 0;
  const cursors = new Array<string>(partitions).fill('');
  let seq = 0;
  const gen0 = performance.now();
  for (const range of months) {
    const days = eachDay(range);
    const perPartitionDay = Math.round(CASES_PER_MONTH / days.length / partitions);
    for (const [d, day] of days.entries()) {
      for (let p = 0; p < partitions; p++) {
        const next = rng((d + 1) * 7919 + p * 104_729 + (range === november ? 0 : 1_000_003));
        const batch: Fact[] = [];
        for (let i = 0; i < perPartitionDay; i++) for (const f of caseFacts(next, contract, day)) batch.push(f);
        facts += batch.length;
        cases += perPartitionDay;
        const a0 = performance.now();
        const { counters, terms } = aggregate(batch);
        aggregateMs += performance.now() - a0;
        const writes: DayWrite[] = [];
        const expireAt = Math.floor(Date.now() / 1000) + 7 * 86_400;
        for (const [kind, map] of [
          ['h', counters],
          ['z', terms],
        ] as const) {
          for (const [key, fields] of map) {
            const k = key.slice(key.lastIndexOf('|') + 1);
            writes.push({
              key: kind === 'h' ? store.counters(p, contract, k) : store.terms(p, contract, k),
              kind,
              expireAt,
              fields,
            });
          }
        }
        const next2 = `${++seq}-0`;
        const f0 = performance.now();
        // The fold script itself, as the worker calls it (its cursor advanced like a real batch's).
        if (!(await store.fold(p, cursors[p] as string, next2, writes))) throw new Error('fold lost its cursor');
        foldMs += performance.now() - f0;
        cursors[p] = next2;
      }
    }
  }
  const genSec = (performance.now() - gen0) / 1000;
  const memory1 = await usedMemory();
  out(
    `  generated ${fmtInt(cases)} cases = ${fmtInt(facts)} facts in ${round(genSec, 1)} s; aggregate() ${round((1000 * aggregateMs) / facts, 2)} µs/fact, ` +
      `fold script ${round(foldMs / 1000, 1)} s in total (${fmtInt(facts / (foldMs / 1000))} facts/s folded in pre-aggregated batches)`,
  );
  let keys = 0;
  for (let cursor = '0'; ; ) {
    const [next, batch] = await admin.scan(
      cursor,
      'MATCH',
      `${rt.config.INTERVENE_PREFIX}{p*}:report:*`,
      'COUNT',
      10_000,
    );
    keys += batch.length;
    cursor = next;
    if (cursor === '0') break;
  }
  const sample = await admin.hlen(store.counters(0, contract, '2026-11-15'));
  const zsample = await admin.zcard(store.terms(0, contract, '2026-11-15'));
  out(
    `  aggregates in Redis: ${fmtInt(memory1 - memory0)} B for ${MONTHS * 30} days x ${partitions} partitions (${keys} keys); ` +
      `${fmtInt((memory1 - memory0) / (MONTHS * 30))} B per day; a partition-day: ${sample} counters, ${zsample} terms`,
  );
  const timings: number[] = [];
  let report: Awaited<ReturnType<Reports['render']>> | undefined;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    report = await reports.render(contract, november);
    timings.push(performance.now() - t0);
  }
  const s = spread(timings);
  out(
    `  render November (30 days + October for the comparison), 5 runs: ${timings.map((t) => `${fmtInt(t)} ms`).join(', ')} (median ${fmtInt(s.p50)} ms)`,
  );
  const r = report as NonNullable<typeof report>;
  out(
    `  the report: ${fmtInt(r.volume.opened)} opened (previous ${fmtInt(r.volume.previous)}), first response ${round((r.deadlines[0]?.attainment ?? 0) * 100, 1)}% on time ` +
      `(p90 ${round((r.deadlines[0]?.turnaround.p90Ms ?? 0) / 60_000, 1)} min), breaches ${fmtInt(r.breaches.real)} real / ${fmtInt(r.breaches.excused)} excused, ` +
      `${fmtInt(r.escalations.handoffs)} hand-offs, satisfaction ${r.satisfaction.average}, ${r.themes.length} themes, ${r.suggestions.length} suggestions: ${r.suggestions.map((x) => x.rule).join(', ')}`,
  );
  const t0 = performance.now();
  const html = formatReport(r, 'html');
  const csv = formatReport(r, 'csv');
  out(
    `  HTML ${fmtInt(html.length)} chars and CSV ${fmtInt(csv.length)} chars rendered in ${round(performance.now() - t0, 1)} ms`,
  );
  await rt.close();
  return {
    casesPerMonth: CASES_PER_MONTH,
    factsGenerated: facts,
    aggregateUsPerFact: round((1000 * aggregateMs) / facts, 2),
    aggregateBytes: memory1 - memory0,
    renderMonthMsMedian: Math.round(s.p50),
    renderMonthMsMax: Math.round(s.max),
  };
}

const sections = new Set((process.env.BENCH_SECTIONS || 'hotpath,month').split(','));
const result = {
  ...(sections.has('hotpath') ? { hotPath: await hotPath() } : {}),
  ...(sections.has('month') ? { month: await month() } : {}),
};
out(JSON.stringify(result));
admin.disconnect();
await server?.stop();
process.exit(0);
