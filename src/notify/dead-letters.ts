import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.ts';
import type { NotifyJob } from './delivery.ts';

export interface DeadDelivery {
  readonly partition: number;
  readonly id: string;
  readonly deadSince: string;
  readonly lastError: string | null;
  readonly type: string | null;
}

const deadKey = (keys: Keys) => `${keys.prefix}deliveries:dead`;

/** Deliveries that exhausted their attempts, oldest first. */
export async function listDead(redis: Redis, keys: Keys, limit = 100): Promise<DeadDelivery[]> {
  const rows = await redis.zrange(deadKey(keys), '0', String(limit - 1), 'WITHSCORES');
  const out: DeadDelivery[] = [];
  for (let i = 0; i < rows.length; i += 2) {
    const [partition, id] = (rows[i] as string).split('/') as [string, string];
    const [lastError, entry] = await redis.hmget(keys.delivery(Number(partition), id), 'lastError', 'entry');
    const type = entry ? ((JSON.parse(entry) as { body: { type?: string } }).body.type ?? null) : null;
    out.push({
      partition: Number(partition),
      id,
      deadSince: new Date(Number(rows[i + 1])).toISOString(),
      lastError: lastError ?? null,
      type,
    });
  }
  return out;
}

/** Sends a dead delivery again, keeping its webhook-id so receivers still deduplicate. */
export async function redrive(
  redis: Redis,
  keys: Keys,
  queue: Queue<NotifyJob>,
  partition: number,
  id: string,
): Promise<boolean> {
  const member = `${partition}/${id}`;
  if ((await redis.zscore(deadKey(keys), member)) === null) return false;
  await redis.multi().hset(keys.delivery(partition, id), 'status', 'pending').zrem(deadKey(keys), member).exec();
  await queue.add('redrive', { partition, id }, { jobId: `${id}.redrive.${Date.now()}` });
  return true;
}
