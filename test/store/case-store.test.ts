import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.ts';
import type { Runtime } from '../../src/runtime.ts';
import { openCase } from '../support/policy.ts';
import { agent, closeRuntime, rivalStore, testRuntime, VERIFY } from '../support/runtime.ts';

describe('the case store on real Redis', () => {
  let rt: Runtime;
  const extra: Redis[] = [];
  beforeEach(async () => {
    rt = await testRuntime();
  });
  afterEach(async () => {
    for (const r of extra.splice(0)) r.disconnect();
    await closeRuntime(rt);
  });

  /** Engines in the same process but on their own connections: they race through Redis, not a local lock. */
  function rivalEngines(n: number): Engine[] {
    return Array.from(
      { length: n },
      () => new Engine({ store: rivalStore(rt, extra), policies: rt.policies, maxAttempts: 200 }),
    );
  }

  it('200 concurrent applies on one case: version equals the accepted count and the audit has exactly those entries', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    const engines = rivalEngines(4);
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) =>
        (engines[i % engines.length] as Engine).apply(caseId, { type: 'RESPOND', message: `reply ${i}` }, agent),
      ),
    );
    const accepted = results.filter((r) => r.status === 'fulfilled');
    const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    for (const r of rejected) expect(r.reason).toMatchObject({ code: 'VERSION_CONFLICT' });
    expect(accepted.length + rejected.length).toBe(200);
    expect(accepted.length).toBeGreaterThan(150);
    const found = await rt.engine.get(caseId);
    expect(found?.stored.version).toBe(1 + accepted.length);
    expect(found?.stored.context.accepted).toBe(1 + accepted.length);
    const history = (await rt.store.history(caseId)) as { v: number; data?: { message: string } }[];
    expect(history.map((h) => h.v)).toEqual(Array.from({ length: 1 + accepted.length }, (_, i) => i + 1));
    const versions = accepted.map((r) => (r as PromiseFulfilledResult<{ version: number }>).value.version);
    expect(new Set(versions).size).toBe(accepted.length);
  });

  it('serializes applies to one case inside one process: 200 concurrent, all accepted', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => rt.engine.apply(caseId, { type: 'RESPOND', message: `r${i}` }, agent)),
    );
    expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 2));
  });

  it('a commit that fails half-way leaves nothing: the script checks every key before its first write', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    const keys = rt.store.keys.forCase(caseId);
    await rt.dispatcher.flush();
    const outboxBefore = await rt.redis.xlen(keys.outbox);
    // Break a key the commit writes after the case hash: the audit list becomes a string.
    const audit = await rt.redis.lrange(keys.audit, 0, -1);
    await rt.redis.del(keys.audit);
    await rt.redis.set(keys.audit, 'corrupt');
    const caseBefore = await rt.redis.get(keys.case);
    await expect(rt.engine.apply(caseId, VERIFY, agent, { idempotencyKey: 'k-half' })).rejects.toThrow(/WRONGTYPE/);
    expect(await rt.redis.get(keys.case)).toEqual(caseBefore);
    expect(await rt.redis.xlen(keys.outbox)).toBe(outboxBefore);
    // Opens keep no idempotency record (their case id derives from the key), and VERIFY wrote none.
    expect(await rt.redis.keys(`${rt.config.INTERVENE_PREFIX}*idem*`)).toHaveLength(0);
    // Repair and retry with the same key: it applies once.
    await rt.redis.del(keys.audit);
    await rt.redis.rpush(keys.audit, ...audit);
    expect(await rt.engine.apply(caseId, VERIFY, agent, { idempotencyKey: 'k-half' })).toMatchObject({ version: 2 });
  });

  it("writes each delivery's record in the commit; the outbox carries only its reference; a broken record key fails the commit whole", async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.dispatcher.flush();
    const keys = rt.store.keys.forCase(caseId);
    const handoffKey = keys.delivery(`${caseId}.handoff.1`);
    const caseBefore = await rt.redis.get(keys.case);
    const outboxBefore = await rt.redis.xlen(keys.outbox);
    // The hand-off's record key holds a string: the script's type check fails before any write.
    await rt.redis.set(handoffKey, 'corrupt');
    const flag = { type: 'FLAG', flag: 'legal_dispute' } as const;
    await expect(rt.engine.apply(caseId, flag, agent, { idempotencyKey: 'k-flag' })).rejects.toThrow(
      new RegExp(`WRONGTYPE ${handoffKey.replace(/[{}.]/g, '\\$&')} holds a string, expected hash`),
    );
    expect(await rt.redis.get(keys.case)).toEqual(caseBefore);
    expect(await rt.redis.xlen(keys.outbox)).toBe(outboxBefore);
    expect(await rt.redis.exists(keys.delivery(`${caseId}.notice.2`))).toBe(0);
    expect(await rt.redis.llen(keys.audit)).toBe(1);
    expect(await rt.redis.zscore(keys.index('state:escalated'), caseId)).toBeNull();

    await rt.redis.del(handoffKey);
    const held: unknown[] = [];
    const engine = new Engine({ store: rt.store, policies: rt.policies, onCommitted: (c) => held.push(...c.entries) });
    expect(await engine.apply(caseId, flag, agent, { idempotencyKey: 'k-flag' })).toMatchObject({ state: 'escalated' });
    // Before any dispatcher ran: both records exist, sealed and pending; the stream holds references.
    for (const [id, type] of [
      [`${caseId}.handoff.1`, 'handoff'],
      [`${caseId}.notice.2`, 'customer_notice'],
    ] as const) {
      const record = await rt.redis.hgetall(keys.delivery(id));
      expect(record.status).toBe('pending');
      expect(JSON.parse(record.entry as string)).toMatchObject({
        kind: 'deliver',
        id,
        caseId,
        body: { type, sealed: expect.any(String) },
      });
      expect(held).toContainEqual({
        id: expect.any(String),
        entry: { kind: 'deliver', id, caseId, type, recorded: true },
      });
    }
    const stream = await rt.redis.xrange(keys.outbox, '-', '+');
    const inStream = stream.map(([, fields]) => JSON.parse(fields[1] as string));
    expect(inStream.filter((e) => e.kind === 'deliver').map((e) => Object.keys(e).sort())).toEqual([
      ['caseId', 'id', 'kind', 'recorded', 'type'],
      ['caseId', 'id', 'kind', 'recorded', 'type'],
    ]);
    // The sweep queues them; the records are left as the commit wrote them.
    const records = await Promise.all(
      [`${caseId}.handoff.1`, `${caseId}.notice.2`].map((id) => rt.redis.hgetall(keys.delivery(id))),
    );
    expect(await rt.dispatcher.sweep(0)).toBe(stream.length);
    expect(
      await Promise.all([`${caseId}.handoff.1`, `${caseId}.notice.2`].map((id) => rt.redis.hgetall(keys.delivery(id)))),
    ).toEqual(records);
    expect(await rt.notifyQueue.getJob(`${caseId}.handoff.1`)).toMatchObject({ name: 'handoff' });
    expect(await rt.notifyQueue.getJob(`${caseId}.notice.2`)).toMatchObject({ name: 'customer_notice' });
    expect(await rt.redis.xlen(keys.outbox)).toBe(0);
  });

  it('a delivery record that already exists keeps its fields: the commit writes only the missing ones', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    const keys = rt.store.keys.forCase(caseId);
    const notice = keys.delivery(`${caseId}.notice.2`);
    await rt.redis.hset(notice, 'status', 'delivered');
    await rt.engine.apply(caseId, { type: 'FLAG', flag: 'legal_dispute' }, agent);
    const record = await rt.redis.hgetall(notice);
    expect(record.status).toBe('delivered');
    expect(JSON.parse(record.entry as string)).toMatchObject({ kind: 'deliver', id: `${caseId}.notice.2` });
    // The new record beside it got both fields.
    expect(await rt.redis.hget(keys.delivery(`${caseId}.handoff.1`), 'status')).toBe('pending');
  });

  it('an outbox entry committed before the commit wrote records (a whole delivery) is still recorded and queued', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    const flagged = await rt.engine.apply(caseId, { type: 'FLAG', flag: 'legal_dispute' }, agent);
    expect(flagged.state).toBe('escalated');
    await rt.dispatcher.flush();
    const keys = rt.store.keys.forCase(caseId);
    const id = `${caseId}.handoff.1`;
    // What an older version left behind: the whole sealed delivery in the outbox, no record, no job yet.
    const whole = (await rt.redis.hget(keys.delivery(id), 'entry')) as string;
    await rt.redis.del(keys.delivery(id));
    await (await rt.notifyQueue.getJob(id))?.remove();
    await rt.redis.xadd(keys.outbox, '*', 'e', whole);
    expect(await rt.dispatcher.sweep(0)).toBe(1);
    expect(await rt.redis.hgetall(keys.delivery(id))).toEqual({ entry: whole, status: 'pending' });
    expect(await rt.notifyQueue.getJob(id)).toMatchObject({ name: 'handoff', data: { id } });
    expect(await rt.redis.xlen(keys.outbox)).toBe(0);
  });

  it('an idempotent open returns the same case; the same key with another body is a conflict', async () => {
    const first = await rt.engine.open(openCase(), agent, { idempotencyKey: 'intake-42' });
    const again = await rt.engine.open(openCase(), agent, { idempotencyKey: 'intake-42' });
    expect(again).toMatchObject({ caseId: first.caseId, version: 1, outcome: 'replayed' });
    await expect(
      rt.engine.open(openCase({ subject: 'other' }), agent, { idempotencyKey: 'intake-42' }),
    ).rejects.toMatchObject({
      code: 'IDEMPOTENCY_CONFLICT',
    });
    // Keys are scoped to the caller: another caller's same key is another case.
    const other = await rt.engine.open(openCase(), { name: 'crm', role: 'service' }, { idempotencyKey: 'intake-42' });
    expect(other.caseId).not.toBe(first.caseId);
  });

  it('If-Match: a stale expected version is refused and writes nothing', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    await expect(rt.engine.apply(caseId, VERIFY, agent, { expectedVersion: 7 })).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    expect(await rt.engine.apply(caseId, VERIFY, agent, { expectedVersion: 1 })).toMatchObject({ version: 2 });
  });

  it('bad input writes nothing: unknown contract, channel or category', async () => {
    await expect(rt.engine.open(openCase({ contractId: 'NOPE' }), agent)).rejects.toMatchObject({
      errors: [{ path: 'contractId', message: 'no policy is loaded for contract NOPE' }],
    });
    await expect(rt.engine.open(openCase({ channel: 'fax', category: 'gossip' }), agent)).rejects.toMatchObject({
      errors: [
        { path: 'channel', message: 'must be one of phone, chat, email (3.1.1)' },
        { path: 'category', message: expect.stringMatching(/^must be one of inquiry/) },
      ],
    });
    expect(await rt.redis.keys(`${rt.config.INTERVENE_PREFIX}{*`)).toEqual([]);
  });

  it('refuses events by role (6.1) and departments outside their routing (4.1)', async () => {
    const { caseId } = await rt.engine.open(openCase({ flags: ['legal_dispute'] }), agent);
    await expect(rt.engine.apply(caseId, { type: 'HANDOFF_ACCEPT', department: 'legal' }, agent)).rejects.toMatchObject(
      { code: 'FORBIDDEN' },
    );
    await expect(
      rt.engine.apply(
        caseId,
        { type: 'HANDOFF_ACCEPT', department: 'legal' },
        { name: 'fin', role: 'department', department: 'finance' },
      ),
    ).rejects.toMatchObject({ code: 'FORBIDDEN', clause: '4.1' });
    await expect(rt.engine.apply(caseId, { type: 'DEADLINE', name: 'handoff', epoch: 3 }, agent)).rejects.toMatchObject(
      {
        code: 'FORBIDDEN',
      },
    );
    expect(
      await rt.engine.apply(
        caseId,
        { type: 'HANDOFF_ACCEPT', department: 'legal' },
        { name: 'legal-desk', role: 'department', department: 'legal' },
      ),
    ).toMatchObject({ version: 2 });
  });

  it('keeps a case on the policy version it was opened under (invariant 7)', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    const { testPolicy } = await import('../support/policy.ts');
    rt.policies.add(testPolicy({ firstResponse: 'PT1M' }, 2));
    const newer = await rt.engine.open(openCase(), agent);
    expect((await rt.engine.get(caseId))?.stored.policyVersion).toBe(1);
    expect((await rt.engine.get(newer.caseId))?.stored.policyVersion).toBe(2);
    const ctx = (await rt.engine.get(newer.caseId))?.stored.context;
    expect((ctx?.deadlines.firstResponse?.dueAt ?? 0) - (ctx?.createdAt ?? 0)).toBe(60_000);
  });
});
