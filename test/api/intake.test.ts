import type { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeProducer, InterveneError, intakeJobId } from '../../src/client/index.ts';
import type { Runtime } from '../../src/runtime.ts';
import { type ApiServer, caseOf, historyOf, startApi } from '../support/api.ts';
import { openCase } from '../support/policy.ts';
import { closeRuntime, redisUrl, testRuntime, VERIFY } from '../support/runtime.ts';
import { sleep, waitFor } from '../support/wait.ts';

// The intake queue end to end: a typed producer adds BullMQ jobs, the runtime's intake worker applies them
// through the engine (the one write path), and the result or the refusal comes back on the job.

type Producer = ReturnType<typeof createIntakeProducer>;
const ACTOR = { name: 'crm-intake', role: 'service' } as const;

let rt: Runtime;
let api: ApiServer;
let connection: Redis;
let producer: Producer;
let intakeWorker: Worker;
const producers: Producer[] = [];
let seq = 0;
const key = (what: string) => `${what}-${++seq}-${Date.now()}`;

function newProducer(actor: Parameters<typeof createIntakeProducer>[0]['actor'] = ACTOR): Producer {
  const p = createIntakeProducer({ connection, prefix: rt.config.INTERVENE_QUEUE_PREFIX, actor });
  producers.push(p);
  return p;
}

/**
 * Makes `result()` safe to use: its QueueEvents is created on the first call and may miss a completion that
 * lands before it starts reading (see the test "result() on a fresh producer ..." below). Waiting once for a
 * job that is already finished creates it; a moment later it is reading.
 */
async function primed(p: Producer): Promise<Producer> {
  const job = await p.openCase(openCase({ subject: 'warm-up' }), { idempotencyKey: key('warm-up') });
  await waitFor(async () => (await job.getState()) === 'completed', { what: 'the warm-up job' });
  await p.result(job);
  await sleep(200);
  return p;
}

beforeAll(async () => {
  rt = await testRuntime();
  [intakeWorker] = rt.startWorkers(['intake']) as [Worker];
  api = await startApi(rt);
  connection = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  producer = await primed(newProducer());
});
afterAll(async () => {
  for (const p of producers) await p.close().catch(() => undefined);
  connection?.disconnect();
  await api?.close();
  if (rt) await closeRuntime(rt);
});

describe('intake jobs', () => {
  it('opens a case and sends events; result(job) is the engine’s result; the case is the one HTTP shows', async () => {
    const openJob = await producer.openCase(
      openCase({ category: 'fee_waiver', amount: { amount: '50.00', currency: 'CNY' } }),
      {
        idempotencyKey: key('open'),
      },
    );
    const opened = await producer.result(openJob);
    expect(opened).toMatchObject({ version: 1, state: 'received', outcome: 'applied' });
    const id = opened.caseId;
    expect(id).toMatch(/^c[0-9a-f]+$/);

    const verified = await producer.result(await producer.send(id, VERIFY, { idempotencyKey: key('verify') }));
    expect(verified).toEqual({ caseId: id, version: 2, state: 'verified', outcome: 'applied' });
    const resolved = await producer.result(
      await producer.send(
        id,
        { type: 'RESOLVE', resolution: 'waived', adjustment: { amount: '50.00', currency: 'CNY' } },
        { idempotencyKey: key('resolve'), ifMatch: 2 },
      ),
    );
    expect(resolved).toEqual({ caseId: id, version: 3, state: 'resolved', outcome: 'applied' });

    // The same case over HTTP, with the producer's actor in its history (same single write path).
    expect(await caseOf(api, id)).toMatchObject({ id, version: 3, state: 'resolved' });
    const history = await historyOf(api, id);
    expect(history.map((e) => [e.v, e.event, e.actor.name, e.actor.role])).toEqual([
      [1, 'OPEN', ACTOR.name, 'service'],
      [2, 'VERIFY', ACTOR.name, 'service'],
      [3, 'RESOLVE', ACTOR.name, 'service'],
    ]);
    // The result is on the job too.
    const job = await rt.queueConnection.hget(
      `${rt.config.INTERVENE_QUEUE_PREFIX}:intake:${openJob.id}`,
      'returnvalue',
    );
    expect(JSON.parse(job as string)).toMatchObject({ caseId: id, version: 1 });
  });

  it('the same idempotency key twice is one job and one case', async () => {
    const k = key('twice');
    const body = openCase({ subject: 'added twice' });
    const first = await producer.openCase(body, { idempotencyKey: k });
    const second = await producer.openCase(body, { idempotencyKey: k });
    expect(second.id).toBe(first.id);
    const [a, b] = await Promise.all([producer.result(first), producer.result(second)]);
    expect(b).toEqual(a);
    const jobs = await rt.queueConnection.keys(`${rt.config.INTERVENE_QUEUE_PREFIX}:intake:${intakeJobId(k)}*`);
    expect(jobs).toHaveLength(1);
    expect(await historyOf(api, a.caseId)).toHaveLength(1);
    // Sending an event twice under one key applies it once.
    const ek = key('event-twice');
    const e1 = await producer.send(a.caseId, { type: 'RESPOND', message: 'once' }, { idempotencyKey: ek });
    const e2 = await producer.send(a.caseId, { type: 'RESPOND', message: 'once' }, { idempotencyKey: ek });
    expect(e2.id).toBe(e1.id);
    await producer.result(e2);
    expect(await historyOf(api, a.caseId)).toHaveLength(2);
  });

  it('a refused event rejects with an InterveneError carrying code and clause, and writes nothing', async () => {
    const { caseId } = await producer.result(await producer.openCase(openCase(), { idempotencyKey: key('open') }));
    const job = await producer.send(
      caseId,
      { type: 'RESOLVE', resolution: 'too early' },
      { idempotencyKey: key('refused') },
    );
    const error = await producer.result(job).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InterveneError);
    expect(error).toMatchObject({ code: 'INVALID_TRANSITION', clause: '3.2' });
    // Refusals fail the job for good, with the problem as its reason; no retry.
    expect(await job.getState()).toBe('failed');
    const failed = await rt.queueConnection.hget(
      `${rt.config.INTERVENE_QUEUE_PREFIX}:intake:${job.id}`,
      'failedReason',
    );
    expect(JSON.parse(failed as string)).toMatchObject({ code: 'INVALID_TRANSITION', clause: '3.2' });
    expect(await historyOf(api, caseId)).toHaveLength(1);

    // An authority refusal, and a stale ifMatch, the same way.
    await producer.result(await producer.send(caseId, VERIFY, { idempotencyKey: key('verify') }));
    const above = await producer
      .result(
        await producer.send(
          caseId,
          { type: 'RESOLVE', resolution: 'waive', adjustment: { amount: '900.00', currency: 'CNY' } },
          { idempotencyKey: key('above') },
        ),
      )
      .catch((e: unknown) => e);
    expect(above).toMatchObject({ code: 'AUTHORITY_EXCEEDED', clause: '2.2.4' });
    const stale = await producer
      .result(await producer.send(caseId, { type: 'RESPOND' }, { idempotencyKey: key('stale'), ifMatch: 1 }))
      .catch((e: unknown) => e);
    expect(stale).toMatchObject({ code: 'PRECONDITION_FAILED' });
    expect((await caseOf(api, caseId)).version).toBe(2);
  });

  it('a role the rules forbid is refused through the queue as over HTTP (agent may not accept a hand-off)', async () => {
    const agent = await primed(newProducer({ name: 'desk-agent', role: 'agent' }));
    const { caseId } = await agent.result(
      await agent.openCase(openCase({ category: 'complaint', flags: ['legal_dispute'] }), {
        idempotencyKey: key('open'),
      }),
    );
    const error = await agent
      .result(
        await agent.send(caseId, { type: 'HANDOFF_ACCEPT', department: 'legal' }, { idempotencyKey: key('accept') }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InterveneError);
    expect(error).toMatchObject({ code: 'FORBIDDEN', clause: '6.1' });
  });

  it('bad input rejects with VALIDATION_FAILED naming the fields, and writes nothing', async () => {
    const badOpen = await producer
      .result(
        await producer.openCase(
          { ...openCase(), amount: { amount: 12 as unknown as string, currency: 'CNY' } },
          {
            idempotencyKey: key('bad-open'),
          },
        ),
      )
      .catch((e: unknown) => e);
    expect(badOpen).toBeInstanceOf(InterveneError);
    expect(badOpen).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    expect((badOpen as InterveneError).errors.map((e) => e.path)).toContain('amount.amount');

    const { caseId } = await producer.result(await producer.openCase(openCase(), { idempotencyKey: key('open') }));
    for (const [event, path] of [
      [{ type: 'RESPOND', urgent: true }, '(root)'],
      [{ type: 'DEADLINE', name: 'firstResponse', epoch: 1 }, 'type'],
      [{ type: 'SURVEY_RESULT', score: 0 }, 'score'],
      [{ type: 'NOPE' }, 'type'],
    ] as const) {
      const error = await producer
        .result(await producer.send(caseId, event as never, { idempotencyKey: key('bad-event') }))
        .catch((e: unknown) => e);
      expect(error, JSON.stringify(event)).toBeInstanceOf(InterveneError);
      expect(error).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect((error as InterveneError).errors.map((e) => e.path)).toContain(path);
    }
    expect(await historyOf(api, caseId)).toHaveLength(1);
  });
});

describe('intake producer defects', () => {
  it('result() on a fresh producer resolves for a job that completes before its event reader has started', async () => {
    // result() creates its QueueEvents on first use, checks the job once, then relies on the events stream read
    // from "$". A completion landing between that check and the reader's first XREAD is never seen. Made
    // deterministic here: the worker is held while result() checks, and the reader's first read starts late.
    const events = `${rt.config.INTERVENE_QUEUE_PREFIX}:intake:events`;
    const proto = Redis.prototype as unknown as { xread: (...a: unknown[]) => Promise<unknown> };
    const xread = proto.xread;
    proto.xread = async function (this: Redis, ...a: unknown[]) {
      if (a.includes(events) && a.at(-1) === '$') await sleep(400);
      return xread.apply(this, a);
    };
    const p = newProducer();
    await intakeWorker.pause();
    try {
      const job = await p.openCase(openCase({ subject: 'late reader' }), { idempotencyKey: key('late-reader') });
      const outcome = p.result(job, 3_000).then(
        (r) => r.state,
        (e: Error) => e.message,
      );
      await sleep(150);
      intakeWorker.resume();
      await waitFor(async () => (await job.getState()) === 'completed', { what: 'the job to complete' });
      expect(await outcome).toBe('received');
    } finally {
      proto.xread = xread;
      intakeWorker.resume();
    }
  });

  it('result() on fresh producers, one after another, never misses a completion (no slowed reader)', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const p = newProducer();
      const job = await p.openCase(openCase({ subject: `fresh ${i}` }), { idempotencyKey: key('fresh') });
      outcomes.push(
        await p.result(job, 1_000).then(
          (r) => r.state,
          () => 'missed',
        ),
      );
      await p.close();
    }
    expect(outcomes.filter((o) => o === 'missed')).toEqual([]);
  });

  it('accepts an all-digit idempotency key (e.g. an order number), as the HTTP API does', async () => {
    const opened = producer.openCase(openCase({ subject: 'order 20260001' }), { idempotencyKey: '20260001' });
    await expect(opened).resolves.toBeDefined();
    const res = await api.request('POST', '/v1/cases', {
      json: openCase({ subject: 'order 20260001' }),
      headers: { 'idempotency-key': '20260001' },
    });
    expect(res.status).toBe(201);
  });

  it('two different idempotency keys ("order:7" and "order.7") open two cases', async () => {
    const stamp = Date.now();
    const a = await producer.result(
      await producer.openCase(openCase({ subject: 'first order' }), { idempotencyKey: `order:${stamp}` }),
    );
    const b = await producer.result(
      await producer.openCase(openCase({ subject: 'second order' }), { idempotencyKey: `order.${stamp}` }),
    );
    expect(b.caseId).not.toBe(a.caseId);
  });

  it('the same idempotency key with another body is IDEMPOTENCY_CONFLICT, not the first result', async () => {
    const k = key('reused');
    const first = await producer.result(await producer.openCase(openCase({ subject: 'one' }), { idempotencyKey: k }));
    // The producer reports the conflict when the job is added (before any result is awaited).
    const second = await producer
      .openCase(openCase({ subject: 'another' }), { idempotencyKey: k })
      .then((job) => producer.result(job))
      .catch((e: unknown) => e);
    expect(second, `answered ${JSON.stringify(second)} (the first case was ${first.caseId})`).toBeInstanceOf(
      InterveneError,
    );
    expect(second).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
  });

  it('jobs from the producer carry the intake queue’s retry and retention options', async () => {
    // src/intake/intake-queue.ts defines them (attempts 10 with backoff, removeOnComplete/removeOnFail by age)
    // in createIntakeQueue, but the producer makes its own Queue without them.
    const job = await producer.openCase(openCase({ subject: 'options' }), { idempotencyKey: key('options') });
    await producer.result(job);
    expect(job.opts.attempts).toBeGreaterThan(1);
    expect(job.opts.backoff).toBeDefined();
    expect(job.opts.removeOnComplete).toBeDefined();
  });
});
