import { randomBytes } from 'node:crypto';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeProducer, InterveneError, intakeJobId, sealIntakeBody } from '../../src/client/index.ts';
import { loadConfig } from '../../src/config.ts';
import type { IntakeJob } from '../../src/intake/intake-queue.ts';
import { IntakeKeys } from '../../src/intake/sealing.ts';
import { DataKeyRing } from '../../src/privacy/cipher.ts';
import type { Runtime } from '../../src/runtime.ts';
import { openCase } from '../support/policy.ts';
import { closeRuntime, redisUrl, testRuntime } from '../support/runtime.ts';
import { waitFor } from '../support/wait.ts';
import { canaries, canaryOpening, dumpKeys, leaks } from './helpers.ts';

// The intake queue carries case bodies from backends, and BullMQ stores job data in clear (docs/privacy.md,
// "Queues"): a body waits sealed to the service's intake key; once decided — done or refused for good — it
// is replaced by its digest, and the job keeps its outcome and its idempotency. An erasure blanks the
// customer's waiting jobs.

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
    const body = canaryOpening(c);
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

const ACTOR = { name: 'crm-intake', role: 'service' } as const;
const stored = async (jobId: string) =>
  JSON.stringify(await rt.queueConnection.hgetall(`${rt.config.INTERVENE_QUEUE_PREFIX}:intake:${jobId}`));

/** Runs `fn` with the intake queue paused, so the jobs it adds wait; resumes after. */
async function whileWaiting<T>(fn: () => Promise<T>): Promise<T> {
  await rt.intakeQueue.pause();
  try {
    return await fn();
  } finally {
    await rt.intakeQueue.resume();
  }
}

describe('intake bodies are sealed while they wait (4.2)', () => {
  it('a waiting job holds no personal data in any Redis key; the worker opens it and applies it', async () => {
    const c = canaries();
    const body = canaryOpening(c);
    const job = await whileWaiting(async () => {
      const waiting = await producer.openCase(body, { idempotencyKey: `sealed-${c.customerId}` });
      expect(await waiting.getState()).toBe('waiting');
      const data = JSON.parse(
        (await rt.queueConnection.hget(`${rt.config.INTERVENE_QUEUE_PREFIX}:intake:${waiting.id}`, 'data')) as string,
      );
      expect(data.body.sealed).toMatch(/^x1\./);
      const keys = await dumpKeys(rt.queueConnection, [`${rt.config.INTERVENE_QUEUE_PREFIX}*`]);
      for (const [key, value] of keys) expect(leaks(value, c), key).toEqual([]);
      // The same key and body while it waits is the same job (digests compared, seals differ).
      expect((await producer.openCase(body, { idempotencyKey: `sealed-${c.customerId}` })).id).toBe(waiting.id);
      await expect(
        producer.openCase({ ...body, subject: 'other' }, { idempotencyKey: `sealed-${c.customerId}` }),
      ).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
      return waiting;
    });
    const result = await producer.result(job);
    const opened = await rt.engine.get(result.caseId);
    expect(opened?.stored.context.open.customer.name).toBe(c.name);
  });

  it('a clear body is refused for good, naming the field, and scrubbed; nothing is opened', async () => {
    const c = canaries();
    const jobId = intakeJobId(`clear-${c.customerId}`);
    const job = await rt.intakeQueue.add(
      'open',
      { kind: 'open', actor: ACTOR, body: openCase({ customer: { id: c.customerId, name: c.name } }) },
      { jobId },
    );
    await settled(job);
    await expect(producer.result(job)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ path: 'body', message: expect.stringMatching(/must be sealed to the intake key/) }],
    });
    expect(leaks(await stored(jobId), c)).toEqual([]);
    expect((await rt.erasure.casesOf(c.customerId)).caseIds).toEqual([]);
  });

  it('a sealed body moved to another job does not open: refused for good', async () => {
    const c = canaries();
    const key = JSON.parse((await rt.redis.get(`${rt.config.INTERVENE_QUEUE_PREFIX}:intake-key`)) as string);
    const body = openCase({ customer: { id: c.customerId, name: c.name } });
    const sealed = sealIntakeBody(key, { jobId: intakeJobId('the-original'), kind: 'open', actor: ACTOR }, body);
    const job = await rt.intakeQueue.add(
      'open',
      { kind: 'open', actor: ACTOR, body: sealed },
      { jobId: intakeJobId(`moved-${c.customerId}`) },
    );
    await settled(job);
    await expect(producer.result(job)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ path: 'body', message: expect.stringMatching(/does not authenticate/) }],
    });
  });

  it("an erasure blanks the customer's waiting jobs, which are then refused; others' jobs go through", async () => {
    const c = canaries();
    const other = canaries();
    const first = await producer.result(
      await producer.openCase(openCase({ customer: { id: c.customerId, name: c.name } }), {
        idempotencyKey: `erase-open-${c.customerId}`,
      }),
    );
    const { jobs, erasure } = await whileWaiting(async () => {
      const jobs = [
        await producer.send(
          first.caseId,
          { type: 'RESPOND', message: c.message },
          {
            idempotencyKey: `erase-event-${c.customerId}`,
          },
        ),
        await producer.openCase(openCase({ customer: { id: c.customerId, name: c.name }, subject: c.subject }), {
          idempotencyKey: `erase-open2-${c.customerId}`,
        }),
        await producer.openCase(openCase({ customer: { id: other.customerId, name: other.name } }), {
          idempotencyKey: `erase-other-${other.customerId}`,
        }),
      ];
      const erasure = await rt.erasure.customer(c.customerId, { name: 'dpo', role: 'supervisor' }, 'cli');
      return { jobs: jobs as [Job, Job, Job], erasure };
    });
    expect(erasure).toEqual({ caseIds: [first.caseId], intakeJobs: 2 });
    for (const job of jobs.slice(0, 2)) {
      await settled(job as never);
      await expect(producer.result(job as never)).rejects.toMatchObject({
        code: 'PERSONAL_DATA_ERASED',
        status: 410,
        clause: '4.2',
      });
    }
    expect((await producer.result(jobs[2] as never)).state).toBe('received');
    // No case was opened for the customer after the erasure (the erased one left the customer's index).
    expect((await rt.erasure.casesOf(c.customerId)).caseIds).toEqual([]);
    // The blanked jobs keep the digest, so the same key and body is still recognised as that job.
    expect((await stored(jobs[1].id as string)).includes('scrubbed')).toBe(true);
  });

  it('a body sealed to a data key this worker lacks is retried, not refused; out of attempts, it is scrubbed', async () => {
    const c = canaries();
    const foreign = new IntakeKeys(new DataKeyRing(new Map([['zz', randomBytes(32)]]), 'zz'));
    const add = (suffix: string, attempts: number) => {
      const jobId = intakeJobId(`foreign-${suffix}-${c.customerId}`);
      const body = openCase({ customer: { id: c.customerId, name: c.name } });
      const sealed = sealIntakeBody(foreign.publicKey(), { jobId, kind: 'open', actor: ACTOR }, body);
      return rt.intakeQueue.add('open', { kind: 'open', actor: ACTOR, body: sealed }, { jobId, attempts });
    };
    const retried = await add('retry', 10);
    await waitFor(async () => (await retried.getState()) === 'delayed', { what: 'the job to wait for a retry' });
    const data = JSON.parse((await rt.queueConnection.hget(rt.intakeQueue.toKey(retried.id as string), 'data')) ?? '');
    expect(data.body.sealed).toMatch(/^x1\.zz\./);
    await retried.remove();
    const last = await add('last', 1);
    await settled(last);
    const text = await stored(last.id as string);
    expect(text).toContain('scrubbed');
    expect(text).not.toContain('x1.zz.');
    expect(text).toContain('which this process does not hold');
    expect(leaks(text, c)).toEqual([]);
  });

  it('an erasure reads past 500 waiting jobs, and leaves a job a worker holds alone (not counted)', async () => {
    const c = canaries();
    const held = await whileWaiting(async () => {
      for (let i = 0; i < 520; i++) {
        await producer.openCase(openCase({ customer: { id: `crowd-${i}-${c.customerId}` } }), {
          idempotencyKey: `crowd-${i}-${c.customerId}`,
        });
      }
      const last = await producer.openCase(openCase({ customer: { id: c.customerId, name: c.name } }), {
        idempotencyKey: `crowd-last-${c.customerId}`,
      });
      const held = await producer.openCase(openCase({ customer: { id: c.customerId, name: c.name } }), {
        idempotencyKey: `crowd-held-${c.customerId}`,
      });
      // As if a worker had just taken it: BullMQ's lock key.
      await rt.queueConnection.set(`${rt.intakeQueue.toKey(held.id as string)}:lock`, 'token', 'PX', 60_000);
      const before = await rt.queueConnection.hget(rt.intakeQueue.toKey(held.id as string), 'data');
      const erasure = await rt.erasure.customer(c.customerId, { name: 'dpo', role: 'supervisor' }, 'cli');
      expect(erasure.intakeJobs).toBe(1);
      expect(await rt.queueConnection.hget(rt.intakeQueue.toKey(held.id as string), 'data')).toBe(before);
      expect(await rt.queueConnection.hget(rt.intakeQueue.toKey(last.id as string), 'data')).toContain('erased');
      await rt.queueConnection.del(`${rt.intakeQueue.toKey(held.id as string)}:lock`);
      return held;
    });
    await settled(held);
  }, 60_000);

  it('INTERVENE_INTAKE_ACCEPT_CLEAR takes true or false, and says so', () => {
    expect(loadConfig({}).INTERVENE_INTAKE_ACCEPT_CLEAR).toBe(false);
    expect(loadConfig({ INTERVENE_INTAKE_ACCEPT_CLEAR: 'true' }).INTERVENE_INTAKE_ACCEPT_CLEAR).toBe(true);
    expect(() => loadConfig({ INTERVENE_INTAKE_ACCEPT_CLEAR: 'yes' })).toThrow(
      /INTERVENE_INTAKE_ACCEPT_CLEAR.*true or false/,
    );
  });
});

describe('INTERVENE_INTAKE_ACCEPT_CLEAR=true', () => {
  it('accepts a clear body (and still scrubs it once decided)', async () => {
    const lax = await testRuntime({ env: { INTERVENE_INTAKE_ACCEPT_CLEAR: 'true' } });
    try {
      lax.startWorkers(['intake']);
      const c = canaries();
      const job = await lax.intakeQueue.add(
        'open',
        { kind: 'open', actor: ACTOR, body: openCase({ customer: { id: c.customerId, name: c.name } }) } as IntakeJob,
        { jobId: intakeJobId(`lax-${c.customerId}`) },
      );
      await waitFor(async () => (await job.getState()) === 'completed', { what: 'the clear job to complete' });
      const text = JSON.stringify(
        await lax.queueConnection.hgetall(`${lax.config.INTERVENE_QUEUE_PREFIX}:intake:${job.id}`),
      );
      expect(leaks(text, c)).toEqual([]);
      expect((await lax.erasure.casesOf(c.customerId)).caseIds).toHaveLength(1);
    } finally {
      await closeRuntime(lax);
    }
  });
});
