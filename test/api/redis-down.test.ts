import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/runtime.ts';
import { type RedisServer, startRedisServer } from '../../src/store/redis.ts';
import { type ApiServer, caseOf, expectProblem, historyOf, openOverHttp, startApi } from '../support/api.ts';
import { openCase } from '../support/policy.ts';
import { closeRuntime, testRuntime } from '../support/runtime.ts';
import { waitFor } from '../support/wait.ts';

// Redis unavailable: every request that needs it is a 503 problem within a second, never a hanging request,
// and the same running app recovers by itself when Redis returns. The Redis here is this file's own.

let dir: string;
let redis: RedisServer | undefined;
let rt: Runtime | undefined;
let api: ApiServer | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'intervene-api-redis-down-'));
  redis = await startRedisServer(dir);
  rt = await testRuntime({ url: redis.url });
  api = await startApi(rt);
});
afterAll(async () => {
  await api?.close();
  // Make sure the server is up again so the runtime closes cleanly, then stop it.
  if (redis && rt) {
    const port = redis.port;
    if (!(await rt.redis.ping().catch(() => undefined))) redis = await startRedisServer(dir, port);
  }
  if (rt) await closeRuntime(rt);
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Redis unavailable', () => {
  it('answers 503 problems quickly while Redis is down and recovers without restarting the app', async () => {
    const server = api as ApiServer;
    const opened = await openOverHttp(server, openCase());
    const id = opened.id as string;

    await (redis as RedisServer).stop();

    const requests: [string, string, Parameters<ApiServer['request']>[2]][] = [
      ['GET', `/v1/cases/${id}`, {}],
      ['GET', `/v1/cases/${id}/history`, {}],
      ['GET', '/v1/cases', {}],
      ['POST', `/v1/cases/${id}/events`, { json: { type: 'RESPOND' } }],
      [
        'POST',
        `/v1/cases/${id}/events`,
        { json: { type: 'RESPOND' }, headers: { 'idempotency-key': 'during-outage' } },
      ],
      ['POST', '/v1/cases', { json: openCase({ subject: 'opened during the outage' }) }],
      ['POST', '/v1/cases', { json: openCase(), headers: { 'idempotency-key': 'open-during-outage' } }],
    ];
    for (const [method, path, opts] of requests) {
      const res = await server.request(method, path, opts);
      expectProblem(res, 503, 'UNAVAILABLE');
      expect(res.ms, `${method} ${path} took ${Math.round(res.ms)} ms`).toBeLessThan(1_000);
    }
    // Readiness says so, within a second; liveness does not depend on Redis.
    const ready = await server.request('GET', '/readyz', { as: null });
    expectProblem(ready, 503, 'UNAVAILABLE');
    expect(ready.ms).toBeLessThan(1_000);
    expect((await server.request('GET', '/healthz', { as: null })).status).toBe(200);
    // Requests that need no Redis keep working.
    expect((await server.request('GET', '/v1/contracts')).status).toBe(200);
    expect((await server.request('GET', '/v1/openapi.json', { as: null })).status).toBe(200);
    // Validation comes before the store: bad input is still a 400, not a 503.
    expectProblem(
      await server.request('POST', `/v1/cases/${id}/events`, { json: { type: 'NOPE' } }),
      400,
      'VALIDATION_FAILED',
    );

    // Redis returns on the same port with its data (AOF): the same app serves again by itself.
    redis = await startRedisServer(dir, (redis as RedisServer).port);
    const back = await waitFor(
      async () => {
        const res = await server.request('GET', `/v1/cases/${id}`);
        return res.status === 200 ? res : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'the API to serve again after Redis returned' },
    );
    expect(back.body).toMatchObject({ id, version: 1, state: 'received' });
    // Readiness also needs the queues' own connection back, which reconnects on its own schedule.
    await waitFor(async () => (await server.request('GET', '/readyz', { as: null })).status === 200, {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: '/readyz to answer 200 after Redis returned',
    });

    // Nothing attempted during the outage was applied; the keys used then are free, not stuck "in flight".
    expect(await historyOf(server, id)).toHaveLength(1);
    const retried = await server.request('POST', `/v1/cases/${id}/events`, {
      json: { type: 'RESPOND' },
      headers: { 'idempotency-key': 'during-outage' },
    });
    expect(retried.status, retried.text).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    const reopened = await server.request('POST', '/v1/cases', {
      json: openCase(),
      headers: { 'idempotency-key': 'open-during-outage' },
    });
    expect(reopened.status, reopened.text).toBe(201);
    expect((await caseOf(server, id)).version).toBe(2);
  });

  it('a second outage is handled the same way (the client does not give up reconnecting)', async () => {
    const server = api as ApiServer;
    const { id } = await openOverHttp(server, openCase());
    for (let round = 0; round < 2; round++) {
      await (redis as RedisServer).stop();
      const res = await server.request('POST', `/v1/cases/${id}/events`, { json: { type: 'RESPOND' } });
      expectProblem(res, 503, 'UNAVAILABLE');
      expect(res.ms).toBeLessThan(1_000);
      redis = await startRedisServer(dir, (redis as RedisServer).port);
      await waitFor(
        async () =>
          (await server.request('POST', `/v1/cases/${id}/events`, { json: { type: 'RESPOND' } })).status === 200,
        { timeoutMs: 10_000, intervalMs: 100, what: 'writes to succeed again' },
      );
    }
    expect((await caseOf(server, id)).version).toBe(3);
  });
});

describe('Redis not answering (the process is frozen: connected, but no replies)', () => {
  it('answers 503 within a second instead of hanging, and serves again when Redis resumes', async () => {
    const server = api as ApiServer;
    const { id } = await openOverHttp(server, openCase());
    (redis as RedisServer).kill('SIGSTOP');
    try {
      const started = Date.now();
      const res = await server
        .request('GET', `/v1/cases/${id}`, { timeoutMs: 3_000 })
        .catch((error: Error) => ({ status: 0, error: error.name, ms: Date.now() - started }));
      expect(res.status, `the request ${res.status === 0 ? 'hung for 3 s' : `answered ${res.status}`}`).toBe(503);
      expect(res.ms).toBeLessThan(1_000);
    } finally {
      (redis as RedisServer).kill('SIGCONT');
    }
    await waitFor(async () => (await server.request('GET', `/v1/cases/${id}`)).status === 200, {
      timeoutMs: 10_000,
      what: 'reads to succeed after Redis resumed',
    });
  });
});
