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
  /** Told what each attempt came to (metrics): `failed` is an attempt to be retried, `dead` out of attempts. */
  readonly onOutcome?: (outcome: 'delivered' | 'failed' | 'dead' | 'no_endpoint') => void;
  /** How soon a job held by a stopped or killed worker is re-run (INTERVENE_LOCK_MS, INTERVENE_STALLED_INTERVAL_MS). */
  readonly lockDuration?: number;
  readonly stalledInterval?: number;
  /** 4.2: opens the sealed payload at send time; `undefined` when the customer's data was erased since. */
  readonly open?: (delivery: Delivery) => Promise<Delivery | undefined>;
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
      if (!entry || status === 'delivered' || status === 'no_endpoint' || status === 'erased')
        return status ?? 'missing';
      const stored = JSON.parse(entry) as Delivery;
      const endpoint = await opts.endpointFor(stored);
      if (!endpoint) {
        await opts.redis.hset(key, 'status', 'no_endpoint');
        opts.onOutcome?.('no_endpoint');
        return 'no_endpoint';
      }
      const delivery = opts.open ? await opts.open(stored) : stored;
      if (!delivery) {
        // The customer's personal data was erased after this was queued: it is not sent (4.2).
        await opts.redis.hset(key, 'status', 'erased');
        return 'erased';
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
        opts.onOutcome?.('failed');
        throw error;
      }
      await response.body?.cancel();
      if (!response.ok) {
        await opts.redis.hset(key, 'status', 'retrying', 'lastError', `HTTP ${response.status}`);
        opts.onOutcome?.('failed');
        throw new Error(`receiver answered ${response.status}`);
      }
      await opts.redis.hset(key, 'status', 'delivered', 'deliveredAt', new Date().toISOString());
      opts.onOutcome?.('delivered');
      return 'delivered';
    },
    // Deliveries are deduplicated by their record and webhook-id: a stalled one is retried, not failed.
    {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: opts.concurrency ?? 16,
      maxStalledCount: 1_000,
      ...(opts.lockDuration ? { lockDuration: opts.lockDuration } : {}),
      ...(opts.stalledInterval ? { stalledInterval: opts.stalledInterval } : {}),
    },
  );
  worker.on('failed', (job, error) => {
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    // Out of attempts: a dead letter, kept for ops to inspect and redrive.
    opts.onOutcome?.('dead');
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
