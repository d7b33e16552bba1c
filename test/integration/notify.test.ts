import type { Queue } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Dispatcher } from '../../src/engine/dispatcher.ts';
import { handoffDeliveryId } from '../../src/engine/effects.ts';
import { Engine } from '../../src/engine/engine.ts';
import { listDead } from '../../src/notify/dead-letters.ts';
import { createNotifyQueue, type NotifyJob } from '../../src/notify/delivery.ts';
import { generateSecret } from '../../src/notify/sign.ts';
import { type Policy, parsePolicy } from '../../src/policy/policy.ts';
import type { Runtime } from '../../src/runtime.ts';
import { exampleDocument, openCase } from '../support/policy.ts';
import { agent, closeRuntime, testRuntime } from '../support/runtime.ts';
import { type SignedReceiver, startSignedReceiver } from '../support/signed-receiver.ts';
import { sleep, waitFor } from '../support/wait.ts';

// Hand-offs and customer notices delivered to a real HTTP receiver that verifies every request with the
// `standardwebhooks` library (VOCABULARY.md: "receivers can verify with any of its libraries").

interface Setup {
  readonly rt: Runtime;
  readonly receiver: SignedReceiver;
  /** secretEnv name → the secret given to the runtime. */
  readonly secrets: Record<string, string>;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** The example policy with every department's webhook and the customer-notice webhook on the receiver. */
function receiverPolicy(receiver: SignedReceiver, secrets: Record<string, string>): Policy {
  const doc = exampleDocument();
  for (const [id, department] of Object.entries<Record<string, any>>(doc.departments)) {
    department.webhook.url = receiver.url(`/${id}`);
    secrets[department.webhook.secretEnv] = generateSecret();
    receiver.setSecret(`/${id}`, secrets[department.webhook.secretEnv] as string);
  }
  doc.notices.customer.webhook.url = receiver.url('/notices');
  secrets[doc.notices.customer.webhook.secretEnv] = generateSecret();
  receiver.setSecret('/notices', secrets[doc.notices.customer.webhook.secretEnv] as string);
  return parsePolicy(doc, 'notify test policy');
}

async function notifySetup(): Promise<Setup> {
  const receiver = await startSignedReceiver();
  cleanups.push(() => receiver.down());
  const secrets: Record<string, string> = {};
  const policy = receiverPolicy(receiver, secrets);
  const rt = await testRuntime({ policies: [policy], env: secrets });
  cleanups.push(() => closeRuntime(rt));
  rt.startWorkers(['notify', 'dispatcher']);
  return { rt, receiver, secrets };
}

/**
 * An engine of the same runtime whose notify jobs go to a queue with `attempts` attempts (the runtime's
 * queue has 12). The backoff stays the shipped one: exponential from 2 s.
 */
function engineWithAttempts(rt: Runtime, attempts: number): Engine {
  const notify: Queue<NotifyJob> = createNotifyQueue(rt.queueConnection, rt.config.INTERVENE_QUEUE_PREFIX, attempts);
  const dispatcher = new Dispatcher({
    store: rt.store,
    deadlines: rt.deadlineQueue,
    notify,
    log: rt.log,
  });
  cleanups.push(async () => {
    await dispatcher.stop();
    await notify.close();
  });
  return new Engine({ store: rt.store, policies: rt.policies, onCommitted: dispatcher.enqueue });
}

const CUSTOMER = { id: 'cust-1', name: '张三', phone: '+86 138 0000 0000', email: 'zhangsan@example.com' };

const legalDispute = () =>
  openCase({
    customer: CUSTOMER,
    category: 'complaint',
    flags: ['legal_dispute'],
    subject: 'Contract termination dispute',
    description: 'The customer disputes the early-termination fee and mentions a lawsuit.',
  });

/** Delivery ids by meaning (effects.ts): the first hand-off, and the notice of the opening (version 1). */
const handoffId = (caseId: string) => handoffDeliveryId(caseId, 1);
const openingNoticeId = (caseId: string) => `${caseId}.notice.1`;

async function deliveryRecord(rt: Runtime, caseId: string, id: string): Promise<Record<string, string>> {
  return rt.redis.hgetall(rt.store.keys.forCase(caseId).delivery(id));
}

describe('webhooks to a real Standard Webhooks receiver', () => {
  let s: Setup;
  beforeEach(async () => {
    s = await notifySetup();
  });

  it('hands a legal_dispute case to legal with the four parts of 3.2.3 and tells the customer', async () => {
    const { rt, receiver } = s;
    const { caseId, state } = await rt.engine.open(legalDispute(), agent);
    expect(state).toBe('escalated');
    const [handoff] = await waitFor(() => receiver.to('/legal').length > 0 && receiver.to('/legal'), {
      what: 'the hand-off to legal',
    });
    const [notice] = await waitFor(() => receiver.to('/notices').length > 0 && receiver.to('/notices'), {
      what: 'the customer notice',
    });

    expect(handoff?.errors).toEqual([]);
    expect(handoff?.verified).toBe(true);
    expect(handoff?.headers['content-type']).toBe('application/json');
    expect(handoff?.id).toBe(handoffId(caseId));
    expect(handoff?.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(Math.abs(Number(handoff?.timestamp) - Date.now() / 1000)).toBeLessThan(60);
    expect(handoff?.payload).toMatchObject({
      type: 'handoff',
      caseId,
      contractId: 'MC-2026-001',
      clause: '3.2.3',
      department: 'legal',
      trigger: 'legal_dispute',
    });
    const pkg = handoff?.payload.package;
    expect(Object.keys(pkg).sort()).toEqual(['customer', 'preliminaryJudgment', 'recommendation', 'request']);
    // 4.1 need-to-know: legal's policy entry lists customer.name and customer.phone, not the id or the e-mail.
    expect(pkg.customer).toEqual({ id: CUSTOMER.id, name: CUSTOMER.name, phone: CUSTOMER.phone });
    expect(handoff?.body).not.toContain(CUSTOMER.email);
    expect(pkg.request).toMatchObject({
      category: 'complaint',
      channel: 'phone',
      subject: 'Contract termination dispute',
      description: expect.stringContaining('early-termination fee'),
    });
    expect(pkg.preliminaryJudgment).toEqual(expect.any(String));
    expect(pkg.preliminaryJudgment.length).toBeGreaterThan(0);
    expect(pkg.recommendation).toBe('legal');

    expect(notice?.errors).toEqual([]);
    expect(notice?.verified).toBe(true);
    expect(notice?.id).toBe(openingNoticeId(caseId));
    expect(notice?.payload).toMatchObject({
      type: 'customer_notice',
      caseId,
      contractId: 'MC-2026-001',
      clause: '3.2.3',
      notice: { status: 'escalated', received: true },
    });
    const told = notice?.payload.notice;
    expect(told.expectedBy ?? told.contact).toBeDefined();
    if (told.expectedBy) expect(Date.parse(told.expectedBy)).toBeGreaterThan(Date.now());
    // The customer's own notice carries no personal data of theirs beyond the id (invariant 10).
    expect(JSON.stringify(notice?.payload)).not.toContain('张三');
    expect(JSON.stringify(notice?.payload)).not.toContain('+86');

    for (const id of [handoffId(caseId), openingNoticeId(caseId)]) {
      await waitFor(async () => (await deliveryRecord(rt, caseId, id)).status === 'delivered', {
        what: `delivery ${id} to be recorded as delivered`,
      });
    }
    expect(receiver.deliveries).toHaveLength(2);
  });

  it('retries a failed delivery with the same webhook-id until the receiver takes it', async () => {
    const { rt, receiver } = s;
    receiver.answer((request, nth) => (request.path === '/legal' && nth < 2 ? 500 : request.verified ? 200 : 401));
    const engine = engineWithAttempts(rt, 3);
    const { caseId } = await engine.open(legalDispute(), agent);
    const id = handoffId(caseId);

    await waitFor(async () => (await deliveryRecord(rt, caseId, id)).status === 'retrying', {
      what: 'the first failure to be recorded',
    });
    expect(await deliveryRecord(rt, caseId, id)).toMatchObject({ status: 'retrying', lastError: 'HTTP 500' });

    const attempts = await waitFor(() => receiver.to('/legal').length >= 3 && receiver.to('/legal'), {
      timeoutMs: 15_000,
      what: 'three attempts at the hand-off',
    });
    expect(attempts.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(attempts.map((r) => r.id)).toEqual([id, id, id]);
    expect(attempts.every((r) => r.verified)).toBe(true);
    expect(new Set(attempts.map((r) => r.body)).size).toBe(1);
    // The shipped backoff: exponential from 2 s with jitter 0.5, i.e. 1–2 s, then 2–4 s.
    const gaps = attempts.slice(1).map((r, i) => r.at - (attempts[i] as { at: number }).at);
    expect(gaps[0]).toBeGreaterThanOrEqual(950);
    expect(gaps[1]).toBeGreaterThanOrEqual(1_950);

    await waitFor(async () => (await deliveryRecord(rt, caseId, id)).status === 'delivered', {
      what: 'the retried hand-off to be recorded as delivered',
    });
    expect(await listDead(rt.redis, rt.store.keys)).toEqual([]);
    await sleep(300);
    expect(receiver.to('/legal')).toHaveLength(3);
  });

  it('dead-letters a delivery after its last attempt', async () => {
    const { rt, receiver } = s;
    receiver.answer((request) => (request.path === '/legal' ? 503 : 200));
    const engine = engineWithAttempts(rt, 2);
    const { caseId } = await engine.open(legalDispute(), agent);
    const id = handoffId(caseId);

    await waitFor(async () => (await deliveryRecord(rt, caseId, id)).status === 'dead', {
      timeoutMs: 8_000,
      what: 'the hand-off to be dead-lettered',
    });
    expect(await deliveryRecord(rt, caseId, id)).toMatchObject({ status: 'dead', lastError: 'receiver answered 503' });
    expect(await listDead(rt.redis, rt.store.keys)).toMatchObject([
      { partition: rt.store.partitionOf(caseId), id, type: 'handoff', lastError: 'receiver answered 503' },
    ]);
    expect(receiver.to('/legal').map((r) => r.id)).toEqual([id, id]);
  });

  it('does not send a delivered webhook again when its job runs again', async () => {
    const { rt, receiver } = s;
    const { caseId } = await rt.engine.open(legalDispute(), agent);
    const id = handoffId(caseId);
    await waitFor(async () => (await deliveryRecord(rt, caseId, id)).status === 'delivered', {
      what: 'the hand-off to be delivered',
    });
    expect(receiver.to('/legal')).toHaveLength(1);

    // The same delivery queued again (a redrive, a re-dispatched outbox entry): same data, a new job id.
    const rerun = await rt.notifyQueue.add(
      'handoff',
      { partition: rt.store.partitionOf(caseId), id },
      { jobId: `${id}.rerun` },
    );
    const finished = await waitFor(
      async () => {
        // One read of the job hash: finishedOn and returnvalue are written together when it completes.
        const job = await rt.notifyQueue.getJob(rerun.id as string);
        return job?.finishedOn ? job : undefined;
      },
      { what: 'the re-run job to complete' },
    );
    expect(finished.failedReason).toBeUndefined();
    expect(finished.returnvalue).toBe('delivered');
    await sleep(200);
    expect(receiver.to('/legal').map((r) => r.id)).toEqual([id]);
  });

  it('fails verification at a receiver that holds another secret', async () => {
    const { rt, receiver, secrets } = s;
    const wrong = generateSecret();
    receiver.setSecret('/legal', wrong);
    const { caseId } = await rt.engine.open(legalDispute(), agent);
    const [request] = await waitFor(() => receiver.to('/legal').length > 0 && receiver.to('/legal'), {
      what: 'the hand-off to legal',
    });

    expect(request?.verified).toBe(false);
    expect(request?.status).toBe(401);
    expect(request?.errors[0]).toMatch(/^standardwebhooks: WebhookVerificationError/);
    expect(() => new Webhook(wrong).verify(request?.body ?? '', request?.headers ?? {})).toThrow();
    // The same request verifies with the secret the runtime signs with: only the secret differs.
    const right = secrets.INTERVENE_SECRET_LEGAL as string;
    expect(new Webhook(right).verify(request?.body ?? '', request?.headers ?? {})).toMatchObject({ caseId });
    // A tampered body fails too.
    const tampered = (request?.body ?? '').replace('legal_dispute', 'major_breach');
    expect(() => new Webhook(right).verify(tampered, request?.headers ?? {})).toThrow();

    await waitFor(async () => (await deliveryRecord(rt, caseId, handoffId(caseId))).lastError === 'HTTP 401', {
      what: 'the refused hand-off to be recorded',
    });
    expect((await deliveryRecord(rt, caseId, handoffId(caseId))).status).toBe('retrying');
    // The customer notice, signed with its own secret, went through.
    const notices = await waitFor(() => receiver.to('/notices').length > 0 && receiver.to('/notices'), {
      what: 'the customer notice',
    });
    expect(notices.map((r) => [r.verified, r.status])).toEqual([[true, 200]]);
  });
});
