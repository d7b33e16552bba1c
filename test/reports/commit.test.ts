import { afterEach, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/policy.ts';
import { ReportFolder } from '../../src/reports/folder.ts';
import type { Runtime } from '../../src/runtime.ts';
import { ReportStore } from '../../src/store/report-store.ts';
import { exampleDocument, openCase } from '../support/policy.ts';
import { agent, closeRuntime, testRuntime, VERIFY } from '../support/runtime.ts';

// The report fact is part of the atomic commit (DESIGN.md invariant 2): one per accepted event, none for
// a refusal or a replay, and a broken facts key fails the commit before anything is written.

let rt: Runtime | undefined;
afterEach(async () => {
  if (rt) await closeRuntime(rt);
  rt = undefined;
});

const factsOf = async (runtime: Runtime, caseId: string) => {
  const key = `${runtime.store.keys.forCase(caseId).index('facts')}`;
  return (await runtime.redis.xrange(key, '-', '+')).map(([, f]) => JSON.parse(f[1] as string));
};

describe('report facts in the commit (3.3)', () => {
  it('appends one fact per accepted event; a refusal or a replay appends none', async () => {
    rt = await testRuntime();
    const { caseId } = await rt.engine.open(openCase() as never, agent, { idempotencyKey: 'open-1' });
    await rt.engine.open(openCase() as never, agent, { idempotencyKey: 'open-1' }); // replayed open
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent, { idempotencyKey: 'r-1' });
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent, { idempotencyKey: 'r-1' }); // replay
    await expect(rt.engine.apply(caseId, { type: 'RESOLVE', resolution: 'x' }, agent)).rejects.toMatchObject({
      code: 'INVALID_TRANSITION',
    });
    await rt.engine.apply(caseId, VERIFY, agent);
    const facts = await factsOf(rt, caseId);
    expect(facts.map((f) => [f.e, f.f, f.t, f.l, f.r])).toEqual([
      ['OPEN', null, 'received', '2.1', 'agent'],
      ['RESPOND', 'received', 'received', '3.1.3', 'agent'],
      ['VERIFY', 'received', 'verified', '2.2.2', 'agent'],
    ]);
    expect(facts[1].k).toEqual([{ n: 'firstResponse', s: 'met', l: '3.1.3', ms: expect.any(Number) }]);
    expect((await rt.engine.get(caseId))?.stored.version).toBe(3);
  });

  it('a facts key of the wrong type fails the commit before its first write', async () => {
    rt = await testRuntime();
    const { caseId } = await rt.engine.open(openCase() as never, agent);
    const k = rt.store.keys.forCase(caseId);
    const factsKey = k.index('facts');
    await rt.dispatcher.flush();
    const caseBefore = await rt.redis.get(k.case);
    const auditBefore = await rt.redis.lrange(k.audit, 0, -1);
    const outboxBefore = await rt.redis.xlen(k.outbox);
    await rt.redis.del(factsKey);
    await rt.redis.set(factsKey, 'corrupt');
    await expect(rt.engine.apply(caseId, VERIFY, agent, { idempotencyKey: 'k-broken' })).rejects.toThrow(
      /WRONGTYPE .*:facts holds a string, expected stream/,
    );
    expect(await rt.redis.get(k.case)).toEqual(caseBefore);
    expect(await rt.redis.lrange(k.audit, 0, -1)).toEqual(auditBefore);
    expect(await rt.redis.xlen(k.outbox)).toBe(outboxBefore);
    await rt.redis.del(factsKey);
    expect(await rt.engine.apply(caseId, VERIFY, agent, { idempotencyKey: 'k-broken' })).toMatchObject({ version: 2 });
    expect((await factsOf(rt, caseId)).map((f) => f.e)).toEqual(['VERIFY']);
  });

  it('a policy with reports turned off writes no facts', async () => {
    const doc = exampleDocument();
    doc.reports = { enabled: false };
    rt = await testRuntime({ policies: [parsePolicy(doc, 'no reports')] });
    const { caseId } = await rt.engine.open(openCase() as never, agent);
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    expect(await rt.redis.exists(rt.store.keys.forCase(caseId).index('facts'))).toBe(0);
  });

  it('a fold meeting an aggregate key of the wrong type writes nothing and keeps its cursor', async () => {
    rt = await testRuntime();
    const { caseId } = await rt.engine.open(openCase() as never, agent);
    const partition = rt.store.partitionOf(caseId);
    const store = new ReportStore(rt.redis, rt.store.keys);
    const day = (await factsOf(rt, caseId))[0].d as string;
    await rt.redis.set(store.counters(partition, 'MC-2026-001', day), 'corrupt');
    const folder = new ReportFolder({ store, policies: rt.policies });
    await expect(folder.foldPartition(partition)).rejects.toThrow(/WRONGTYPE .*expected hash/);
    expect(await rt.redis.get(store.cursor(partition))).toBeNull();
    expect(await rt.redis.xlen(store.facts(partition))).toBe(1);
    expect(await rt.redis.exists(store.terms(partition, 'MC-2026-001', day))).toBe(0);
    await rt.redis.del(store.counters(partition, 'MC-2026-001', day));
    expect(await folder.foldPartition(partition)).toBe(1);
    expect(await rt.redis.hget(store.counters(partition, 'MC-2026-001', day), 'op')).toBe('1');
    expect(await rt.redis.xlen(store.facts(partition))).toBe(0);
  });
});
