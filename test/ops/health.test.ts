import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/runtime.ts';
import { type RedisServer, startRedisServer } from '../../src/store/redis.ts';
import { type ApiServer, expectProblem, startApi } from '../support/api.ts';
import { parseExposition, sampleValue } from '../support/prometheus.ts';
import { closeRuntime, testRuntime } from '../support/runtime.ts';
import { waitFor } from '../support/wait.ts';

// /healthz says the process is up; /readyz says it can take work: Redis answers, the queues' connection
// is ready, and every worker the process started is running on a ready connection. A failing check is a
// 503 problem that names it. Each test has its own runtime; the Redis-down test its own redis-server.

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function serve(url?: string, env: Record<string, string> = {}): Promise<{ rt: Runtime; api: ApiServer }> {
  const rt = await testRuntime({ ...(url ? { url } : {}), env });
  cleanups.push(() => closeRuntime(rt));
  const api = await startApi(rt);
  cleanups.push(() => api.close());
  return { rt, api };
}

const failedChecks = (body: { errors?: { path: string; message: string }[] }) => (body.errors ?? []).map((e) => e.path);

describe('/readyz', () => {
  it('is 200 when Redis, the queues and every started worker are ready', async () => {
    const { rt, api } = await serve();
    rt.startWorkers(['deadlines', 'notify', 'intake', 'dispatcher']);
    await Promise.all(rt.workers.map((w) => w.waitUntilReady()));
    const ready = await waitFor(
      async () => {
        const res = await api.request('GET', '/readyz', { as: null });
        return res.status === 200 ? res : undefined;
      },
      { what: '/readyz to answer 200 once the workers run' },
    );
    expect(ready.body).toEqual({ status: 'ready' });
    const health = await api.request('GET', '/healthz', { as: null });
    expect(health.body).toEqual({ status: 'ok' });
  });

  it('is a 503 naming the worker that stopped', async () => {
    const { rt, api } = await serve();
    rt.startWorkers(['deadlines', 'notify']);
    await waitFor(async () => (await api.request('GET', '/readyz', { as: null })).status === 200, {
      what: 'ready before the worker stops',
    });
    const notify = rt.workers.find((w) => w.name === 'notify');
    await notify?.close();
    const res = await api.request('GET', '/readyz', { as: null });
    expectProblem(res, 503, 'UNAVAILABLE');
    expect(failedChecks(res.body)).toEqual(['worker:notify']);
    expect(res.body.detail).toMatch(/^not ready: worker:notify \(not running/);
  });

  it('is a 503 naming the queues when their connection is down, while Redis itself answers', async () => {
    const { rt, api } = await serve();
    rt.queueConnection.disconnect();
    const res = await api.request('GET', '/readyz', { as: null });
    expectProblem(res, 503, 'UNAVAILABLE');
    const failed = failedChecks(res.body);
    expect(failed).toEqual(expect.arrayContaining(['queue:deadlines', 'queue:intake', 'queue:notify']));
    expect(failed.filter((name) => !name.startsWith('queue:'))).toEqual([]);
    expect(res.body.errors[0].message).toMatch(/connection/i);
    await rt.queueConnection.connect();
    await waitFor(async () => (await api.request('GET', '/readyz', { as: null })).status === 200, {
      what: '/readyz to recover once the queue connection is back',
    });
  });
});

describe('Redis down', () => {
  let dir: string | undefined;
  let redis: RedisServer | undefined;
  afterAll(async () => {
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('/readyz is a 503 naming redis and the queues within a second, /healthz stays 200, /metrics says so', async () => {
    dir = mkdtempSync(join(tmpdir(), 'intervene-ops-health-'));
    redis = await startRedisServer(dir);
    // The per-key rate limit counts requests in Redis (src/api/privacy.ts): with it on, every keyed request,
    // /metrics included, is a 503 while Redis is down. Off here, to see what /metrics itself answers.
    const { rt, api } = await serve(redis.url, { INTERVENE_RATE_LIMIT: '0' });
    // The runtime's Redis must be back before its clean-up runs (registered after, so it runs first).
    const port = redis.port;
    cleanups.push(async () => {
      if (!(await rt.redis.ping().catch(() => undefined))) redis = await startRedisServer(dir as string, port);
      await waitFor(() => rt.queueConnection.status === 'ready', { what: 'the queue connection back' });
    });
    await redis.stop();

    const res = await api.request('GET', '/readyz', { as: null });
    expectProblem(res, 503, 'UNAVAILABLE');
    expect(res.ms).toBeLessThan(1_000);
    expect(failedChecks(res.body)).toEqual(expect.arrayContaining(['redis', 'queue:deadlines', 'queue:notify']));
    expect(res.body.detail).toMatch(/^not ready: redis \(/);
    expect((await api.request('GET', '/healthz', { as: null })).status).toBe(200);

    const metrics = await api.request('GET', '/metrics', { as: 'ops' });
    expect(metrics.status, metrics.text).toBe(200);
    expect(metrics.ms).toBeLessThan(2_000);
    const samples = parseExposition(metrics.text);
    expect(sampleValue(samples, 'intervene_redis_up')).toBe(0);
    expect(sampleValue(samples, 'intervene_ready')).toBe(0);
    // What could not be read is left out, not reported as an invented 0.
    expect(sampleValue(samples, 'intervene_queue_jobs')).toBeUndefined();
    expect(sampleValue(samples, 'intervene_cases')).toBeUndefined();
    expect(Number.isNaN(sampleValue(samples, 'intervene_redis_rtt_seconds'))).toBe(true);

    redis = await startRedisServer(dir, port);
    await waitFor(async () => (await api.request('GET', '/readyz', { as: null })).status === 200, {
      timeoutMs: 10_000,
      what: '/readyz to recover when Redis is back',
    });
  });
});
