import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeProducer, InterveneError } from '../../src/client/index.ts';
import type { Runtime } from '../../src/runtime.ts';
import { openCase } from '../support/policy.ts';
import { closeRuntime, redisUrl, testRuntime } from '../support/runtime.ts';
import { waitFor } from '../support/wait.ts';
import { canaries, dumpKeys, leaks } from './helpers.ts';

// The intake queue carries case bodies from backends, and BullMQ stores job data in clear. What is
// acceptable (docs/privacy.md): a body in clear while its job waits; once decided — done or refused for
// good — the body is replaced by its hash, and the job keeps its outcome and its idempotency.

let rt: Runtime;
let connection: Redis;
let producer: ReturnType<typeof createIntakeProducer>;
beforeAll(async () => {
  rt = await testRuntime();
  rt.startWorkers(['intake']);
  connection = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  producer = createIntakeProducer({
    connection,
    prefix: rt.config.INTERVENE_QUEUE_PREFIX,
    actor: { name: 'crm-intake', role: 'service' },
  });
});
afterAll(async () => {
  await producer?.close();
  connection?.disconnect();
  if (rt) await closeRuntime(rt);
});

const settled = async (job: { getState(): Promise<string> }) =>
  waitFor(async () => ['completed', 'failed'].includes(await job.getState()), { what: 'the intake job to settle' });

describe('intake job payloads', () => {
  it('a decided job keeps no personal data: its body becomes a hash; the same key and body is still one job', async () => {
    const c = canaries();
    const body = openCase({
      customer: { id: c.customerId, name: c.name, phone: c.phone, email: c.email },
      subject: c.subject,
      description: c.description,
    });
    const job = await producer.openCase(body, { idempotencyKey: `privacy-${c.customerId}` });
    await settled(job);
    const result = await producer.result(job);
    expect(result.state).toBe('received');
    const queueKeys = await dumpKeys(rt.queueConnection, [`${rt.config.INTERVENE_QUEUE_PREFIX}*`]);
    expect([...queueKeys.keys()].some((k) => k.endsWith(`:intake:${job.id}`))).toBe(true);
    for (const [key, text] of queueKeys) expect(leaks(text, c), key).toEqual([]);
    const again = await producer.openCase(body, { idempotencyKey: `privacy-${c.customerId}` });
    expect(again.id).toBe(job.id);
    await expect(
      producer.openCase({ ...body, subject: 'another body' }, { idempotencyKey: `privacy-${c.customerId}` }),
    ).rejects.toBeInstanceOf(InterveneError);
  });

  it('a job refused for good is scrubbed too, and keeps its reason', async () => {
    const c = canaries();
    const job = await producer.openCase(
      { ...openCase({ customer: { id: c.customerId, name: c.name, email: c.email } }), channel: 'pigeon' } as never,
      { idempotencyKey: `privacy-bad-${c.customerId}` },
    );
    await settled(job);
    await expect(producer.result(job)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    const text = JSON.stringify(
      await rt.queueConnection.hgetall(`${rt.config.INTERVENE_QUEUE_PREFIX}:intake:${job.id}`),
    );
    expect(text).toContain('channel');
    expect(leaks(text, c)).toEqual([]);
  });
});
