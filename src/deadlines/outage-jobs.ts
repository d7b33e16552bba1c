import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Actor } from '../../machines/types.ts';
import { EventRefused } from '../domain/errors.ts';
import type { Engine } from '../engine/engine.ts';
import { type Outage, OutageStore } from './outages.ts';

// The work an outage declaration or end implies across cases, as idempotent BullMQ jobs:
// `<id>.excuse` turns the breaches a window explains into `excused` (6.2), `<id>.end` resumes the
// cases the window held. Every case step has its own idempotency key, so a job retried after a crash
// changes nothing twice.

export const OUTAGES_QUEUE = 'outages';

export interface OutageJob {
  readonly id: string;
  readonly action: 'excuse' | 'end';
}

export function createOutageQueue(connection: Redis, prefix: string): Queue<OutageJob> {
  return new Queue<OutageJob>(OUTAGES_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      removeOnComplete: { age: 7 * 86_400 },
      removeOnFail: { age: 30 * 86_400 },
      attempts: 10,
      backoff: { type: 'exponential', delay: 1_000 },
    },
  });
}

/**
 * Once per outage, action and stage (declared, ended): BullMQ keeps the job id, so a repeat is a no-op.
 * Ending a window also queues a second pass after the processes' outage cache has expired: a deadline
 * that fell due just as the window ended may have been held by it after the first pass looked.
 */
export async function enqueueOutageWork(queue: Queue<OutageJob>, outage: Outage, action: OutageJob['action']) {
  const stage = outage.end === undefined ? 'open' : 'closed';
  await queue.add(action, { id: outage.id, action }, { jobId: `${outage.id}.${action}.${stage}` });
  if (action === 'end') {
    await queue.add(
      action,
      { id: outage.id, action },
      { jobId: `${outage.id}.${action}.again`, delay: SECOND_PASS_MS },
    );
  }
}

/** Longer than the outage cache (1 s) plus a firing's commit: when the second pass of an end runs. */
export const SECOND_PASS_MS = 5_000;

export interface OutageWorkDeps {
  readonly engine: Engine;
  readonly outages: OutageStore;
  readonly actor: Actor;
  readonly log?: Logger;
  /** Progress: cases looked at so far. */
  readonly progress?: (done: number) => void;
}

/** Applies `EXCUSE` to every case in scope with a breach since the window began; returns how many changed. */
export async function excuseBreaches(deps: OutageWorkDeps, outage: Outage): Promise<number> {
  const { engine } = deps;
  const store = engine.store;
  let changed = 0;
  let seen = 0;
  for (let p = 0; p < store.keys.partitions; p++) {
    const members = await store.redis.zrangebyscore(`${store.keys.tag(p)}:breaches`, outage.start, '+inf');
    const cases = [...new Set(members.map((m) => m.slice(0, m.indexOf('.'))))];
    for (const caseId of cases) {
      seen += 1;
      deps.progress?.(seen);
      const found = await engine.get(caseId);
      if (!found) continue;
      const { open } = found.stored.context;
      if (!OutageStore.inScope(outage, open.contractId, open.channel)) continue;
      // The key names the window as it stands (open, or its end): once ended, the same case is looked at again.
      const stage = outage.end === undefined ? 'open' : String(outage.end);
      if (
        await apply(deps, caseId, { type: 'EXCUSE', outage: OutageStore.span(outage) }, `excuse.${outage.id}.${stage}`)
      ) {
        changed += 1;
      }
    }
  }
  return changed;
}

/** Applies `OUTAGE_END` to every case the window holds; returns how many resumed. */
export async function resumeHeld(deps: OutageWorkDeps, outage: Outage): Promise<number> {
  const store = deps.engine.store;
  let changed = 0;
  let seen = 0;
  for (let p = 0; p < store.keys.partitions; p++) {
    const cases = await store.redis.zrange(`${store.keys.tag(p)}:outage:${outage.id}`, '0', '-1');
    for (const caseId of cases) {
      seen += 1;
      deps.progress?.(seen);
      if (
        await apply(deps, caseId, { type: 'OUTAGE_END', outage: OutageStore.span(outage) }, `outage-end.${outage.id}`)
      ) {
        changed += 1;
      }
    }
  }
  return changed;
}

async function apply(
  deps: OutageWorkDeps,
  caseId: string,
  event: Parameters<Engine['apply']>[1],
  scope: string,
): Promise<boolean> {
  try {
    const result = await deps.engine.apply(caseId, event, deps.actor, { idempotencyKey: `${scope}.${caseId}` });
    return result.outcome === 'applied';
  } catch (error) {
    // Nothing to excuse or resume on this case (e.g. closed since, or its breach was real).
    if (error instanceof EventRefused) return false;
    throw error;
  }
}

export function startOutageWorker(opts: {
  readonly connection: Redis;
  readonly prefix: string;
  readonly deps: OutageWorkDeps;
}): Worker<OutageJob> {
  return new Worker<OutageJob>(
    OUTAGES_QUEUE,
    async (job) => {
      const outage = await opts.deps.outages.get(job.data.id);
      if (!outage) return 0;
      const deps = { ...opts.deps, progress: (done: number) => void job.updateProgress(done).catch(() => undefined) };
      const changed =
        job.data.action === 'excuse' ? await excuseBreaches(deps, outage) : await resumeHeld(deps, outage);
      opts.deps.log?.info({ outage: outage.id, action: job.data.action, changed }, 'outage work done');
      return changed;
    },
    { connection: opts.connection, prefix: opts.prefix, concurrency: 1 },
  );
}
