import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Engine } from '../../src/engine/engine.ts';
import { Erasure } from '../../src/privacy/erasure.ts';
import type { Runtime } from '../../src/runtime.ts';
import { SYSTEM_ACTOR } from '../../src/runtime.ts';
import type { StoredCase } from '../../src/store/case-store.ts';
import { auditOf, readCase, staleTimersDropped } from '../support/cases.ts';
import { CONTRACT, openCase } from '../support/policy.ts';
import { agent, closeRuntime, rivalStore, testRuntime, VERIFY } from '../support/runtime.ts';

// The engine decides on the case as its process last committed it, without reading it first; the commit
// script's idempotency, version and record-fingerprint checks fence that guess. These tests hold a second engine ("the other
// process": its own connection and store, so its own memory of cases) moving the case behind the first
// one's back, and check that every answer is the one a fresh read would have given.

describe('deciding on the case as this process last committed it', () => {
  let rt: Runtime;
  const extra: Redis[] = [];
  beforeEach(async () => {
    rt = await testRuntime();
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const r of extra.splice(0)) r.disconnect();
    await closeRuntime(rt);
  });

  const otherProcess = () => new Engine({ store: rivalStore(rt, extra), policies: rt.policies });

  it('commits the next event of a case it committed without reading the case first', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    const load = vi.spyOn(rt.store, 'load');
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    await rt.engine.apply(caseId, VERIFY, agent);
    expect(load).not.toHaveBeenCalled();
    expect(rt.store.lastCommitted(caseId)).toStrictEqual(await readCase(rt, caseId));
    expect((await auditOf(rt, caseId)).map((e) => e.event)).toEqual(['OPEN', 'RESPOND', 'VERIFY']);
  });

  it('a case moved by another process: the version check fails the guess, the event is decided again on the case as read', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    await otherProcess().apply(caseId, VERIFY, agent);
    const load = vi.spyOn(rt.store, 'load');
    // Accepted on both views (version 2 remembered, 3 stored): the commit is refused, then redone on version 3.
    const result = await rt.engine.apply(caseId, { type: 'RESPOND', message: 'again' }, agent);
    expect(result).toMatchObject({ version: 4, state: 'verified', outcome: 'applied' });
    expect(load).toHaveBeenCalledTimes(1);
    const audit = await auditOf(rt, caseId);
    expect(audit.map((e) => [e.v, e.event])).toEqual([
      [1, 'OPEN'],
      [2, 'RESPOND'],
      [3, 'VERIFY'],
      [4, 'RESPOND'],
    ]);
  });

  it('an event refused on the remembered case but accepted on the stored one is accepted', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    await otherProcess().apply(caseId, VERIFY, agent);
    // Remembered: received, not verified (RESOLVE refused, 2.2.2). Stored: verified.
    const result = await rt.engine.apply(caseId, { type: 'RESOLVE', resolution: 'answered' }, agent);
    expect(result).toMatchObject({ version: 4, state: 'resolved', outcome: 'applied' });
    expect(rt.store.lastCommitted(caseId)).toEqual(await readCase(rt, caseId));
  });

  it('a refusal is still a refusal, and writes nothing', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    const before = await readCase(rt, caseId);
    await expect(rt.engine.apply(caseId, { type: 'RESOLVE', resolution: 'answered' }, agent)).rejects.toMatchObject({
      clause: expect.any(String),
    });
    expect(await readCase(rt, caseId)).toEqual(before);
    expect(await auditOf(rt, caseId)).toHaveLength(2);
  });

  it('a replayed request answers its first result, whether the remembered case accepts or refuses it again', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    const respond = await rt.engine.apply(caseId, { type: 'RESPOND' }, agent, { idempotencyKey: 'respond-1' });
    const verify = await rt.engine.apply(caseId, VERIFY, agent, { idempotencyKey: 'verify-1' });
    await rt.engine.apply(caseId, { type: 'RESOLVE', resolution: 'answered' }, agent, { idempotencyKey: 'resolve-1' });
    // RESPOND would be accepted again on the remembered (resolved) case: the commit script answers the replay.
    expect(await rt.engine.apply(caseId, { type: 'RESPOND' }, agent, { idempotencyKey: 'respond-1' })).toEqual({
      ...respond,
      outcome: 'replayed',
    });
    // VERIFY would be refused on it: the refusal is not kept, the read finds the idempotency record.
    expect(await rt.engine.apply(caseId, VERIFY, agent, { idempotencyKey: 'verify-1' })).toEqual({
      ...verify,
      outcome: 'replayed',
    });
    // The same key with another body is a conflict either way.
    await expect(
      rt.engine.apply(caseId, { type: 'RESPOND', message: 'other' }, agent, { idempotencyKey: 'respond-1' }),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    expect(await auditOf(rt, caseId)).toHaveLength(4);
  });

  it('If-Match is checked against the stored version, not the remembered one', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    await otherProcess().apply(caseId, VERIFY, agent);
    await expect(rt.engine.apply(caseId, { type: 'RESPOND' }, agent, { expectedVersion: 2 })).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    expect(await rt.engine.apply(caseId, { type: 'RESPOND' }, agent, { expectedVersion: 3 })).toMatchObject({
      version: 4,
      outcome: 'applied',
    });
  });

  it('If-Match below the remembered version is refused', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    await expect(rt.engine.apply(caseId, { type: 'RESPOND' }, agent, { expectedVersion: 1 })).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    expect(await auditOf(rt, caseId)).toHaveLength(2);
  });

  it('a replay answered by the commit script asks for no outbox sweep, as one found by a read does not', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    const first = await rt.engine.apply(caseId, { type: 'RESPOND' }, agent, { idempotencyKey: 'respond-1' });
    const sweep = vi.spyOn(rt.dispatcher, 'sweep');
    const load = vi.spyOn(rt.store, 'load');
    expect(await rt.engine.apply(caseId, { type: 'RESPOND' }, agent, { idempotencyKey: 'respond-1' })).toEqual({
      ...first,
      outcome: 'replayed',
    });
    expect(load).not.toHaveBeenCalled(); // answered by the script, on the remembered case
    expect(sweep).not.toHaveBeenCalled();
  });

  /**
   * Redis acknowledged this process's commit of version 3, then lost it (`appendfsync everysec` and a
   * crash, or an asynchronous failover): the record is back at version 2, and another process commits its
   * own version 3. This process still remembers its lost version 3.
   */
  async function lostWriteThenOther(other: (caseId: string) => Promise<unknown>): Promise<string> {
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    const k = rt.store.keys.forCase(caseId);
    const v2 = (await rt.redis.getBuffer(k.case)) as Buffer;
    await rt.engine.apply(caseId, VERIFY, agent);
    await rt.redis.set(k.case, v2);
    await rt.redis.rpop(k.audit);
    await other(caseId);
    expect(rt.store.lastCommitted(caseId)?.version).toBe(3);
    expect((await readCase(rt, caseId)).version).toBe(3);
    return caseId;
  }

  it('a version number reused after Redis lost a write is not taken for the remembered one (the record fingerprint)', async () => {
    const caseId = await lostWriteThenOther((id) => otherProcess().apply(id, { type: 'RESPOND', message: 'B' }, agent));
    // Remembered: verified (the lost VERIFY). Stored: not verified. A fresh read refuses RESOLVE (2.2.2).
    await expect(rt.engine.apply(caseId, { type: 'RESOLVE', resolution: 'answered' }, agent)).rejects.toMatchObject({
      code: expect.any(String),
    });
    const audit = await auditOf(rt, caseId);
    expect(audit.map((e) => [e.v, e.event])).toEqual([
      [1, 'OPEN'],
      [2, 'RESPOND'],
      [3, 'RESPOND'],
    ]);
    // Another event is decided on the stored version 3.
    expect(await rt.engine.apply(caseId, VERIFY, agent)).toMatchObject({ version: 4, state: 'verified' });
    expect(rt.store.lastCommitted(caseId)).toStrictEqual(await readCase(rt, caseId));
  });

  it("fingerprints a case by the record's bytes as Redis hashes them, read or written", async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    const key = rt.store.keys.forCase(caseId).case;
    const redisPrint = async () => rt.redis.eval("return redis.sha1hex(redis.call('GET', KEYS[1]))", 1, key);
    const { stored } = await rt.store.load(caseId);
    expect(rt.store.fingerprintOf(stored as StoredCase)).toBe(await redisPrint());
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    const remembered = rt.store.lastCommitted(caseId) as StoredCase;
    expect(rt.store.fingerprintOf(remembered)).toBe(await redisPrint());
    expect(rt.store.fingerprintOf(remembered)).not.toBe(rt.store.fingerprintOf(stored as StoredCase));
  });

  it('an erasure another process made after a lost write stays made', async () => {
    const caseId = await lostWriteThenOther(async (id) => {
      const store = rivalStore(rt, extra);
      const erasure = new Erasure({ store, access: rt.access, policyOf: async () => rt.policies.current(CONTRACT) });
      expect(await erasure.case(id, { name: 'ops-zhao', role: 'ops' }, 'request')).toBe(true);
    });
    const customerId = (rt.store.lastCommitted(caseId) as StoredCase).context.open.customer.id;
    expect((await readCase(rt, caseId)).context.open.customer.id).not.toBe(customerId);
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    const after = await readCase(rt, caseId);
    expect(after.version).toBe(4);
    expect(JSON.stringify(after)).not.toContain(customerId);
  });

  it('a timer met by another process is dropped and counted once, not fired on the remembered case', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    // Remembered: firstResponse armed at epoch 1. Stored: met by the other process's RESPOND.
    await otherProcess().apply(caseId, { type: 'RESPOND' }, agent);
    const before = await readCase(rt, caseId);
    const fired = await rt.engine.apply(caseId, { type: 'DEADLINE', name: 'firstResponse', epoch: 1 }, SYSTEM_ACTOR);
    expect(fired).toMatchObject({ outcome: 'stale', version: 2, state: 'received' });
    expect(await staleTimersDropped(rt)).toBe(1);
    expect(await readCase(rt, caseId)).toEqual(before);
  });

  it('a timer the remembered case holds stale is decided on the stored case', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    const remembered = rt.store.lastCommitted(caseId)?.context.deadlines.initialNotice;
    // The other process pauses and resumes the case: initialNotice is armed again, at a new epoch.
    const other = otherProcess();
    await other.apply(caseId, VERIFY, agent);
    await other.apply(caseId, { type: 'REQUEST_INFO', request: 'the order number' }, agent);
    await other.apply(caseId, { type: 'CUSTOMER_REPLY' }, agent);
    const stored = (await readCase(rt, caseId)).context.deadlines.initialNotice;
    expect(stored?.status).toBe('armed');
    expect(stored?.epoch).not.toBe(remembered?.epoch);
    // Stale on the remembered case, live (and not yet due) on the stored one: not dropped.
    const fired = await rt.engine.apply(
      caseId,
      { type: 'DEADLINE', name: 'initialNotice', epoch: stored?.epoch as number },
      SYSTEM_ACTOR,
    );
    expect(fired).toMatchObject({ outcome: 'early', version: 5, dueAt: stored?.dueAt });
    expect(await staleTimersDropped(rt)).toBe(0);
  });

  it('an erasure committed in this process replaces what the engine remembers (no personal data kept)', async () => {
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    const customer = (await readCase(rt, caseId)).context.open.customer;
    expect(JSON.stringify(rt.store.lastCommitted(caseId))).toContain(customer.id);
    await rt.erasure.case(caseId, { name: 'ops-zhao', role: 'ops' }, 'request');
    const remembered = rt.store.lastCommitted(caseId);
    expect(remembered).toEqual(await readCase(rt, caseId));
    expect(JSON.stringify(remembered)).not.toContain(customer.id);
    expect(await rt.engine.apply(caseId, VERIFY, agent)).toMatchObject({ version: 4, outcome: 'applied' });
  });
});
