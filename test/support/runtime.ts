import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import type { Policy } from '../../src/policy/policy.ts';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { CaseStore } from '../../src/store/case-store.ts';
import { testPolicy } from './policy.ts';

export const redisUrl = () => inject('redisUrl');

/** A unique key and queue prefix per test, so tests never see each other's data. */
export function uniquePrefix(): string {
  return `t${randomUUID().slice(0, 8)}`;
}

export async function testRuntime(
  opts: {
    policies?: Policy[];
    env?: Record<string, string>;
    url?: string;
    clock?: () => number;
    /** Also export the process metrics (CPU, memory, event loop), as the service does. */
    processMetrics?: boolean;
  } = {},
): Promise<Runtime> {
  const prefix = uniquePrefix();
  const config = loadConfig({
    INTERVENE_PREFIX: `${prefix}:`,
    INTERVENE_QUEUE_PREFIX: `${prefix}-bull`,
    INTERVENE_PARTITIONS: '4',
    INTERVENE_VAR_DIR: join(tmpdir(), `intervene-test-var-${prefix}`),
    INTERVENE_SWEEP_INTERVAL_MS: '200',
    LOG_LEVEL: 'silent',
    ...opts.env,
  });
  return createRuntime(config, createLogger('silent'), {
    redisUrl: opts.url ?? redisUrl(),
    policies: opts.policies ?? [testPolicy()],
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.processMetrics ? { processMetrics: true } : {}),
  });
}

/** Deletes every key under a prefix (test clean-up). */
export async function dropPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

/**
 * A case store on a runtime's data as another process would have it: its own connection, so its own
 * memory of cases, racing the runtime's through Redis. `connections` collects the connection to close.
 */
export function rivalStore(rt: Runtime, connections: Redis[]): CaseStore {
  const redis = new Redis(redisUrl(), { enableAutoPipelining: true });
  connections.push(redis);
  return new CaseStore(redis, {
    prefix: rt.config.INTERVENE_PREFIX,
    partitions: rt.config.INTERVENE_PARTITIONS,
    dataKeys: rt.store.codec.ring,
  });
}

export async function closeRuntime(runtime: Runtime): Promise<void> {
  await runtime.close();
  rmSync(runtime.config.INTERVENE_VAR_DIR, { recursive: true, force: true });
  const url = redisUrl();
  await dropPrefix(url, runtime.config.INTERVENE_PREFIX);
  await dropPrefix(url, runtime.config.INTERVENE_QUEUE_PREFIX);
}

export const agent = { name: 'agent-li', role: 'agent' } as const;
export const service = { name: 'billing-backend', role: 'service' } as const;
export const VERIFY = { type: 'VERIFY', identityVerified: true, serviceUsageConfirmed: true } as const;
