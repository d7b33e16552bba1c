import type { Queue } from 'bullmq';
import { CASE_STATES } from '../domain/vocabulary.ts';
import type { Runtime } from '../runtime.ts';
import { checkReadiness } from './health.ts';
import { QUEUE_STATES, type ScrapeState } from './metrics.ts';

// What a scrape reads from Redis: readiness and the PING round trip, BullMQ job counts per queue, and a
// few read-side gauges (cases per state, unpromoted timers, dead letters). Every read is bounded in time:
// a scrape while Redis is down answers at once with `intervene_redis_up 0` and leaves out what it
// could not read.

const TIMEOUT_MS = 900;

function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.catch(() => undefined),
    new Promise<undefined>((done) => {
      timer = setTimeout(() => done(undefined), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function queueCounts(queues: readonly Queue[]): Promise<ScrapeState['queues']> {
  const counts = await Promise.all(queues.map((q) => within(q.getJobCounts(...QUEUE_STATES), TIMEOUT_MS)));
  return queues.flatMap((q, i) => {
    const c = counts[i];
    return c ? [{ queue: q.name, counts: c }] : [];
  });
}

/** Cases per state (ZCARD of each partition's state index), timers not yet promoted, dead letters. */
async function readSide(rt: Runtime, now: number) {
  const { keys } = rt.store;
  const pipe = rt.redis.pipeline();
  for (let p = 0; p < keys.partitions; p++) {
    for (const state of CASE_STATES) pipe.zcard(`${keys.tag(p)}:state:${state}`);
    pipe.zcard(keys.timers(p));
    pipe.zrange(keys.timers(p), '0', '0', 'WITHSCORES');
  }
  pipe.zcard(`${keys.prefix}deliveries:dead`);
  const replies = (await pipe.exec()) ?? [];
  const values = replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
  const cases: Record<string, number> = Object.fromEntries(CASE_STATES.map((s) => [s, 0]));
  let timersPending = 0;
  let earliest = Number.POSITIVE_INFINITY;
  let i = 0;
  for (let p = 0; p < keys.partitions; p++) {
    for (const state of CASE_STATES) cases[state] = (cases[state] ?? 0) + Number(values[i++]);
    timersPending += Number(values[i++]);
    const first = values[i++] as string[];
    if (first.length === 2) earliest = Math.min(earliest, Number(first[1]));
  }
  const deadDeliveries = Number(values[i]);
  const timersOverdueMs = Number.isFinite(earliest) ? Math.max(0, now - earliest) : 0;
  return { cases, timersPending, timersOverdueMs, deadDeliveries };
}

/** One scrape's reads. */
export async function scrape(rt: Runtime): Promise<ScrapeState> {
  const readiness = await checkReadiness(rt, TIMEOUT_MS);
  const redisUp = readiness.checks.some((c) => c.name === 'redis' && c.ok);
  const base = {
    redisUp,
    ready: readiness.ready,
    ...(readiness.redisRttMs === undefined ? {} : { redisRttMs: readiness.redisRttMs }),
  };
  if (!redisUp) return base;
  const [queues, side] = await Promise.all([
    queueCounts([rt.deadlineQueue, rt.notifyQueue, rt.intakeQueue, rt.outageQueue]),
    within(readSide(rt, Date.now()), TIMEOUT_MS),
  ]);
  return { ...base, ...(queues ? { queues } : {}), ...(side ?? {}) };
}

const inFlight = new WeakMap<Runtime, Promise<string>>();

/** The exposition text: scrape-time gauges refreshed, then every metric. Concurrent scrapes share one read. */
export function exposition(rt: Runtime): Promise<string> {
  const running = inFlight.get(rt);
  if (running) return running;
  const work = scrape(rt)
    .then((state) => {
      rt.metrics.setScrape(state);
      return rt.metrics.text();
    })
    .finally(() => inFlight.delete(rt));
  inFlight.set(rt, work);
  return work;
}
