import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/runtime.ts';
import { type ApiServer, expectProblem, openOverHttp, prefixSnapshot, sendOverHttp, startApi } from '../support/api.ts';
import { openCase } from '../support/policy.ts';
import { closeRuntime, dropPrefix, redisUrl, testRuntime } from '../support/runtime.ts';

// 6.1: the access log — who, role, department, what, when, within authority — append-only (each entry
// chained to the one before), queryable by case and by person; and abuse resistance: rate limits per
// API key, shared by every API process through Redis.

let rt: Runtime;
let api: ApiServer;
beforeAll(async () => {
  rt = await testRuntime();
  api = await startApi(rt);
});
afterAll(async () => {
  await api?.close();
  if (rt) await closeRuntime(rt);
  await dropPrefix(redisUrl(), rt.access.prefix);
});

const sleepToNextSecond = () => new Promise((r) => setTimeout(r, 1_000 - (Date.now() % 1_000) + 20));

describe('the access log', () => {
  let caseId: string;
  beforeAll(async () => {
    caseId = (await openOverHttp(api, openCase())).id;
    await sleepToNextSecond();
    await api.request('GET', `/v1/cases/${caseId}`, { as: 'agent' });
    await api.request('GET', `/v1/cases/${caseId}`, { as: 'auditor' });
    await api.request('POST', `/v1/cases/${caseId}/events`, { as: 'ops', json: { type: 'RESPOND' } });
  });

  it('answers by case: every read and action with who, role, what, when and whether within authority', async () => {
    const res = await api.request('GET', `/v1/access-log?caseId=${caseId}`, { as: 'auditor' });
    expect(res.status, res.text).toBe(200);
    const items = res.body.items as Record<string, any>[];
    expect(items.map((e) => `${e.actor.name} ${e.action} ${e.withinAuthority}`)).toEqual([
      'ops-zhao event false',
      'auditor-qian read true',
      'agent-li read true',
      'billing-backend open true',
    ]);
    for (const e of items) {
      expect(Date.parse(e.at)).toBeGreaterThan(Date.now() - 60_000);
      expect(e.via).toBe('api');
      expect(e.caseId).toBe(caseId);
    }
    expect(items[0]).toMatchObject({ event: 'RESPOND', code: 'FORBIDDEN', clause: '6.1', status: 403 });
    expect(items[1]).toMatchObject({ fields: ['customer.id'], masked: ['customer.name', 'customer.phone', 'subject'] });
    expect(items[3]).toMatchObject({ route: 'POST /v1/cases', status: 201 });
  });

  it('an idempotent replay that shows personal data is recorded like the first answer', async () => {
    const id = (await openOverHttp(api, openCase({ externalRef: 'replay-log' }))).id;
    const send = () =>
      api.request('POST', `/v1/cases/${id}/events`, {
        as: 'agent',
        json: { type: 'RESPOND', message: 'once' },
        headers: { 'idempotency-key': `replay-${id}` },
      });
    expect((await send()).status).toBe(200);
    const again = await send();
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const res = await api.request('GET', `/v1/access-log?caseId=${id}`, { as: 'auditor' });
    const events = (res.body.items as Record<string, any>[]).filter((e) => e.action === 'event');
    expect(events).toHaveLength(2);
    expect(events[0]?.fields).toEqual(events[1]?.fields);
    expect(events[0]?.fields).toContain('customer.name');
  });

  it('answers by person, newest first, in pages', async () => {
    for (let i = 0; i < 3; i++) await api.request('GET', `/v1/cases/${caseId}`, { as: 'supervisor' });
    const first = await api.request('GET', '/v1/access-log?actor=supervisor-wang&limit=2', { as: 'auditor' });
    expect(first.body.items).toHaveLength(2);
    expect(first.body.nextCursor).toMatch(/^\d+-\d+$/);
    const rest = await api.request(
      'GET',
      `/v1/access-log?actor=supervisor-wang&limit=2&cursor=${first.body.nextCursor}`,
      {
        as: 'supervisor',
      },
    );
    // The supervisor's own reads of the log are in its stream too.
    const all = [...first.body.items, ...rest.body.items];
    expect(all.filter((e: any) => e.action === 'read')).toHaveLength(3);
    expect(new Set(all.map((e: any) => e.id)).size).toBe(all.length);
  });

  it('reading the log is logged; it is for auditors and supervisors only; a bad query names the field', async () => {
    await api.request('GET', `/v1/access-log?caseId=${caseId}`, { as: 'auditor' });
    const own = await api.request('GET', '/v1/access-log?actor=auditor-qian', { as: 'auditor' });
    expect(own.body.items.some((e: any) => e.action === 'access-log' && e.caseId === caseId)).toBe(true);
    for (const as of ['agent', 'ops', 'service', 'legal'] as const) {
      expectProblem(await api.request('GET', `/v1/access-log?caseId=${caseId}`, { as }), 403, 'FORBIDDEN', {
        clause: '6.1',
      });
    }
    expectProblem(await api.request('GET', '/v1/access-log', { as: 'auditor' }), 400, 'VALIDATION_FAILED', {
      path: 'query.caseId',
    });
    expectProblem(
      await api.request('GET', `/v1/access-log?caseId=${caseId}&actor=x`, { as: 'auditor' }),
      400,
      'VALIDATION_FAILED',
      { mentions: 'exactly one of caseId, actor or customerId' },
    );
    expectProblem(
      await api.request('GET', '/v1/access-log?actor=a&limit=0', { as: 'auditor' }),
      400,
      'VALIDATION_FAILED',
      {
        path: 'query.limit',
      },
    );
  });

  it('is append-only and chained: an entry removed from the middle is found by verify', async () => {
    const key = rt.access.caseKey(caseId);
    expect(await rt.access.verify(key)).toEqual({ entries: expect.any(Number), brokenAt: null });
    const rows = await rt.redis.xrange(key, '-', '+');
    expect(rows.length).toBeGreaterThanOrEqual(4);
    const victim = rows[1]?.[0] as string;
    await rt.redis.xdel(key, victim);
    const after = await rt.access.verify(key);
    expect(after.brokenAt).toBe(rows[2]?.[0]);
    expect(after.entries).toBe(1);
  });

  it('holds no personal data: field names and ids only', async () => {
    const opened = await openOverHttp(
      api,
      openCase({ customer: { id: 'alog-1', name: '赵钱孙', phone: '13900001111', email: 'zqs@example.com' } }),
    );
    await api.request('GET', `/v1/cases/${opened.id}`, { as: 'ops' });
    const rows = await rt.redis.xrange(rt.access.caseKey(opened.id), '-', '+');
    const text = JSON.stringify(rows);
    for (const value of ['赵钱孙', '13900001111', 'zqs@example.com', 'alog-1']) expect(text).not.toContain(value);
    expect(text).toContain('customer.name');
  });
});

describe('rate limits per API key', () => {
  let limited: Runtime;
  let api: ApiServer;
  let second: ApiServer;
  beforeAll(async () => {
    limited = await testRuntime({ env: { INTERVENE_RATE_LIMIT: '5', INTERVENE_RATE_LIMIT_SERVICE: '0' } });
    api = await startApi(limited);
    second = await startApi(limited);
  });
  afterAll(async () => {
    await api?.close();
    await second?.close();
    if (limited) await closeRuntime(limited);
    await dropPrefix(redisUrl(), limited.access.prefix);
  });

  it('a person’s key gets 429 past its limit per second, with Retry-After, across API processes', async () => {
    const id = (await openOverHttp(api, openCase())).id;
    await sleepToNextSecond();
    const before = await prefixSnapshot(limited);
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) {
      const res = await (i % 2 ? second : api).request('GET', `/v1/cases/${id}`, { as: 'agent' });
      statuses.push(res.status);
      if (res.status === 429) {
        expectProblem(res, 429, 'RATE_LIMITED');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
    }
    // Two servers, one budget: at most 5 in each of the (at most two) seconds the burst spans.
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(5);
    expect(before.length).toBeGreaterThan(0);
  });

  it('a write past the limit is refused before it reaches the engine: nothing is written', async () => {
    const id = (await openOverHttp(api, openCase())).id;
    await sleepToNextSecond();
    for (let i = 0; i < 5; i++) expect((await api.request('GET', `/v1/cases/${id}`, { as: 'agent' })).status).toBe(200);
    const before = await prefixSnapshot(limited);
    const write = await second.request('POST', `/v1/cases/${id}/events`, { as: 'agent', json: { type: 'RESPOND' } });
    expectProblem(write, 429, 'RATE_LIMITED');
    expect(await prefixSnapshot(limited)).toEqual(before);
  });

  it('another key keeps its own budget, and backends (service) are not limited by default', async () => {
    const id = (await openOverHttp(api, openCase())).id;
    await sleepToNextSecond();
    for (let i = 0; i < 8; i++) await api.request('GET', `/v1/cases/${id}`, { as: 'agent' });
    const supervisor = await api.request('GET', `/v1/cases/${id}`, { as: 'supervisor' });
    expect(supervisor.status).toBe(200);
    for (let i = 0; i < 30; i++) {
      const res = await api.request('GET', `/v1/cases/${id}`);
      expect(res.status).toBe(200);
    }
    await sendOverHttp(api, id, { type: 'RESPOND' });
  });
});

describe('when the access log cannot be written', () => {
  it('a read is not answered (fail closed); a write that committed is answered as it is', async () => {
    const c = await openOverHttp(api, openCase());
    // Break the caller's stream: the append fails with WRONGTYPE.
    await rt.redis.set(rt.access.actorKey('billing-backend'), 'not a stream');
    try {
      const read = await api.request('GET', `/v1/cases/${c.id}`);
      expect(read.status).toBeGreaterThanOrEqual(500);
      expect(read.text).not.toContain('张三');
      const write = await api.request('POST', `/v1/cases/${c.id}/events`, { json: { type: 'RESPOND' } });
      expect(write.status).toBe(200);
      expect(write.body.version).toBe(2);
    } finally {
      await rt.redis.del(rt.access.actorKey('billing-backend'));
    }
  });
});
