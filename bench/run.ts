// `npm run bench`: the figures the engine issue asks for, from one run on one private redis-server
// started with the shipped settings (REDIS_SETTINGS). Not part of `npm test`.
//
//   (1) baseline: read snapshot + pure XState transition + one compare-and-set Lua script, events/s
//   (2) engine.apply through the real runtime (Dispatcher fast path on, deadlines armed, met, paused,
//       resumed and cancelled), events/s, and its ratio to (1); same machine, policy, concurrency
//   (3) deadline lateness for 100,000 deadlines due over 60 s, fired by the real deadline worker into
//       engine.apply, beside raw BullMQ delayed jobs on the same schedule
//   (3b) the same path at lower escalation rates (the highest whose p99 stays within 25 ms), and the timer
//       path alone at (3)'s rate: the fire callback answering without escalating
//   (4) Redis bytes per open case with its armed deadlines (its one wake-up timer, wherever the runtime keeps
//       it: the partition's timers set, or a BullMQ job once promoted)
//
// The last line printed is one JSON object; it is also written to bench/results/latest.json.
// Knobs (environment, for quick runs; the defaults are the issue's figures): BENCH_CONCURRENCY (50),
// BENCH_CASES (cases per throughput round, 3000; 7 events each), BENCH_ROUNDS (3), BENCH_DEADLINES
// (100000), BENCH_WINDOW_MS (60000), BENCH_GAP_MS (15000), BENCH_MEMORY_CASES (20000),
// BENCH_WARM_UP_DEADLINES (3000, fired before the lateness window; 0 for none), BENCH_CAPACITY_RATES
// (400,800,1200 escalations/s for section 3b), BENCH_CAPACITY_WINDOW_MS (10000), BENCH_SECTIONS
// (throughput,lateness,capacity,memory,http; capacity is 3b). INTERVENE_*
// runtime settings (e.g. INTERVENE_DEADLINE_CONCURRENCY) are passed through to the runtime's config.
// BENCH_REDIS_URL uses an existing Redis instead of starting one: the bench FLUSHALLs it between sections.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { missingNodeFlags, NODE_FLAGS } from '../src/node-flags.ts';
import type { Policy } from '../src/policy/policy.ts';
import { createRuntime, type Runtime } from '../src/runtime.ts';
import { commandClient, queueClient, REDIS_SETTINGS, type RedisServer, startRedisServer } from '../src/store/redis.ts';
import { type LoopResult, runBaseline } from './baseline.ts';
import { type HttpFigures, httpBench } from './http.ts';
import {
  benchPolicy,
  benchPolicyFile,
  cpuMeter,
  dummySecrets,
  envInt,
  fmtInt,
  fmtSpread,
  info,
  LIFE,
  LIFE_STATES,
  lanes,
  openInput,
  out,
  round,
  SERVICE,
  type Spread,
  sleep,
  spread,
} from './lib.ts';

const CONCURRENCY = envInt('BENCH_CONCURRENCY', 50);
const CASES = envInt('BENCH_CASES', 3_000);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const DEADLINES = envInt('BENCH_DEADLINES', 100_000);
const WINDOW_MS = envInt('BENCH_WINDOW_MS', 60_000);
const GAP_MS = envInt('BENCH_GAP_MS', 15_000);
const MEMORY_CASES = envInt('BENCH_MEMORY_CASES', 20_000);
// Deadline workers in separate processes (workers/deadlines.ts), as production would scale out. On this
// 2-core machine 2 processes measured worse than 0 (in this process): p99 1,865 ms vs 1,087 ms.
const DEADLINE_PROCESSES = Number(process.env.BENCH_DEADLINE_PROCESSES ?? 0);
const WARM_UP = envInt('BENCH_WARM_UP_DEADLINES', 3_000);
const SECTIONS = new Set((process.env.BENCH_SECTIONS || 'throughput,lateness,capacity,memory,http').split(','));

const benchStart = performance.now();
// The runtime logs warnings and errors into this sink: counted per message and summarized per section
// (e.g. how often the outbox sweep re-dispatched entries), errors also go to stderr.
const logged = new Map<string, { times: number; entries: number }>();
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      const entry = JSON.parse(line) as { level: number; msg: string; entries?: number };
      const seen = logged.get(entry.msg) ?? { times: 0, entries: 0 };
      seen.times++;
      seen.entries += entry.entries ?? 0;
      logged.set(entry.msg, seen);
      if (entry.level >= 50) process.stderr.write(`${line}\n`);
    }
    done();
  },
});
const log = createLogger('warn', sink);
function logSummary(): void {
  for (const [msg, seen] of logged) {
    out(`  runtime log: "${msg}" x${seen.times}${seen.entries > 0 ? ` (${fmtInt(seen.entries)} entries)` : ''}`);
  }
  logged.clear();
}
const progress = (text: string) => process.stderr.write(`  … ${text}\n`);
const elapsed = () => `${round((performance.now() - benchStart) / 1000)} s`;

// ---- Redis ----------------------------------------------------------------------------------------

let server: RedisServer | undefined;
let redisDir: string | undefined;
let url = process.env.BENCH_REDIS_URL;
const redisBinary = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
if (!url) {
  if (!redisBinary) {
    process.stderr.write('bench: redis-server is not on the PATH; install it or set BENCH_REDIS_URL\n');
    process.exit(1);
  }
  redisDir = mkdtempSync(join(tmpdir(), 'intervene-bench-redis-'));
  server = await startRedisServer(redisDir);
  url = server.url;
}
const redisUrl = url;
const admin = new Redis(redisUrl);
const redisVersion = (await info(admin, 'server')).redis_version ?? 'unknown';
const effective: Record<string, string> = {};
for (const name of ['hz', 'appendonly', 'appendfsync', 'maxmemory-policy', 'save', 'rdbcompression', 'maxmemory']) {
  const [, value] = (await admin.config('GET', name)) as [string, string];
  effective[name] = value;
}
const cores = availableParallelism();
const varDir = mkdtempSync(join(tmpdir(), 'intervene-bench-var-'));
// However the bench ends (an error included), its redis-server and temporary directories do not outlive it.
process.once('exit', () => {
  server?.kill('SIGKILL');
  for (const dir of [redisDir, varDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

out('Intervene benchmark');
out(
  `machine: ${cores} cores (${cpus()[0]?.model ?? 'unknown cpu'}), ${round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
);
// The runtime runs in this process: measured with the flags the service is started with (src/node-flags.ts).
const missingFlags = missingNodeFlags();
out(
  missingFlags.length === 0
    ? `node:    ${NODE_FLAGS.join(' ')} (the service's flags, src/node-flags.ts)`
    : `node:    WITHOUT ${missingFlags.join(' ')}, which the service is started with: run it as \`npm run bench\``,
);
out(
  server
    ? `redis:   private redis-server ${redisVersion} (${redisBinary}) at ${redisUrl}, data in ${redisDir}`
    : `redis:   existing Redis ${redisVersion} at ${redisUrl} (BENCH_REDIS_URL)`,
);
out(`         started with REDIS_SETTINGS: ${shellArgs(REDIS_SETTINGS)}`);
out(
  `         effective: ${Object.entries(effective)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ')}`,
);

// ---- runtime ----------------------------------------------------------------------------------------

const OWN_SETTINGS = new Set(['INTERVENE_PREFIX', 'INTERVENE_QUEUE_PREFIX', 'INTERVENE_VAR_DIR', 'INTERVENE_POLICIES']);
const passedThrough = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k.startsWith('INTERVENE_') && !OWN_SETTINGS.has(k)),
);

function benchConfig(tag: string, policy: Policy) {
  return loadConfig({
    ...passedThrough,
    ...dummySecrets(policy),
    INTERVENE_PREFIX: `${tag}:`,
    INTERVENE_QUEUE_PREFIX: `${tag}-bull`,
    INTERVENE_VAR_DIR: varDir,
    LOG_LEVEL: 'warn',
  });
}

/** The real runtime of src/runtime.ts on the bench's Redis, with one policy. */
function runtime(tag: string, policy: Policy): Promise<Runtime> {
  return createRuntime(benchConfig(tag, policy), log, { redisUrl, policies: [policy] });
}

const policy = benchPolicy();
const shipped = benchConfig('x', policy);
out(
  `runtime: partitions ${shipped.INTERVENE_PARTITIONS}, timer lead ${shipped.INTERVENE_TIMER_LEAD_MS} ms, ` +
    `deadline worker concurrency ${shipped.INTERVENE_DEADLINE_CONCURRENCY}, sweep every ${shipped.INTERVENE_SWEEP_INTERVAL_MS} ms` +
    (Object.keys(passedThrough).length > 0 ? ` (from the environment: ${Object.keys(passedThrough).join(', ')})` : ''),
);
const versions = {
  bullmq: packageVersion('bullmq'),
  ioredis: packageVersion('ioredis'),
  xstate: packageVersion('xstate'),
};
out(
  `load:    ${CONCURRENCY} cases in flight; bullmq ${versions.bullmq}, ioredis ${versions.ioredis}, xstate ${versions.xstate}`,
);
out();

/** Arguments as a shell would need them: an empty one as ''. */
function shellArgs(args: readonly string[]): string {
  return args.map((a) => (a === '' ? "''" : a)).join(' ');
}

function packageVersion(name: string): string {
  try {
    const text = readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8');
    return (JSON.parse(text) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function usedMemory(): Promise<number> {
  return Number((await info(admin, 'memory')).used_memory);
}

/** Where the armed wake-up timers are: committed to the partitions' timers sets, or already BullMQ jobs. */
async function timerCounts(rt: Runtime): Promise<{ committed: number; jobs: number; text: string }> {
  let committed = 0;
  for (let p = 0; p < rt.store.keys.partitions; p++) committed += await rt.redis.zcard(rt.store.keys.timers(p));
  const counts = await rt.deadlineQueue.getJobCounts('delayed', 'wait', 'active');
  const jobs = (counts.delayed ?? 0) + (counts.wait ?? 0) + (counts.active ?? 0);
  return {
    committed,
    jobs,
    text: `${fmtInt(committed)} wake-up timers in the timers sets, ${fmtInt(jobs)} deadline jobs in BullMQ`,
  };
}

/** Outbox entries not yet dispatched, over all partitions. */
async function outboxLength(rt: Runtime): Promise<number> {
  let length = 0;
  for (let p = 0; p < rt.store.keys.partitions; p++) length += await rt.redis.xlen(rt.store.keys.outbox(p));
  return length;
}

// ---- (1) and (2): throughput ---------------------------------------------------------------------------

/** CPU time per event: unlike events/s, hardly changed by other processes competing for the cores. */
const perEvent = (cpu: { nodeSec: number; redisSec: number }, events: number) =>
  `cpu per event: node ${round((1e6 * cpu.nodeSec) / events)} µs, redis ${round((1e6 * cpu.redisSec) / events)} µs`;

async function baselineRound(cases: number): Promise<LoopResult & { cpu: string; cpuPerEvent: number }> {
  await admin.flushall();
  const client = commandClient(redisUrl); // the engine's client settings (auto-pipelining on)
  await new Promise((ready) => client.once('ready', ready));
  const meter = await cpuMeter(admin);
  const result = await runBaseline(client, policy, { prefix: 'base:', cases, concurrency: CONCURRENCY });
  const cpu = await meter();
  client.disconnect();
  return {
    ...result,
    cpu: `${cpu.text}; ${perEvent(cpu, result.events)}`,
    cpuPerEvent: (1e6 * cpu.nodeSec) / result.events,
  };
}

async function engineRound(cases: number): Promise<LoopResult & { cpu: string; check: string; cpuPerEvent: number }> {
  await admin.flushall();
  const rt = await runtime('eng', policy);
  rt.startWorkers(['dispatcher']); // the outbox sweep; the fast path (onCommitted) is always on
  const ids: string[] = new Array(cases);
  await lanes(CONCURRENCY, cases, async (i) => {
    ids[i] = (await rt.engine.open(openInput(policy, i), SERVICE, { idempotencyKey: `open-${i}` })).caseId;
  });
  await rt.dispatcher.flush();
  const meter = await cpuMeter(admin);
  const t0 = performance.now();
  await lanes(CONCURRENCY, cases, async (i) => {
    const caseId = ids[i] as string;
    for (let step = 0; step < LIFE.length; step++) {
      const result = await rt.engine.apply(caseId, LIFE[step] as (typeof LIFE)[number], SERVICE, {
        idempotencyKey: `${caseId}-${step}`,
      });
      if (result.state !== LIFE_STATES[step]) throw new Error(`engine: ${LIFE[step]?.type} led to ${result.state}`);
    }
  });
  await rt.dispatcher.flush(); // the timed work includes moving every outbox entry into BullMQ
  const seconds = (performance.now() - t0) / 1000;
  const cpu = await meter();
  const timers = await timerCounts(rt);
  const notices = await rt.notifyQueue.getJobCounts('wait', 'delayed');
  const outbox = await outboxLength(rt);
  await rt.close();
  const events = cases * LIFE.length;
  return {
    events,
    seconds,
    eventsPerSec: events / seconds,
    cpu: `${cpu.text}; ${perEvent(cpu, events)}`,
    cpuPerEvent: (1e6 * cpu.nodeSec) / events,
    check: `after: ${timers.text} (1 followUp per case), ${notices.wait} deliveries queued (3 per case), outbox ${outbox}`,
  };
}

async function throughput() {
  out('(1)+(2) throughput: every case gets RESPOND, VERIFY, REQUEST_INFO, CUSTOMER_REPLY, COORDINATE,');
  out(`        DEPARTMENT_REPLY, RESOLVE (per 7 events: 4 wake-up timer arms, 4 disarms, 3 deliveries);`);
  out(
    `        ${fmtInt(CASES)} cases x 7 events per round, ${CONCURRENCY} cases in flight, ${ROUNDS} rounds alternating`,
  );
  // Warm-up of both loops (JIT, script cache), not counted.
  await baselineRound(Math.min(500, CASES));
  await engineRound(Math.min(500, CASES));
  logSummary();
  const baselineRuns: number[] = [];
  const engineRuns: number[] = [];
  const baselineCpu: number[] = [];
  const engineCpu: number[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const b = await baselineRound(CASES);
    baselineRuns.push(b.eventsPerSec);
    baselineCpu.push(b.cpuPerEvent);
    out(
      `  round ${r} baseline: ${fmtInt(b.eventsPerSec)} events/s (${fmtInt(b.events)} in ${round(b.seconds, 2)} s; ${b.cpu})`,
    );
    const e = await engineRound(CASES);
    engineRuns.push(e.eventsPerSec);
    engineCpu.push(e.cpuPerEvent);
    out(
      `  round ${r} engine:   ${fmtInt(e.eventsPerSec)} events/s (${fmtInt(e.events)} in ${round(e.seconds, 2)} s; ${e.cpu})`,
    );
    out(`           ${e.check}`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const baselineEventsPerSec = median(baselineRuns);
  const engineEventsPerSec = median(engineRuns);
  const engineRatio = engineEventsPerSec / baselineEventsPerSec;
  out(`(1) baseline (median): ${fmtInt(baselineEventsPerSec)} events/s`);
  out(
    `(2) engine.apply (median): ${fmtInt(engineEventsPerSec)} events/s = ${round(engineRatio, 2)} x baseline (target >= 0.7)`,
  );
  const engineCpuRatio = median(baselineCpu) / median(engineCpu);
  out(
    `    node cpu per event (median): baseline ${round(median(baselineCpu))} µs, engine ${round(median(engineCpu))} µs = ${round(engineCpuRatio, 2)} x (the ratio if both were cpu-bound on one core)`,
  );
  logSummary();
  out(`    [${elapsed()}]`);
  out();
  return { baselineEventsPerSec, engineEventsPerSec, engineRatio, engineCpuRatio, baselineRuns, engineRuns };
}

// ---- (3) deadline lateness ---------------------------------------------------------------------------------
//
// How the deadlines get their due times, honestly: every case is opened through engine.open on the real
// clock, under a policy whose firstResponse is WINDOW + GAP (75 s). The opens are paced evenly over WINDOW
// (100,000 over 60 s = one every 0.6 ms), so the firstResponse due times (open time + 75 s) are spread evenly
// over a 60 s window that starts GAP (15 s) after the last open. No fake clock, no back-dating: each
// deadline's dueAt is exactly what the engine computed at open, and each case's one wake-up timer was committed
// with it. If the opens cannot keep the pace, the due window stretches; the bench prints how far behind the
// pacing fell and the actual due window.
//
// Firing goes through the real path: runtime.startWorkers(['deadlines', 'dispatcher']) (the timer promoter
// moving due timers into BullMQ, the deadline worker holding each job to its due time, the outbox dispatcher),
// whose fire callback calls engine.apply(DEADLINE). Lateness = the time the fire callback calls engine.apply
// (wrapped below) minus the deadline's dueAt read back from the case. The breach time the engine recorded (the `at` of the
// firstResponse clock, stamped after the case was read) is printed beside it.

interface Lateness {
  readonly fire: Spread;
  readonly recorded: Spread;
  readonly fired: number;
  readonly opensPerSec: number;
  readonly openSeconds: number;
}

/** One schedule of escalating deadlines: `deadlines` due evenly over `windowMs`, from `gapMs` after the last open. */
interface LatenessRun {
  readonly deadlines: number;
  readonly windowMs: number;
  readonly gapMs: number;
  /**
   * The fire callback answers at once instead of calling engine.apply: the timer path alone (promoter,
   * BullMQ delayed job, the worker's hold), without the escalation each firing would commit.
   */
  readonly timersOnly?: boolean;
  /** A label: print one summary line under it instead of the section's detail (always in this process). */
  readonly brief?: string;
}

/**
 * Fires `count` escalating deadlines through the same path before the measured window, so that the path is
 * JIT-compiled, as the throughput loops are warmed up: the window measures the timers, not the first
 * seconds of a new process. (Without it the first ~3 s of the window ran hundreds of ms late.)
 */
async function warmUpFiring(count: number): Promise<number> {
  await admin.flushall();
  const warmPolicy = benchPolicy({ firstResponse: 'PT1S' });
  const rt = await runtime('warm', warmPolicy);
  let fired = 0;
  const apply = rt.engine.apply.bind(rt.engine);
  rt.engine.apply = async (caseId, event, actor, opts) => {
    const result = await apply(caseId, event, actor, opts);
    if (event.type === 'DEADLINE') fired++;
    return result;
  };
  rt.startWorkers(['deadlines', 'dispatcher']);
  await lanes(CONCURRENCY, count, async (i) => {
    await rt.engine.open(openInput(warmPolicy, i), SERVICE, { idempotencyKey: `warm-${i}` });
  });
  for (const until = Date.now() + 30_000; fired < count && Date.now() < until; ) await sleep(100);
  await rt.dispatcher.flush();
  await rt.close();
  return fired;
}

async function warmUp(section: string): Promise<void> {
  if (WARM_UP === 0) return;
  const warmed = await warmUpFiring(WARM_UP);
  out(
    `${section} warm-up: ${fmtInt(warmed)} of ${fmtInt(WARM_UP)} escalating deadlines fired through the same path, not counted`,
  );
}

async function engineLateness(run: LatenessRun): Promise<Lateness> {
  const count = run.deadlines;
  const windowMs = run.windowMs;
  const processes = run.brief === undefined ? DEADLINE_PROCESSES : 0;
  const say = run.brief === undefined ? out : () => {};
  await admin.flushall();
  const within = (windowMs + run.gapMs) / 1000;
  const latePolicy = benchPolicy({ firstResponse: `PT${within}S` });
  const rt = await runtime('lat', latePolicy);
  const firstCall = new Map<string, number>();
  const outcomes: Record<string, number> = {};
  const applyMs: number[] = [];
  let calls = 0;
  let errors = 0;
  const apply = rt.engine.apply.bind(rt.engine);
  rt.engine.apply = async (caseId, event, actor, opts) => {
    if (event.type !== 'DEADLINE') return apply(caseId, event, actor, opts);
    const t = Date.now();
    calls++;
    if (!firstCall.has(caseId)) firstCall.set(caseId, t);
    if (run.timersOnly) {
      outcomes.applied = (outcomes.applied ?? 0) + 1; // answered, nothing committed
      return { caseId, version: 0, state: 'received', outcome: 'applied' };
    }
    try {
      const result = await apply(caseId, event, actor, opts);
      applyMs.push(Date.now() - t);
      outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
      return result;
    } catch (error) {
      errors++;
      throw error;
    }
  };
  // By default the deadline worker runs in this process; BENCH_DEADLINE_PROCESSES=N runs N worker
  // processes instead (then only the recorded breach times are measured, not the apply calls).
  let failed = 0;
  const children: ChildProcess[] = [];
  if (processes === 0) {
    const workers = rt.startWorkers(['deadlines', 'dispatcher']);
    for (const w of workers) w.on('failed', () => failed++);
  } else {
    const policyFile = benchPolicyFile({ firstResponse: `PT${within}S` }, varDir);
    for (let n = 0; n < processes; n++) {
      children.push(
        spawn(process.execPath, [...NODE_FLAGS, '--import', 'tsx', 'workers/deadlines.ts'], {
          env: {
            ...process.env,
            ...passedThrough,
            ...dummySecrets(latePolicy),
            REDIS_URL: redisUrl,
            INTERVENE_PREFIX: rt.config.INTERVENE_PREFIX,
            INTERVENE_QUEUE_PREFIX: rt.config.INTERVENE_QUEUE_PREFIX,
            INTERVENE_POLICIES: policyFile,
            INTERVENE_VAR_DIR: varDir,
            LOG_LEVEL: 'warn',
          },
          stdio: ['ignore', 'ignore', 'inherit'],
        }),
      );
    }
  }
  /** Cases whose deadline fired (escalated), counted from the state indexes. */
  const escalatedCount = async () => {
    let n = 0;
    for (let p = 0; p < rt.store.keys.partitions; p++)
      n += await admin.zcard(`${rt.store.keys.tag(p)}:state:escalated`);
    return n;
  };
  const firedSoFar = async () => (processes === 0 ? firstCall.size : await escalatedCount());

  say(
    `(3) deadline lateness: ${fmtInt(count)} cases opened via engine.open, paced over ${windowMs / 1000} s, firstResponse PT${within}S`,
  );
  const interval = windowMs / count;
  const ids: string[] = new Array(count);
  let behind = 0;
  const paceStart = Date.now() + 50;
  const t0 = performance.now();
  await lanes(CONCURRENCY, count, async (i) => {
    const wait = paceStart + i * interval - Date.now();
    if (wait >= 1) await sleep(wait);
    else behind = Math.max(behind, -wait);
    ids[i] = (await rt.engine.open(openInput(latePolicy, i), SERVICE, { idempotencyKey: `open-${i}` })).caseId;
  });
  await rt.dispatcher.flush();
  const openSeconds = (performance.now() - t0) / 1000;
  const opened = await timerCounts(rt);
  say(
    `  opened ${fmtInt(count)} in ${round(openSeconds, 1)} s (${fmtInt(count / openSeconds)}/s paced; ` +
      `fell behind the pace by at most ${round(behind)} ms); ${opened.text}`,
  );

  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const meter = await cpuMeter(admin);
  const persistence0 = await info(admin, 'persistence');
  // Redis round trips from this process during the window, on a connection of their own, every 10 ms.
  const pinger = new Redis(redisUrl);
  const pings: number[] = [];
  let pinging = true;
  const pingLoop = (async () => {
    while (pinging) {
      const t = performance.now();
      await pinger.ping();
      pings.push(performance.now() - t);
      await sleep(10);
    }
  })();
  // Wait for every deadline to fire; give up when none fired for 20 s, or 3 minutes after the last due time.
  const lastDue = paceStart + count * interval + within * 1000;
  let lastReport = Date.now();
  let lastProgress = { at: Date.now(), fired: 0 };
  for (let firedNow = 0; firedNow < count && Date.now() < lastDue + 180_000; ) {
    await sleep(200);
    firedNow = await firedSoFar();
    if (firedNow > lastProgress.fired) lastProgress = { at: Date.now(), fired: firedNow };
    else if (Date.now() > lastDue && Date.now() - lastProgress.at > 20_000) break;
    if (run.brief === undefined && Date.now() - lastReport > 15_000) {
      lastReport = Date.now();
      const due = Math.max(0, Math.min(count, Math.floor((Date.now() - (paceStart + within * 1000)) / interval)));
      progress(`${fmtInt(firedNow)} of ${fmtInt(count)} deadlines fired (${fmtInt(due)} due by now)`);
    }
  }
  // Let the last fires commit and their effects reach BullMQ.
  for (let i = 0; i < 50 && (outcomes.applied ?? 0) + errors < firstCall.size; i++) await sleep(100);
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
  await rt.dispatcher.flush();
  loop.disable();
  const cpu = await meter();
  const persistence1 = await info(admin, 'persistence');
  pinging = false;
  await pingLoop;
  pinger.disconnect();

  // Read back each case's firstResponse clock: its dueAt and the breach time the engine recorded.
  const fire: number[] = [];
  const recorded: number[] = [];
  let early = 0;
  let missing = 0;
  let notBreached = 0;
  let dueMin = Number.POSITIVE_INFINITY;
  let dueMax = 0;
  await lanes(500, ids.length, async (i) => {
    const id = ids[i] as string;
    const clock = (await rt.store.load(id)).stored?.context.deadlines.firstResponse;
    if (!clock) throw new Error(`case ${id} has no firstResponse clock`);
    dueMin = Math.min(dueMin, clock.dueAt);
    dueMax = Math.max(dueMax, clock.dueAt);
    // In worker processes the fire call is not visible here: the engine's recorded breach time stands for it.
    const called = processes === 0 ? firstCall.get(id) : clock.status === 'breached' ? clock.at : undefined;
    if (called === undefined) {
      missing++;
      return;
    }
    if (called < clock.dueAt) early++;
    fire.push(called - clock.dueAt);
    if (clock.status === 'breached' && clock.at !== undefined) recorded.push(clock.at - clock.dueAt);
    else notBreached++;
  });
  await rt.close();

  const fired = processes === 0 ? firstCall.size : fire.length;
  const perFired = (sec: number) => round((1e3 * sec) / Math.max(1, fired), 2);
  const result: Lateness = {
    fire: spread(fire),
    recorded: spread(recorded),
    fired,
    opensPerSec: count / openSeconds,
    openSeconds,
  };
  const rate = count / (windowMs / 1000);
  if (run.brief !== undefined) {
    out(
      `  ${run.brief}: ${fmtInt(rate)}/s (${fmtInt(count)} due over ${windowMs / 1000} s): lateness ${fmtSpread(result.fire)}; ` +
        `cpu per firing: node ${perFired(cpu.nodeSec)} ms, redis ${perFired(cpu.redisSec)} ms; fired ${fmtInt(fired)}, missing ${missing}, before due ${early}, errors ${errors}, failed jobs ${failed}; ` +
        `opens paced over ${round(openSeconds, 1)} s, at most ${round(behind)} ms behind; due window ${round((dueMax - dueMin) / 1000, 1)} s`,
    );
    return result;
  }
  out(
    `  due window ${round((dueMax - dueMin) / 1000, 1)} s, starting ${round((dueMin - (paceStart + count * interval)) / 1000, 1)} s after the last paced open`,
  );
  out(
    (processes === 0
      ? `  fired: ${fmtInt(firstCall.size)} (apply calls ${fmtInt(calls)}, outcomes ${JSON.stringify(outcomes)}, errors ${errors}, failed jobs ${failed}); `
      : `  fired: ${fmtInt(result.fired)} (breaches recorded; the apply calls ran in the worker processes); `) +
      `missing ${missing}, callback before due ${early}, not breached ${notBreached}`,
  );
  out(`  lateness (fire callback calls engine.apply - dueAt): ${fmtSpread(result.fire)}`);
  out(`  lateness (breach time recorded by the engine - dueAt): ${fmtSpread(result.recorded)}`);
  out(`  engine.apply(DEADLINE) duration: ${fmtSpread(spread(applyMs))}`);
  out(
    processes === 0
      ? `  cpu per fired deadline: node ${perFired(cpu.nodeSec)} ms, redis ${perFired(cpu.redisSec)} ms ` +
          `(all threads, idle stretches included; at the ${fmtInt(rate)}/s this schedule needs: ` +
          `node ~${round((rate * 100 * cpu.nodeSec) / Math.max(1, result.fired))}% of a core)`
      : `  cpu per fired deadline: redis ${perFired(cpu.redisSec)} ms; node: in the ${DEADLINE_PROCESSES} worker ` +
          `processes, counted among "other processes" below`,
  );
  out(`  Redis PING round trip from this process, every 10 ms: ${fmtSpread(spread(pings))}`);
  out(
    `  during the window: ${cpu.text}; event-loop delay p99 ${round(loop.percentile(99) / 1e6, 1)} ms, ` +
      `max ${round(loop.max / 1e6, 1)} ms; AOF rewrites ${Number(persistence1.aof_rewrites ?? 0) - Number(persistence0.aof_rewrites ?? 0)}, ` +
      `latest fork ${round(Number(persistence1.latest_fork_usec ?? 0) / 1000, 1)} ms`,
  );
  return result;
}

/** The same schedule on raw BullMQ: delayed jobs due evenly over WINDOW, a no-op worker, no lead. */
async function rawBullmqLateness(concurrency: number): Promise<Spread> {
  await admin.flushall();
  const producer = queueClient(redisUrl);
  const consumer = queueClient(redisUrl);
  const prefix = 'raw-bull';
  const queue = new Queue('deadlines', { connection: producer, prefix, defaultJobOptions: { removeOnComplete: true } });
  const lateness = new Float64Array(DEADLINES);
  let done = 0;
  const worker = new Worker<{ caseId: string; name: string; epoch: number; dueAt: number; i: number }>(
    'deadlines',
    async (job) => {
      lateness[job.data.i] = Date.now() - job.data.dueAt;
      done++;
    },
    { connection: consumer, prefix, concurrency },
  );
  await worker.waitUntilReady();
  const interval = WINDOW_MS / DEADLINES;
  const addStart = Date.now();
  const first = addStart + GAP_MS;
  for (let start = 0; start < DEADLINES; start += 1_000) {
    const now = Date.now();
    const jobs = [];
    for (let i = start; i < Math.min(DEADLINES, start + 1_000); i++) {
      const dueAt = Math.round(first + i * interval);
      // The deadline payload's shape and a deterministic id <case>.<deadline>.<epoch>, like the runtime's.
      const caseId = `raw${i}`;
      jobs.push({
        name: 'firstResponse',
        data: { caseId, name: 'firstResponse', epoch: 1, dueAt, i },
        opts: { jobId: `${caseId}.firstResponse.1`, delay: Math.max(0, dueAt - now) },
      });
    }
    await queue.addBulk(jobs);
  }
  const addSeconds = (Date.now() - addStart) / 1000;
  out(
    `  raw BullMQ: ${fmtInt(DEADLINES)} delayed jobs added in ${round(addSeconds, 1)} s, due evenly over ${WINDOW_MS / 1000} s from ${GAP_MS / 1000} s after the first add; no-op worker, concurrency ${concurrency}`,
  );
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const meter = await cpuMeter(admin);
  const lastDue = first + WINDOW_MS;
  while (done < DEADLINES && Date.now() < lastDue + 60_000) await sleep(200);
  loop.disable();
  const cpu = await meter();
  await worker.close();
  await queue.close();
  producer.disconnect();
  consumer.disconnect();
  const result = spread(lateness.subarray(0, done));
  out(`  raw BullMQ lateness (processing start - due): ${fmtSpread(result)}; processed ${fmtInt(done)}`);
  out(
    `  cpu per job: node ${round((1e3 * cpu.nodeSec) / Math.max(1, done), 2)} ms, redis ${round((1e3 * cpu.redisSec) / Math.max(1, done), 2)} ms`,
  );
  out(`  during the window: ${cpu.text}; event-loop delay p99 ${round(loop.percentile(99) / 1e6, 1)} ms`);
  return result;
}

// ---- (3b) where lateness holds: escalation rates, and the timer path alone --------------------------------
//
// Section (3) fires at one rate, and each firing escalates its case. This section runs the same path over
// shorter windows at a few rates (BENCH_CAPACITY_RATES, firings per second; BENCH_CAPACITY_WINDOW_MS each)
// and reports the highest one whose p99 stayed within 25 ms. Then, at section (3)'s rate, the timer path
// alone: the same promoter, BullMQ delayed jobs and worker hold, with the fire callback answering at once
// instead of escalating. Together they separate the timers' precision from the escalations' cost.
// CPU per firing is printed for each run; compare it only at equal rates: on a host whose cores idle between
// firings, the same work takes more CPU time at the lower rates.

const CAPACITY_RATES = (process.env.BENCH_CAPACITY_RATES || '400,800,1200')
  .split(',')
  .map(Number)
  .filter((r) => r > 0);
const CAPACITY_WINDOW_MS = envInt('BENCH_CAPACITY_WINDOW_MS', 10_000);
const CAPACITY_GAP_MS = 10_000;

interface Capacity {
  readonly points: readonly { readonly rate: number; readonly p99: number }[];
  /** The highest rate run whose lateness p99 was <= 25 ms (null: none was). */
  readonly escalationsPerSecAt25Ms: number | null;
  readonly timersOnly: Lateness;
}

async function escalationCapacity(warm: boolean): Promise<Capacity> {
  out(
    `(3b) lateness by escalation rate (${CAPACITY_WINDOW_MS / 1000} s windows, each firing escalates its case), ` +
      'and the timer path alone',
  );
  if (warm) await warmUp('(3b)');
  const points = [];
  for (const rate of CAPACITY_RATES) {
    const deadlines = Math.round((rate * CAPACITY_WINDOW_MS) / 1000);
    const run = { deadlines, windowMs: CAPACITY_WINDOW_MS, gapMs: CAPACITY_GAP_MS, brief: 'escalating' };
    const result = await engineLateness(run);
    points.push({ rate, p99: result.fire.p99 });
  }
  const benchRate = DEADLINES / (WINDOW_MS / 1000);
  const timersOnly = await engineLateness({
    deadlines: Math.round((benchRate * CAPACITY_WINDOW_MS) / 1000),
    windowMs: CAPACITY_WINDOW_MS,
    gapMs: CAPACITY_GAP_MS,
    timersOnly: true,
    brief: 'timer path alone (no escalation)',
  });
  const within = points.filter((p) => p.p99 <= 25).map((p) => p.rate);
  const escalationsPerSecAt25Ms = within.length > 0 ? Math.max(...within) : null;
  out(
    `  highest rate run with lateness p99 <= 25 ms: ${escalationsPerSecAt25Ms === null ? 'none' : `${fmtInt(escalationsPerSecAt25Ms)} escalations/s`}` +
      ` (section 3 runs ${fmtInt(benchRate)}/s)`,
  );
  return { points, escalationsPerSecAt25Ms, timersOnly };
}

// ---- (4) memory per open case ---------------------------------------------------------------------------

async function memoryPerCase(): Promise<{ bytesPerOpenCase: number; opensPerSec: number }> {
  await admin.flushall();
  const rt = await runtime('mem', policy);
  // As `npm start` runs: the reports worker folds each commit's fact into the day's aggregates and trims
  // the facts stream, so what stays per case is the case, its audit, indexes and timer.
  rt.startWorkers(['dispatcher', 'reports']);
  const open = async (from: number, count: number) => {
    const ids: string[] = new Array(count);
    await lanes(CONCURRENCY, count, async (k) => {
      const i = from + k;
      ids[k] = (await rt.engine.open(openInput(policy, i), SERVICE, { idempotencyKey: `open-${i}` })).caseId;
    });
    await rt.dispatcher.flush();
    return ids;
  };
  // Warm-up: every partition's outbox and index keys and the queue's own keys exist before measuring.
  const warm = 200;
  await open(0, warm);
  await sleep(1_500);
  const before = await usedMemory();
  const t0 = performance.now();
  const ids = await open(warm, MEMORY_CASES);
  const seconds = (performance.now() - t0) / 1000;
  await sleep(1_500);
  const after = await usedMemory();
  const timers = await timerCounts(rt);
  const outbox = await outboxLength(rt);

  // Where the bytes go: MEMORY USAGE of one case's own keys, and of the structures the cases share.
  const sample = ids[0] as string;
  const k = rt.store.keys.forCase(sample);
  const usage = async (key: string) => Number((await admin.memory('USAGE', key, 'SAMPLES', '0')) ?? 0);
  let idem: string | undefined;
  for (let cursor = '0'; ; ) {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${rt.config.INTERVENE_PREFIX}{p*}:idem:*`, 'COUNT', 10_000);
    idem = keys[0];
    cursor = next;
    if (idem || cursor === '0') break;
  }
  const queueKey = (name: string) => `${rt.config.INTERVENE_QUEUE_PREFIX}:deadlines:${name}`;
  const own: Record<string, number> = {
    'case record': await usage(k.case),
    'audit list': await usage(k.audit),
    ...(idem ? { 'idempotency record': await usage(idem) } : {}),
  };
  // The partitions' shared keys (read-side indexes, outbox streams), grouped by name without the partition tag.
  const shared: Record<string, number> = {};
  const perCase = /:(case|audit|idem|delivery):/;
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${rt.config.INTERVENE_PREFIX}{p*}:*`, 'COUNT', 10_000);
    cursor = next;
    for (const key of keys) {
      if (perCase.test(key)) continue;
      // Keys named by a hash (e.g. the erasure index's `cust:<hash>`) are summed under one name.
      const name = key.replace(/^.*\{p\d+\}:/, '').replace(/:[0-9a-f]{16,}$/, ':<hash>');
      shared[name] = (shared[name] ?? 0) + (await usage(key));
    }
  } while (cursor !== '0');
  shared['deadline queue delayed zset'] = await usage(queueKey('delayed'));
  shared['deadline queue events stream (capped)'] = await usage(queueKey('events'));
  for (const [name, bytes] of Object.entries(shared)) if (bytes === 0) delete shared[name];
  await rt.close();

  const bytesPerOpenCase = (after - before) / MEMORY_CASES;
  const total = warm + MEMORY_CASES;
  out(
    `(4) memory: ${fmtInt(MEMORY_CASES)} cases opened in ${round(seconds, 1)} s (${fmtInt(MEMORY_CASES / seconds)} opens/s, ${CONCURRENCY} in flight); ` +
      `${timers.text}, outbox ${outbox}`,
  );
  out(
    `  used_memory ${fmtInt(before)} -> ${fmtInt(after)} B: ${fmtInt(bytesPerOpenCase)} B per open case (target <= 2048)`,
  );
  out(
    `  one case's keys (MEMORY USAGE): ${Object.entries(own)
      .map(([n, b]) => `${n} ${b}`)
      .join(', ')} = ${Object.values(own).reduce((a, b) => a + b, 0)} B`,
  );
  out(
    `  shared, per case (of ${fmtInt(total)}): ${Object.entries(shared)
      .map(([n, b]) => `${n} ${round(b / total)}`)
      .join(', ')} = ${round(Object.values(shared).reduce((a, b) => a + b, 0) / total)} B`,
  );
  return { bytesPerOpenCase, opensPerSec: MEMORY_CASES / seconds };
}

// ---- the run --------------------------------------------------------------------------------------------

const tp = SECTIONS.has('throughput') ? await throughput() : undefined;
let lateness: Lateness | undefined;
let raw: Spread | undefined;
if (SECTIONS.has('lateness')) {
  if (DEADLINE_PROCESSES === 0) await warmUp('(3)');
  lateness = await engineLateness({ deadlines: DEADLINES, windowMs: WINDOW_MS, gapMs: GAP_MS });
  logSummary();
  raw = await rawBullmqLateness(shipped.INTERVENE_DEADLINE_CONCURRENCY);
  out(`    [${elapsed()}]`);
  out();
}
const capacity = SECTIONS.has('capacity')
  ? await escalationCapacity(!SECTIONS.has('lateness') || DEADLINE_PROCESSES !== 0)
  : undefined;
if (capacity) {
  logSummary();
  out(`    [${elapsed()}]`);
  out();
}
const memory = SECTIONS.has('memory') ? await memoryPerCase() : undefined;
if (memory) {
  logSummary();
  out(`    [${elapsed()}]`);
  out();
}

let http: HttpFigures | undefined;
if (SECTIONS.has('http')) {
  await admin.flushall();
  out('(5) HTTP: POST /v1/cases/{id}/events (RESPOND) through the API in its own process, autocannon here');
  http = await httpBench(redisUrl, out);
  out(`    [${elapsed()}]`);
  out();
}

// ---- result ---------------------------------------------------------------------------------------------

admin.disconnect();
await server?.stop();
if (redisDir) rmSync(redisDir, { recursive: true, force: true });
rmSync(varDir, { recursive: true, force: true });

const opt = (x: number | undefined, digits = 0) => (x === undefined ? null : round(x, digits));
const targetMet = (ok: boolean | undefined) => (ok === undefined ? 'not run' : ok ? 'met' : 'MISSED');
const result = {
  baselineEventsPerSec: opt(tp?.baselineEventsPerSec),
  engineEventsPerSec: opt(tp?.engineEventsPerSec),
  engineRatio: opt(tp?.engineRatio, 3),
  engineCpuRatio: opt(tp?.engineCpuRatio, 3),
  latenessP50Ms: opt(lateness?.fire.p50, 1),
  latenessP99Ms: opt(lateness?.fire.p99, 1),
  latenessMaxMs: opt(lateness?.fire.max, 1),
  recordedLatenessP99Ms: opt(lateness?.recorded.p99, 1),
  deadlinesFired: lateness?.fired ?? null,
  bullmqLatenessP50Ms: opt(raw?.p50, 1),
  bullmqLatenessP99Ms: opt(raw?.p99, 1),
  bullmqLatenessMaxMs: opt(raw?.max, 1),
  escalationsPerSecAtP99Within25Ms: capacity ? capacity.escalationsPerSecAt25Ms : null,
  capacityP99Ms: capacity ? Object.fromEntries(capacity.points.map((p) => [p.rate, round(p.p99, 1)])) : null,
  timersOnlyP99Ms: opt(capacity?.timersOnly.fire.p99, 1),
  bytesPerOpenCase: opt(memory?.bytesPerOpenCase),
  opensPerSec: opt(memory?.opensPerSec),
  httpEventsPerSec: http?.httpEventsPerSec ?? null,
  httpP50MsAt1000: http?.httpP50MsAt1000 ?? null,
  httpP99MsAt1000: http?.httpP99MsAt1000 ?? null,
  deadlines: DEADLINES,
  deadlineWindowMs: WINDOW_MS,
  concurrency: CONCURRENCY,
  baselineRuns: tp?.baselineRuns.map((x) => round(x)) ?? null,
  engineRuns: tp?.engineRuns.map((x) => round(x)) ?? null,
  targets: {
    engineRatio: tp ? tp.engineRatio >= 0.7 : null,
    lateness: lateness && raw ? lateness.fire.p99 <= 25 && lateness.fire.p99 <= raw.p99 : null,
    bytesPerOpenCase: memory ? memory.bytesPerOpenCase <= 2048 : null,
    http: http ? http.httpEventsPerSec >= 4000 && http.httpP99MsAt1000 <= 25 : null,
  },
  machine: {
    cores,
    cpu: cpus()[0]?.model ?? 'unknown',
    memGiB: round(totalmem() / 2 ** 30),
    node: process.version,
    nodeFlags: NODE_FLAGS.filter((flag) => !missingFlags.includes(flag)),
    redis: redisVersion,
    redisSettings: shellArgs(REDIS_SETTINGS),
    redisEffective: effective,
    ...versions,
    runtime: {
      partitions: shipped.INTERVENE_PARTITIONS,
      timerLeadMs: shipped.INTERVENE_TIMER_LEAD_MS,
      deadlineConcurrency: shipped.INTERVENE_DEADLINE_CONCURRENCY,
      sweepIntervalMs: shipped.INTERVENE_SWEEP_INTERVAL_MS,
    },
  },
  durationSec: round((performance.now() - benchStart) / 1000),
  at: new Date().toISOString(),
};
const resultsDir = new URL('./results/', import.meta.url);
mkdirSync(resultsDir, { recursive: true });
writeFileSync(new URL('latest.json', resultsDir), `${JSON.stringify(result, null, 2)}\n`);
out(
  `targets: engine ${result.engineRatio}x baseline ${targetMet(result.targets.engineRatio ?? undefined)} (>= 0.7); ` +
    `lateness p99 ${result.latenessP99Ms} ms vs raw BullMQ ${result.bullmqLatenessP99Ms} ms ${targetMet(result.targets.lateness ?? undefined)} (<= raw and <= 25); ` +
    `${result.bytesPerOpenCase} B per open case ${targetMet(result.targets.bytesPerOpenCase ?? undefined)} (<= 2048); ` +
    `HTTP ${result.httpEventsPerSec} events/s, p99 ${result.httpP99MsAt1000} ms at 1,000/s ${targetMet(result.targets.http ?? undefined)} (>= 4000, <= 25)`,
);
out(`total ${result.durationSec} s; written to bench/results/latest.json`);
out(JSON.stringify(result));
process.exit(0);
