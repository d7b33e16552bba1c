import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/engine/effects.ts';
import { type CommittedEntries, Engine } from '../../src/engine/engine.ts';
import type { Runtime } from '../../src/runtime.ts';
import { openCase } from '../support/policy.ts';
import { closePrivacyRuntime, privacyRuntime } from './helpers.ts';

// A delivery committed before an erasure but sent after it must not go out with the customer's data: the
// commit writes the delivery's record sealed under its own commit's data key, which the erasure replaces, so
// a late dispatch or send finds the payload unreadable (the notify worker then drops it as erased). The
// outbox entry the dispatcher gets is only a reference.

let rt: Runtime;
beforeAll(async () => {
  rt = await privacyRuntime();
});
afterAll(async () => {
  if (rt) await closePrivacyRuntime(rt);
});

describe('a delivery committed before an erasure and sent after it', () => {
  it('has its record sealed as committed (the outbox holds only a reference), unreadable once the customer is erased', async () => {
    const held: CommittedEntries[] = [];
    // The same store and policies as the service, but a dispatcher that is slow: it only holds the entries.
    const engine = new Engine({ store: rt.store, policies: rt.policies, onCommitted: (c) => held.push(c) });
    const customer = { id: 'race-1', name: '钱七', phone: '+86 137 0000 7777' };
    await engine.open(openCase({ customer, flags: ['legal_dispute'] }), { name: 'crm', role: 'service' });
    const entries = held.flatMap((c) => c.entries.map((e) => e.entry));
    const reference = entries.find((e) => e.kind === 'deliver' && e.id.includes('.handoff.'));
    if (reference?.kind !== 'deliver') throw new Error('no hand-off was committed');
    expect(reference).toEqual({
      kind: 'deliver',
      id: reference.id,
      caseId: reference.caseId,
      type: 'handoff',
      recorded: true,
    });
    expect(JSON.stringify(entries)).not.toContain(customer.name);
    const record = await rt.redis.hget(rt.store.keys.forCase(reference.caseId).delivery(reference.id), 'entry');
    const handoff = JSON.parse(record ?? 'null') as Delivery;
    expect(typeof (handoff.body as { sealed?: unknown }).sealed).toBe('string');
    expect(record).not.toContain(customer.name);
    // Readable before the erasure…
    expect(await rt.store.codec.openDelivery(handoff)).toBeDefined();
    await rt.erasure.customer(customer.id, { name: 'dpo', role: 'supervisor' }, 'api');
    // …and not after it, however late the dispatcher gets to it.
    expect(await rt.store.codec.openDelivery(handoff)).toBeUndefined();
  });
});
