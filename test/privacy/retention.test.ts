import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/policy.ts';
import { ERASED } from '../../src/privacy/erasure.ts';
import type { Runtime } from '../../src/runtime.ts';
import { exampleDocument, openCase } from '../support/policy.ts';
import { agent, VERIFY } from '../support/runtime.ts';
import { sleep } from '../support/wait.ts';
import { closePrivacyRuntime, privacyRuntime } from './helpers.ts';

// The retention job pages past closed cases that are not due, and drops from its index the ones whose
// pinned policy keeps data for good, so neither holds back a case that is due.

const policy = (version: number, retention?: string) => {
  const doc = exampleDocument();
  doc.contract.version = version;
  if (retention) doc.retention = { personalData: retention };
  return parsePolicy(doc, `v${version}`);
};

let rt: Runtime;
beforeAll(async () => {
  rt = await privacyRuntime({ policies: [policy(1)] });
});
afterAll(async () => {
  if (rt) await closePrivacyRuntime(rt);
});

async function closedCase(name: string): Promise<string> {
  const { caseId } = await rt.engine.open(openCase({ customer: { id: name, name } }), agent);
  await rt.engine.apply(caseId, VERIFY, agent);
  await rt.engine.apply(caseId, { type: 'RESOLVE', resolution: 'answered' }, agent);
  await rt.engine.apply(caseId, { type: 'CLOSE' }, agent);
  return caseId;
}

describe('the retention job', () => {
  it('erases a due case even behind older closed cases that keep their data', async () => {
    // Six cases under v1 (no retention) close first, then one under v2 (1 s).
    const kept = [];
    for (let i = 0; i < 6; i++) kept.push(await closedCase(`keep-${i}`));
    rt.policies.add(policy(2, 'PT1S'));
    const due = await closedCase('due-1');
    expect((await rt.engine.get(due))?.stored.policyVersion).toBe(2);
    await sleep(1_100);
    // One row per page: without paging past or dropping the v1 cases, the v2 case would never be reached.
    expect(await rt.erasure.retention(1)).toBe(1);
    expect((await rt.engine.get(due))?.stored.context.open.customer.name).toBe(ERASED);
    for (const id of kept) expect((await rt.engine.get(id))?.stored.context.open.customer.name).toMatch(/^keep-/);
    // The v1 cases left the index: the next run reads nothing.
    let left = 0;
    for (let p = 0; p < rt.store.keys.partitions; p++)
      left += await rt.redis.zcard(`${rt.store.keys.tag(p)}:closed-at`);
    expect(left).toBe(0);
    expect(await rt.erasure.retention(1)).toBe(0);
  });
});
