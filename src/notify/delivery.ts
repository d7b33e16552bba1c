import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Delivery } from '../engine/effects.ts';
import type { Keys } from '../store/keys.ts';
import { signatureHeaders } from './sign.ts';

export const NOTIFY_QUEUE = 'notify';

export interface NotifyJob {
  readonly partition: number;
  readonly id: string;
}

export interface Endpoint {
  readonly url: string;
  readonly secret: string;
}

export function createNotifyQueue(
  connection: Redis,
  prefix: string,
  attempts = 12,
  backoffMs = 2_000,
): Queue<NotifyJob> {
  return new Queue<NotifyJob>(NOTIFY_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      attempts,
      backoff: { type: 'exponential', delay: backoffMs, jitter: 0.5 },
      removeOnComplete: { age: 86_400 },
      removeOnFail: { age: 30 * 86_400 },
    },
  });
}

export interface NotifyWorkerOptions {
  readonly connection: Redis;
  readonly redis: Redis;
  readonly keys: Keys;
  readonly prefix: string;
  /** Where a delivery goes: the routed department's or the customer-notice webhook of its pinned policy. */
  readonly endpointFor: (delivery: Delivery) => Promise<Endpoint | undefined>;
  readonly timeoutMs?: number;
  readonly concurrency?: number;
  readonly log?: Logger;
}

/**
 * Delivers hand-offs and customer notices as Standard Webhooks. At least once, deduplicated:
 * a delivered record is never sent again, and every retry keeps its `webhook-id`.
 */
export function startNotifyWorker(opts: NotifyWorkerOptions): Worker<NotifyJob> {
  const worker = new Worker<NotifyJob>(
    NOTIFY_QUEUE,
    async (job) => {
      const key = opts.keys.delivery(job.data.partition, job.data.id);
      const [entry, status] = await opts.redis.hmget(key, 'entry', 'status');
      if (!entry || status === 'delivered' || status === 'no_endpoint') return status ?? 'missing';
      const delivery = JSON.parse(entry) as Delivery;
      const endpoint = await opts.endpointFor(delivery);
      if (!endpoint) {
        await opts.redis.hset(key, 'status', 'no_endpoint');
        return 'no_endpoint';
      }
      const body = JSON.stringify(delivery.body);
      const headers = signatureHeaders(endpoint.secret, delivery.id, Math.floor(Date.now() / 1000), body);
      let response: Response;
      try {
        response = await fetch(endpoint.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body,
          signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
        });
      } catch (error) {
        // Unreachable receiver (refused, reset, timed out): retried like an error answer.
        const reason = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
        await opts.redis.hset(key, 'status', 'retrying', 'lastError', `unreachable: ${reason}`);
        throw error;
      }
      await response.body?.cancel();
      if (!response.ok) {
        await opts.redis.hset(key, 'status', 'retrying', 'lastError', `HTTP ${response.status}`);
        throw new Error(`receiver answered ${response.status}`);
      }
      await opts.redis.hset(key, 'status', 'delivered', 'deliveredAt', new Date().toISOString());
      return 'delivered';
    },
    // Deliveries are deduplicated by their record and webhook-id: a stalled one is retried, not failed.
    { connection: opts.connection, prefix: opts.prefix, concurrency: opts.concurrency ?? 16, maxStalledCount: 1_000 },
  );
  worker.on('failed', (job, error) => {
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    // Out of attempts: a dead letter, kept for ops to inspect and redrive.
    const key = opts.keys.delivery(job.data.partition, job.data.id);
    void opts.redis
      .multi()
      .hset(key, 'status', 'dead', 'lastError', error.message)
      .zadd(`${opts.keys.prefix}deliveries:dead`, Date.now(), `${job.data.partition}/${job.data.id}`)
      .exec();
    opts.log?.warn({ delivery: job.data.id, err: error.message }, 'delivery dead-lettered');
  });
  return worker;
}
