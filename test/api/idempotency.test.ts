import { describe, expect, it } from 'vitest';
import { HttpIdempotency } from '../../src/api/idempotency.ts';
import { createLogger } from '../../src/log.ts';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import {
  type ApiServer,
  CALLERS,
  caseOf,
  expectProblem,
  historyOf,
  openOverHttp,
  prefixSnapshot,
  sendOverHttp,
  startApi,
  useApi,
} from '../support/api.ts';
import { openCase, testPolicy } from '../support/policy.ts';
import { redisUrl, VERIFY } from '../support/runtime.ts';

// Idempotency-Key (IETF draft), If-Match and concurrent writers, over real HTTP.

let rt: Runtime;
let api: ApiServer;
useApi((server) => {
  ({ rt, api } = server);
});

const eventPath = (id: string) => `/v1/cases/${id}/events`;
let n = 0;
const uniqueKey = (what: string) => `${what}-${++n}-${Date.now()}`;

describe('Idempotency-Key', () => {
  it('replays an open: the same status and body, idempotent-replayed, one case', async () => {
    const key = uniqueKey('open');
    const body = openCase({ subject: 'replayed open' });
    const first = await api.request('POST', '/v1/cases', { json: body, headers: { 'idempotency-key': key } });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const before = await prefixSnapshot(rt);
    const second = await api.request('POST', '/v1/cases', { json: body, headers: { 'idempotency-key': key } });
    expect(second.status).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    expect(await prefixSnapshot(rt)).toEqual(before);
    expect(await historyOf(api, first.body.id)).toHaveLength(1);
  });

  it('replays an event: the same status and body, and nothing is written twice', async () => {
    const { id } = await openOverHttp(api, openCase());
    const key = uniqueKey('verify');
    const first = await api.request('POST', eventPath(id), { json: VERIFY, headers: { 'idempotency-key': key } });
    expect(first.status).toBe(200);
    expect(first.body.version).toBe(2);
    const before = await prefixSnapshot(rt);
    for (let i = 0; i < 3; i++) {
      const again = await api.request('POST', eventPath(id), { json: VERIFY, headers: { 'idempotency-key': key } });
      expect(again.status).toBe(200);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toEqual(first.body);
    }
    expect(await prefixSnapshot(rt)).toEqual(before);
    expect(await historyOf(api, id)).toHaveLength(2);
    expect((await caseOf(api, id)).version).toBe(2);
  });

  it('replays a refusal with the same status and problem body', async () => {
    const { id } = await openOverHttp(api, openCase());
    const key = uniqueKey('refused');
    const event = { type: 'RESOLVE', resolution: 'too early' };
    const first = await api.request('POST', eventPath(id), { json: event, headers: { 'idempotency-key': key } });
    expectProblem(first, 422, 'INVALID_TRANSITION', { clause: '3.2' });
    const again = await api.request('POST', eventPath(id), { json: event, headers: { 'idempotency-key': key } });
    expect(again.status).toBe(422);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await historyOf(api, id)).toHaveLength(1);
  });

  it('a replayed problem keeps its content type application/problem+json', async () => {
    const { id } = await openOverHttp(api, openCase());
    const key = uniqueKey('refused-type');
    const event = { type: 'CLOSE' };
    const first = await api.request('POST', eventPath(id), { json: event, headers: { 'idempotency-key': key } });
    expectProblem(first, 422);
    const again = await api.request('POST', eventPath(id), { json: event, headers: { 'idempotency-key': key } });
    // RFC 9457 and the IETF idempotency draft: the replay is the first response, media type included.
    expectProblem(again, 422, first.body.code);
  });

  it('the same key with another body is 422 IDEMPOTENCY_CONFLICT and writes nothing', async () => {
    const { id } = await openOverHttp(api, openCase());
    const key = uniqueKey('conflict');
    await sendOverHttp(api, id, { type: 'RESPOND', message: 'first' }, { headers: { 'idempotency-key': key } });
    const before = await prefixSnapshot(rt);
    const other = await api.request('POST', eventPath(id), {
      json: { type: 'RESPOND', message: 'second' },
      headers: { 'idempotency-key': key },
    });
    expectProblem(other, 422, 'IDEMPOTENCY_CONFLICT');
    // The same key on another case is another request too.
    const { id: id2 } = await openOverHttp(api, openCase());
    const before2 = await prefixSnapshot(rt);
    const elsewhere = await api.request('POST', eventPath(id2), {
      json: { type: 'RESPOND', message: 'first' },
      headers: { 'idempotency-key': key },
    });
    expectProblem(elsewhere, 422, 'IDEMPOTENCY_CONFLICT');
    expect(await prefixSnapshot(rt)).toEqual(before2);
    expect(before2.length).toBeGreaterThan(before.length);
    expect((await caseOf(api, id)).version).toBe(2);
    expect((await caseOf(api, id2)).version).toBe(1);
  });

  it('the same key while the first request is in flight is 409, then proceeds once it is released', async () => {
    const { id } = await openOverHttp(api, openCase());
    const key = uniqueKey('in-flight');
    const event = { type: 'RESPOND', message: 'in flight' };
    const idem = new HttpIdempotency(rt.redis, rt.config.INTERVENE_PREFIX);
    // The first request has claimed the key and not finished: the same principal, key and fingerprint.
    const claimed = await idem.claim(
      CALLERS.service.name,
      key,
      HttpIdempotency.fingerprint('POST', eventPath(id), event),
    );
    expect(claimed.kind).toBe('new');
    const before = await prefixSnapshot(rt);
    const second = await api.request('POST', eventPath(id), { json: event, headers: { 'idempotency-key': key } });
    expectProblem(second, 409, 'IDEMPOTENCY_IN_FLIGHT');
    expect(await prefixSnapshot(rt)).toEqual(before);
    expect((await caseOf(api, id)).version).toBe(1);

    // Another API key with the same Idempotency-Key is not affected: keys are scoped per API key.
    const byAgent = await api.request('POST', eventPath(id), {
      as: 'agent',
      json: event,
      headers: { 'idempotency-key': key },
    });
    expect(byAgent.status).toBe(200);

    await idem.release(CALLERS.service.name, key);
    const third = await api.request('POST', eventPath(id), { json: event, headers: { 'idempotency-key': key } });
    expect(third.status).toBe(200);
    expect(third.body.version).toBe(3);
  });

  it('two identical requests racing with one key: one is applied, the other is a replay or 409, never twice', async () => {
    const { id } = await openOverHttp(api, openCase());
    for (let round = 0; round < 5; round++) {
      const key = uniqueKey('race');
      const event = { type: 'RESPOND', message: `race ${round}` };
      const results = await Promise.all(
        [0, 1, 2, 3].map(() =>
          api.request('POST', eventPath(id), { json: event, headers: { 'idempotency-key': key } }),
        ),
      );
      for (const r of results) expect([200, 409]).toContain(r.status);
      const applied = results.filter((r) => r.status === 200 && !r.headers.get('idempotent-replayed'));
      expect(applied).toHaveLength(1);
      for (const r of results.filter((x) => x.status === 409)) expectProblem(r, 409, 'IDEMPOTENCY_IN_FLIGHT');
    }
    expect(await historyOf(api, id)).toHaveLength(6);
  });

  it('keys are scoped per API key: two callers using one key open two cases', async () => {
    const key = uniqueKey('scoped');
    const body = openCase({ subject: 'scoped key' });
    const a = await api.request('POST', '/v1/cases', {
      as: 'service',
      json: body,
      headers: { 'idempotency-key': key },
    });
    const b = await api.request('POST', '/v1/cases', { as: 'agent', json: body, headers: { 'idempotency-key': key } });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    expect(a.body.id).not.toBe(b.body.id);
    // And each caller's replay finds its own first answer.
    const a2 = await api.request('POST', '/v1/cases', {
      as: 'service',
      json: body,
      headers: { 'idempotency-key': key },
    });
    const b2 = await api.request('POST', '/v1/cases', { as: 'agent', json: body, headers: { 'idempotency-key': key } });
    expect(a2.body.id).toBe(a.body.id);
    expect(b2.body.id).toBe(b.body.id);
  });

  it('rejects a malformed Idempotency-Key with 400 naming the header', async () => {
    const { id } = await openOverHttp(api, openCase());
    for (const bad of ['has space', 'x'.repeat(256), 'tab\there']) {
      const res = await api.request('POST', eventPath(id), {
        json: { type: 'RESPOND' },
        headers: { 'idempotency-key': bad },
      });
      expectProblem(res, 400, 'VALIDATION_FAILED', { path: 'header.idempotency-key' });
    }
    const longest = await api.request('POST', eventPath(id), {
      json: { type: 'RESPOND' },
      headers: { 'idempotency-key': 'k'.repeat(255) },
    });
    expect(longest.status).toBe(200);
    expect((await caseOf(api, id)).version).toBe(2);
  });

  it('a replay is answered even when If-Match has gone stale since (the first answer stands)', async () => {
    const { id } = await openOverHttp(api, openCase());
    const key = uniqueKey('replay-if-match');
    const headers = { 'idempotency-key': key, 'if-match': '"1"' };
    const first = await api.request('POST', eventPath(id), { json: VERIFY, headers });
    expect(first.status).toBe(200);
    const again = await api.request('POST', eventPath(id), { json: VERIFY, headers });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
  });
});

describe('If-Match', () => {
  it('a stale version is 412 PRECONDITION_FAILED and writes nothing; the current one is applied', async () => {
    const { id } = await openOverHttp(api, openCase());
    await sendOverHttp(api, id, VERIFY);
    const get = await api.request('GET', `/v1/cases/${id}`);
    expect(get.headers.get('etag')).toBe('"2"');
    const before = await prefixSnapshot(rt);
    for (const stale of ['"1"', '1', 'W/"1"', '"3"']) {
      const res = await api.request('POST', eventPath(id), {
        json: { type: 'RESPOND' },
        headers: { 'if-match': stale },
      });
      expectProblem(res, 412, 'PRECONDITION_FAILED');
    }
    expect(await prefixSnapshot(rt)).toEqual(before);
    const ok = await api.request('POST', eventPath(id), {
      json: { type: 'RESPOND' },
      headers: { 'if-match': get.headers.get('etag') as string },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.version).toBe(3);
    // The typed client sends If-Match too.
    const client = api.client('agent');
    await expect(client.send(id, { type: 'RESPOND' }, { ifMatch: 2 })).rejects.toMatchObject({
      status: 412,
      code: 'PRECONDITION_FAILED',
    });
    expect(await client.send(id, { type: 'RESPOND' }, { ifMatch: 3 })).toMatchObject({ version: 4 });
  });

  it('a malformed If-Match is 400 naming the header', async () => {
    const { id } = await openOverHttp(api, openCase());
    for (const bad of ['abc', '"x"', '1,2']) {
      const res = await api.request('POST', eventPath(id), { json: { type: 'RESPOND' }, headers: { 'if-match': bad } });
      expectProblem(res, 400, 'VALIDATION_FAILED', { path: 'header.if-match' });
    }
    expect((await caseOf(api, id)).version).toBe(1);
  });

  it('fifty writers with the same If-Match: exactly one wins, the others get 412', async () => {
    const { id } = await openOverHttp(api, openCase());
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        api.request('POST', eventPath(id), {
          json: { type: 'RESPOND', message: `writer ${i}` },
          headers: { 'if-match': '"1"' },
        }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) expectProblem(r, 412, 'PRECONDITION_FAILED');
    expect((await caseOf(api, id)).version).toBe(2);
    expect(await historyOf(api, id)).toHaveLength(2);
  });
});

describe('concurrent posts on one case', () => {
  it('50 RESPOND in parallel: every one applied, the version counts them, the history is gapless', async () => {
    const { id } = await openOverHttp(api, openCase());
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        api.request('POST', eventPath(id), {
          as: i % 2 ? 'agent' : 'supervisor',
          json: { type: 'RESPOND', message: `r${i}` },
        }),
      ),
    );
    for (const r of results) expect([200, 409]).toContain(r.status);
    const ok = results.filter((r) => r.status === 200).length;
    const view = await caseOf(api, id);
    expect(view.version).toBe(1 + ok);
    const history = await historyOf(api, id);
    expect(history.map((e) => e.v)).toEqual(Array.from({ length: 1 + ok }, (_, i) => i + 1));
    expect(new Set(history.slice(1).map((e) => e.data?.message)).size).toBe(ok);
    expect(ok).toBe(50);
  });

  it('two API processes on one Redis: writes race across engines, version = 1 + successes, no lost update', async () => {
    // A second runtime (its own engine, its own in-process serialization) on the same keys: only the
    // version fence of the commit script orders the two.
    const rt2 = await createRuntime(rt.config, createLogger('silent'), {
      redisUrl: redisUrl(),
      policies: [testPolicy()],
    });
    const api2 = await startApi(rt2);
    try {
      const { id } = await openOverHttp(api, openCase());
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          (i % 2 ? api : api2).request('POST', eventPath(id), { json: { type: 'RESPOND', message: `x${i}` } }),
        ),
      );
      for (const r of results) {
        expect([200, 409], r.text).toContain(r.status);
        if (r.status === 409) expectProblem(r, 409, 'VERSION_CONFLICT');
      }
      const ok = results.filter((r) => r.status === 200).length;
      const view = await caseOf(api2, id);
      expect(view.version).toBe(1 + ok);
      const history = await historyOf(api, id);
      expect(history.map((e) => e.v)).toEqual(Array.from({ length: 1 + ok }, (_, i) => i + 1));
      const messages = history.slice(1).map((e) => e.data?.message);
      expect(new Set(messages).size).toBe(ok);
      // Every 200 is in the history: its message appears exactly once.
      const applied = results.flatMap((r, i) => (r.status === 200 ? [`x${i}`] : []));
      expect(messages.slice().sort()).toEqual(applied.sort());
    } finally {
      await api2.close();
      await rt2.close();
    }
  });
});
