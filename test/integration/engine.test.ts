import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/runtime.ts';
import { openCase } from '../support/policy.ts';
import { agent, closeRuntime, testRuntime, VERIFY } from '../support/runtime.ts';

describe('engine.apply against real Redis', () => {
  let rt: Runtime;
  const now = Date.parse('2026-11-25T09:00:00+08:00');
  beforeEach(async () => {
    rt = await testRuntime({ clock: () => now });
  });
  afterEach(async () => closeRuntime(rt));

  it('opens a case at version 1 with the 3.1.3 clocks armed', async () => {
    const opened = await rt.engine.open(openCase(), agent, { idempotencyKey: 'open-1' });
    expect(opened).toMatchObject({ version: 1, state: 'received', outcome: 'applied' });
    const found = await rt.engine.get(opened.caseId);
    expect(found?.stored.context.deadlines.firstResponse?.status).toBe('armed');
    expect(found?.stored.context.deadlines.firstResponse?.dueAt).toBe(now + 15 * 60_000);
  });

  it('refuses a fee waiver above the amount limit (2.2.4) and writes nothing', async () => {
    const { caseId } = await rt.engine.open(openCase({ category: 'fee_waiver' }), agent);
    await rt.engine.apply(caseId, VERIFY, agent);
    const before = await rt.store.history(caseId);
    await expect(
      rt.engine.apply(
        caseId,
        { type: 'RESOLVE', resolution: 'waived', adjustment: { amount: '500.01', currency: 'CNY' } },
        agent,
      ),
    ).rejects.toMatchObject({ code: 'AUTHORITY_EXCEEDED', clause: '2.2.4' });
    expect(await rt.store.history(caseId)).toEqual(before);
    expect((await rt.engine.get(caseId))?.stored.version).toBe(2);
    const ok = await rt.engine.apply(
      caseId,
      { type: 'RESOLVE', resolution: 'waived', adjustment: { amount: '500.00', currency: 'CNY' } },
      agent,
    );
    expect(ok).toMatchObject({ state: 'resolved', version: 3 });
  });
});
