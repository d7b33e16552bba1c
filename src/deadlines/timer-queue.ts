import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';

export const DEADLINES_QUEUE = 'deadlines';

/** The payload of a deadline job: ids only, no personal data. */
export interface TimerJob {
  readonly caseId: string;
  readonly name: string;
  readonly epoch: number;
  readonly dueAt: number;
  /** A warning timer: the warning's number for this arming. */
  readonly warning?: number;
}

export function createDeadlineQueue(connection: Redis, prefix: string): Queue<TimerJob> {
  return new Queue<TimerJob>(DEADLINES_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      removeOnComplete: true,
      removeOnFail: { age: 7 * 86_400 },
      attempts: 20,
      backoff: { type: 'exponential', delay: 500 },
    },
  });
}

export interface DeadlineWorkerOptions {
  readonly connection: Redis;
  readonly prefix: string;
  readonly concurrency?: number;
  readonly lockDuration?: number;
  readonly stalledInterval?: number;
  readonly clock?: () => number;
  /** Fires the deadline (engine.apply DEADLINE). `jobId` is its idempotency key. */
  readonly fire: (job: TimerJob, jobId: string) => Promise<{ outcome: string; dueAt?: number }>;
  /** Told of each firing the engine applied, with its due time and when it fired (metrics). Must not throw. */
  readonly onFired?: (fired: { readonly name: string; readonly dueAt: number; readonly firedAt: number }) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Jobs are queued a little before due (BullMQ promotes delayed jobs on Redis's tick); the worker
 * holds each on a local timer until its due time, so a deadline fires close to due and never before.
 */
export function startDeadlineWorker(opts: DeadlineWorkerOptions): Worker<TimerJob> {
  const clock = opts.clock ?? Date.now;
  return new Worker<TimerJob>(
    DEADLINES_QUEUE,
    async (job) => {
      let dueAt = job.data.dueAt;
      for (let attempt = 0; attempt < 5; attempt++) {
        const wait = dueAt - clock();
        // +1: a timer may wake up to a millisecond early; a deadline never fires before due.
        if (wait > 0) await sleep(wait + 1);
        const firedAt = clock();
        const result = await opts.fire(job.data, job.id as string);
        if (result.outcome === 'applied') opts.onFired?.({ name: job.data.name, dueAt, firedAt });
        if (result.outcome !== 'early') return result.outcome;
        dueAt = result.dueAt ?? dueAt + 1;
      }
      throw new Error(`deadline ${job.id} still not due after repeated holds: check clock skew between hosts`);
    },
    {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: opts.concurrency ?? 256,
      // Firing is idempotent (job id = idempotency key, epoch checked), so a job stalled by crashed
      // workers is always retried: BullMQ's default (1) would fail it for good after a second stall
      // and lose the deadline.
      maxStalledCount: 1_000,
      ...(opts.lockDuration ? { lockDuration: opts.lockDuration } : {}),
      ...(opts.stalledInterval ? { stalledInterval: opts.stalledInterval } : {}),
    },
  );
}
