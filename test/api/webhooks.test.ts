import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSecret, signatureHeaders } from '../../src/notify/sign.ts';
import { verifyWebhook, WebhookVerificationError } from '../../src/notify/verify.ts';
import { parsePolicy } from '../../src/policy/policy.ts';
import type { Runtime } from '../../src/runtime.ts';
import { type ApiServer, caseOf, openOverHttp, sendOverHttp, startApi } from '../support/api.ts';
import { exampleDocument, openCase } from '../support/policy.ts';
import { closeRuntime, testRuntime, VERIFY } from '../support/runtime.ts';
import { type Delivery, type SignedReceiver, signedReceiver } from '../support/signed-receiver.ts';
import { sleep, waitFor } from '../support/wait.ts';

// Hand-offs and customer notices end to end: cases opened over HTTP, delivered by the notify worker to a
// real local receiver that verifies each request with the `standardwebhooks` library and with verifyWebhook.
// Retries use the shipped backoff (exponential from 2 s, with jitter): a receiver down for two attempts
// gets the third, 3 to 6 s after the first.

let rt: Runtime;
let api: ApiServer;
let receiver: SignedReceiver;
/** Receiver path → the secret it verifies with (the runtime gets the same ones by their secretEnv). */
const secrets: Record<string, string> = {};

beforeAll(async () => {
  const doc = exampleDocument();
  const env: Record<string, string> = {};
  for (const [id, department] of Object.entries<Record<string, any>>(doc.departments)) {
    if (id === 'tech_support') {
      delete department.webhook; // a department without an endpoint reads its cases over the API
      continue;
    }
    const secret = generateSecret();
    env[department.webhook.secretEnv] = secret;
    secrets[`/${id}`] = secret;
  }
  const notices = generateSecret();
  env[doc.notices.customer.webhook.secretEnv] = notices;
  secrets['/notices'] = notices;
  receiver = await signedReceiver(secrets);
  for (const [id, department] of Object.entries<Record<string, any>>(doc.departments)) {
    if (department.webhook) department.webhook.url = receiver.url(`/${id}`);
  }
  doc.notices.customer.webhook.url = receiver.url('/notices');
  rt = await testRuntime({ policies: [parsePolicy(doc, 'webhook test policy')], env });
  rt.startWorkers(['notify', 'dispatcher']);
  api = await startApi(rt);
});
afterAll(async () => {
  await api?.close();
  if (rt) await closeRuntime(rt);
  await receiver?.down();
});

const ok = (d: Delivery) => d.verifiedByLibrary && d.verifiedByHelper;
const customer = { id: 'cust-42', name: '赵六', phone: '+86 135 0000 4242', email: 'zhao6@example.com' };

/** Waits until a 2xx for this webhook-id, then a little longer to see that nothing follows it. */
async function deliveredOnce(path: string, id: string, timeoutMs = 15_000): Promise<Delivery[]> {
  await waitFor(() => receiver.to(path).some((d) => d.id === id && d.status === 200), {
    timeoutMs,
    intervalMs: 50,
    what: `a 2xx for ${id} at ${path}`,
  });
  await sleep(500);
  return receiver.to(path).filter((d) => d.id === id);
}

let handoffSample: Delivery | undefined;
let statusWhileRefused: Record<string, string> = {};

describe('hand-offs to a receiver that is down for a while', () => {
  it('answers 503 twice, then 200: delivered once, signed validly each time, one webhook-id across retries', async () => {
    await receiver.up();
    receiver.answer((d, nth) => (!ok(d) ? 401 : nth < 2 ? 503 : 200));
    const opened = await openOverHttp(api, {
      ...openCase({
        category: 'complaint',
        flags: ['legal_dispute'],
        subject: 'Termination dispute',
        description: 'The customer disputes the early-termination fee and mentions a lawsuit.',
        amount: { amount: '2400.00', currency: 'CNY' },
        externalRef: 'CRM-77',
      }),
      customer,
    });
    const caseId = opened.id as string;
    expect(opened.escalation).toMatchObject({ department: 'legal', handoff: 'pending', delivery: 'pending' });
    const handoffId = `${caseId}.handoff.1`;

    const attempts = await deliveredOnce('/legal', handoffId);
    expect(attempts.map((d) => d.status)).toEqual([503, 503, 200]);
    for (const d of attempts) {
      expect(d.errors).toEqual([]);
      expect(d.verifiedByLibrary).toBe(true);
      expect(d.verifiedByHelper).toBe(true);
      expect(d.id).toBe(handoffId);
      expect(d.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      expect(d.headers['content-type']).toBe('application/json');
      expect(d.body).toBe(attempts[0]?.body);
    }
    // Exponential backoff from 2 s with jitter: the retries are spaced, the second more than the first.
    const [a, b, c] = attempts.map((d) => d.at) as [number, number, number];
    expect(b - a).toBeGreaterThanOrEqual(900);
    expect(c - b).toBeGreaterThanOrEqual(1_900);
    handoffSample = attempts[2];

    const view = await caseOf(api, caseId);
    expect(view.escalation).toMatchObject({ department: 'legal', delivery: 'delivered', handoff: 'delivered' });

    // The package of 3.2.3, with only what legal's policy entry lists (4.1): subject, description,
    // preliminaryJudgment, recommendation, customer.name, customer.phone.
    const payload = attempts[2]?.payload;
    expect(payload).toMatchObject({
      type: 'handoff',
      caseId,
      contractId: 'MC-2026-001',
      policyVersion: 1,
      clause: '3.2.3',
      department: 'legal',
      trigger: 'legal_dispute',
      level: 1,
    });
    expect(Date.parse(payload.acceptBy)).toBeGreaterThan(Date.now());
    expect(payload.package.customer).toEqual({ id: 'cust-42', name: '赵六', phone: '+86 135 0000 4242' });
    expect(payload.package.request).toEqual({
      category: 'complaint',
      channel: 'phone',
      subject: 'Termination dispute',
      description: 'The customer disputes the early-termination fee and mentions a lawsuit.',
    });
    expect(Object.keys(payload.package).sort()).toEqual([
      'customer',
      'preliminaryJudgment',
      'recommendation',
      'request',
    ]);
    expect(attempts[2]?.body).not.toContain('zhao6@example.com');
    expect(attempts[2]?.body).not.toContain('2400.00');
    expect(attempts[2]?.body).not.toContain('CRM-77');

    // The customer notice of 3.2.3 arrives too (after its own two 503s), verified.
    const notices = await deliveredOnce('/notices', `${caseId}.notice.1`);
    expect(notices.map((d) => d.status)).toEqual([503, 503, 200]);
    expect(notices[2]?.payload).toMatchObject({
      type: 'customer_notice',
      caseId,
      clause: '3.2.3',
      locale: 'zh-CN',
      customer: { id: 'cust-42', channel: 'phone' },
      notice: { status: 'escalated', received: true, handledBy: '法务部', contact: '法务部' },
    });
    expect(notices[2]?.payload.notice.text).toContain(caseId);

    // Legal accepts over HTTP with its department key; the delivery stays delivered and is not sent again.
    const accepted = await sendOverHttp(api, caseId, { type: 'HANDOFF_ACCEPT', department: 'legal' }, { as: 'legal' });
    expect(accepted.escalation).toMatchObject({ handoff: 'accepted', delivery: 'delivered' });
    await sleep(300);
    expect(receiver.to('/legal').filter((d) => d.id === handoffId)).toHaveLength(3);
  });

  it('refuses connections for a while, then comes up on the same port: delivered once, validly signed', async () => {
    await receiver.down();
    receiver.answer((d) => (ok(d) ? 200 : 401));
    const opened = await openOverHttp(api, {
      ...openCase({ category: 'complaint', flags: ['customer_requests_management'], subject: 'Wants a manager' }),
      customer,
    });
    const caseId = opened.id as string;
    const handoffId = `${caseId}.handoff.1`;
    expect(opened.escalation).toMatchObject({ department: 'management' });
    // Two attempts fail while nothing listens (at ~0 s and ~1-2 s); the third comes 2-4 s after the second.
    await sleep(2_500);
    expect(receiver.to('/management')).toEqual([]);
    expect((await caseOf(api, caseId)).escalation.delivery).not.toBe('delivered');
    statusWhileRefused = await rt.redis.hgetall(rt.store.keys.forCase(caseId).delivery(handoffId));
    await receiver.up();

    const received = await deliveredOnce('/management', handoffId);
    expect(received).toHaveLength(1);
    expect(received[0]?.errors).toEqual([]);
    expect(ok(received[0] as Delivery)).toBe(true);
    // management's fields: subject, description, preliminaryJudgment, recommendation, customer.name
    expect(received[0]?.payload.package.customer).toEqual({ id: 'cust-42', name: '赵六' });
    expect((await caseOf(api, caseId)).escalation).toMatchObject({ department: 'management', delivery: 'delivered' });
  });

  it('while connections were refused, the delivery record said retrying and kept the last error', () => {
    expect(statusWhileRefused.status).toBe('retrying');
    expect(statusWhileRefused.lastError).toMatch(/ECONNREFUSED|fetch failed|connect/i);
  });
});

describe('other deliveries', () => {
  it('a department without a webhook gets no_endpoint on the case', async () => {
    const opened = await openOverHttp(api, openCase());
    await sendOverHttp(api, opened.id, VERIFY);
    await sendOverHttp(api, opened.id, {
      type: 'ESCALATE',
      reason: 'needs an engineer',
      preliminaryJudgment: 'a fault in the meter',
      recommendation: 'tech_support',
    });
    await waitFor(async () => (await caseOf(api, opened.id)).escalation?.delivery === 'no_endpoint', {
      timeoutMs: 5_000,
      what: 'the hand-off to tech_support to be marked no_endpoint',
    });
  });

  it('a coordination request carries only the fields finance’s policy entry lists (subject, amount)', async () => {
    receiver.answer((d) => (ok(d) ? 200 : 401));
    const opened = await openOverHttp(api, {
      ...openCase({
        category: 'fee_waiver',
        amount: { amount: '80.00', currency: 'CNY' },
        subject: 'Late fee',
        description: 'Private details finance does not need: the customer was in hospital.',
      }),
      customer,
    });
    await sendOverHttp(api, opened.id, VERIFY);
    await sendOverHttp(api, opened.id, { type: 'COORDINATE', department: 'finance', request: 'Was the fee correct?' });
    const [request] = await deliveredOnce('/finance', `${opened.id}.coordination.3`, 5_000);
    expect(ok(request as Delivery)).toBe(true);
    expect(request?.payload).toMatchObject({ type: 'coordination_request', caseId: opened.id, clause: '3.2.2' });
    expect(request?.payload.request).toMatchObject({
      subject: 'Late fee',
      amount: { amount: '80.00', currency: 'CNY' },
    });
    expect(request?.body).not.toContain('hospital');
    expect(request?.body).not.toContain('赵六');
  });
});

describe('verifyWebhook (the documented receiver-side check)', () => {
  const secret = generateSecret();
  const body = JSON.stringify({ type: 'handoff', caseId: 'c1', clause: '3.2.3' });
  const clock = () => Math.floor(Date.now() / 1000);
  const signed = (ts = clock(), s = secret, id = 'c1.handoff.1', b = body) => signatureHeaders(s, id, ts, b);

  it('accepts a real delivery, and rejects it with another secret or a changed body or id', () => {
    const sample = handoffSample as Delivery;
    expect(sample).toBeDefined();
    const legal = secrets['/legal'] as string;
    const nowSec = Number(sample.timestamp);
    expect(verifyWebhook(legal, sample.headers, sample.body, { nowSec })).toEqual(JSON.parse(sample.body));
    const reject = (s: string, headers: Record<string, string>, b: string) =>
      expect(() => verifyWebhook(s, headers, b, { nowSec })).toThrow(WebhookVerificationError);
    reject(secrets['/finance'] as string, sample.headers, sample.body);
    reject(legal, sample.headers, sample.body.replace('"level":1', '"level":2'));
    reject(legal, { ...sample.headers, 'webhook-id': `${sample.id}x` }, sample.body);
    reject(legal, { ...sample.headers, 'webhook-timestamp': String(nowSec + 1) }, sample.body);
    // The independent library agrees.
    expect(() => new Webhook(secrets['/finance'] as string).verify(sample.body, sample.headers)).toThrow();
  });

  it('rejects a wrong signature, whatever its shape', () => {
    expect(verifyWebhook(secret, signed(), body)).toEqual(JSON.parse(body));
    const good = signed()['webhook-signature'];
    for (const signature of [
      'v1,AAAA',
      `v2,${good.slice(3)}`,
      good.slice(3),
      '',
      `v1,${Buffer.from('x'.repeat(32)).toString('base64')}`,
    ]) {
      expect(() => verifyWebhook(secret, { ...signed(), 'webhook-signature': signature }, body), signature).toThrow(
        WebhookVerificationError,
      );
    }
    // Several signatures (secret rotation): one valid is enough.
    expect(verifyWebhook(secret, { ...signed(), 'webhook-signature': `v1,AAAA ${good}` }, body)).toBeTruthy();
    expect(() => verifyWebhook(secret, { 'webhook-id': 'x', 'webhook-timestamp': String(clock()) }, body)).toThrow(
      WebhookVerificationError,
    );
  });

  it('rejects a timestamp outside the 5-minute replay window, old or in the future', () => {
    const now = clock();
    expect(() => verifyWebhook(secret, signed(now - 301), body)).toThrow(/replay window/);
    expect(() => verifyWebhook(secret, signed(now + 301), body)).toThrow(/replay window/);
    expect(verifyWebhook(secret, signed(now - 299), body)).toBeTruthy();
    expect(() => verifyWebhook(secret, signed(now - 30), body, { toleranceSec: 10 })).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(secret, { ...signed(), 'webhook-timestamp': 'yesterday' }, body)).toThrow(
      WebhookVerificationError,
    );
    // The independent library rejects the stale message too.
    expect(() => new Webhook(secret).verify(body, signed(now - 600))).toThrow();
  });
});
