import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSecret } from '../../src/notify/sign.ts';
import { parsePolicy } from '../../src/policy/policy.ts';
import { ERASED } from '../../src/privacy/erasure.ts';
import type { Runtime } from '../../src/runtime.ts';
import { type ApiServer, expectProblem, prefixSnapshot, startApi } from '../support/api.ts';
import { exampleDocument } from '../support/policy.ts';
import { redisUrl, VERIFY } from '../support/runtime.ts';
import { type SignedReceiver, signedReceiver } from '../support/signed-receiver.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { type Canaries, canaries, closePrivacyRuntime, dataKey, dumpKeys, privacyRuntime } from './helpers.ts';

// 4.2 retention and erasure: a data subject's request removes their personal data from every case and
// every queued payload, while the anonymised audit trail and the statistics remain; closed cases lose it
// by themselves after the policy's retention period. Both are logged.

let rt: Runtime;
let api: ApiServer;
let receiver: SignedReceiver;
const admin = new Redis(redisUrl());
const x = canaries();
const y = canaries();

const body = (c: Canaries, extra: Record<string, unknown> = {}) => ({
  contractId: 'MC-2026-001',
  channel: 'phone',
  category: 'complaint',
  customer: { id: c.customerId, name: c.name, phone: c.phone, email: c.email },
  subject: c.subject,
  description: c.description,
  ...extra,
});

beforeAll(async () => {
  const doc = exampleDocument();
  doc.retention = { personalData: 'PT1S' };
  const env: Record<string, string> = { INTERVENE_NOTIFY_BACKOFF_MS: '100', INTERVENE_NOTIFY_ATTEMPTS: '100' };
  const secrets: Record<string, string> = {};
  for (const [id, department] of Object.entries<Record<string, any>>(doc.departments)) {
    env[department.webhook.secretEnv] = secrets[`/${id}`] = generateSecret();
  }
  env[doc.notices.customer.webhook.secretEnv] = secrets['/notices'] = generateSecret();
  // Down until the erasure is done: deliveries queued before it keep failing and retrying.
  receiver = await signedReceiver(secrets);
  for (const [id, department] of Object.entries<Record<string, any>>(doc.departments)) {
    department.webhook.url = receiver.url(`/${id}`);
  }
  doc.notices.customer.webhook.url = receiver.url('/notices');
  rt = await privacyRuntime({ dataKeys: dataKey('k1'), policies: [parsePolicy(doc, 'erasure policy')], env });
  rt.startWorkers(['notify', 'dispatcher']);
  api = await startApi(rt);
});
afterAll(async () => {
  await api?.close();
  if (rt) await closePrivacyRuntime(rt);
  await receiver?.down();
  admin.disconnect();
});

async function open(c: Canaries, extra: Record<string, unknown> = {}, key?: string) {
  const res = await api.request('POST', '/v1/cases', {
    json: body(c, extra),
    ...(key ? { headers: { 'idempotency-key': key } } : {}),
  });
  expect(res.status, res.text).toBe(201);
  return res.body as Record<string, any>;
}

async function send(id: string, event: Record<string, unknown>, as: 'service' | 'agent' = 'service') {
  const res = await api.request('POST', `/v1/cases/${id}/events`, { as, json: event });
  expect(res.status, res.text).toBe(200);
  return res.body as Record<string, any>;
}

describe('DELETE /v1/customers/{id}/personal-data', () => {
  let escalated: Record<string, any>;
  let closed: string;
  let other: string;
  let erasedAt: Record<string, any>;

  beforeAll(async () => {
    escalated = await open(x, { flags: ['legal_dispute'] }, 'erasure-open');
    closed = (await open(x, { category: 'inquiry' })).id;
    await send(closed, VERIFY);
    await send(closed, { type: 'RESOLVE', resolution: `${x.message} resolved` });
    await send(closed, { type: 'SURVEY_RESULT', score: 5, comment: x.comment });
    await send(closed, { type: 'CLOSE' });
    other = (await open(y)).id;
    await rt.dispatcher.flush();
  });

  it('is refused to roles that may not erase (403, clause 4.2), naming the rule, and changes nothing', async () => {
    const before = await prefixSnapshot(rt);
    for (const as of ['agent', 'ops', 'auditor', 'legal'] as const) {
      const res = await api.request('DELETE', `/v1/customers/${x.customerId}/personal-data`, { as });
      expectProblem(res, 403, 'FORBIDDEN', { clause: '4.2' });
      expect(res.body.detail).toMatch(/may not erase personal data/);
    }
    expect(await prefixSnapshot(rt)).toEqual(before);
  });

  it('a malformed customer id is a 400 naming params.id and the rule, without echoing it', async () => {
    const long = await api.request('DELETE', `/v1/customers/${'z'.repeat(129)}/personal-data`);
    expectProblem(long, 400, 'VALIDATION_FAILED', { path: 'params.id' });
    expect(long.body.errors[0].message).toBe('at most 128 characters');
    expect(long.text).not.toContain('zzzz');
    const blank = await api.request('DELETE', '/v1/customers/%20%20/personal-data');
    expectProblem(blank, 400, 'VALIDATION_FAILED', { path: 'params.id' });
    const tooLong = await api.request('DELETE', `/v1/customers/${x.customerId}${'z'.repeat(300)}/personal-data`);
    expectProblem(tooLong, 414, 'URI_TOO_LONG');
    expect(tooLong.text).not.toContain(x.customerId);
  });

  it('erases every case of the customer and nobody else’s', async () => {
    const res = await api.request('DELETE', `/v1/customers/${x.customerId}/personal-data`, { as: 'supervisor' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ erased: 2, cases: [escalated.id, closed].sort(), intakeJobs: 0 });
    expect(res.text).not.toContain(x.name);
    erasedAt = (await api.request('GET', `/v1/cases/${escalated.id}`)).body;
    expect(erasedAt.customer).toEqual({ id: ERASED, name: ERASED, phone: ERASED, email: ERASED });
    expect(erasedAt.subject).toBe(ERASED);
    // The other customer's case is untouched.
    const untouched = (await api.request('GET', `/v1/cases/${other}`)).body;
    expect(untouched.customer.name).toBe(y.name);
  });

  it('keeps the case itself: state, clocks, escalation, version history and indexes (the statistics)', async () => {
    expect(erasedAt.state).toBe('escalated');
    expect(erasedAt.version).toBe(escalated.version + 1);
    expect(erasedAt.escalation.department).toBe(escalated.escalation.department);
    expect(erasedAt.deadlines).toEqual(escalated.deadlines);
    const list = await api.request('GET', '/v1/cases?state=closed&limit=200');
    expect(list.body.items.map((c: any) => c.id)).toContain(closed);
  });

  it('leaves an anonymised audit trail: every action, actor and clause, no free text, and the erasure itself', async () => {
    const res = await api.request('GET', `/v1/cases/${closed}/history`);
    const items = res.body.items as Record<string, any>[];
    expect(items.map((e) => e.event)).toEqual([
      'OPEN',
      'VERIFY',
      'RESOLVE',
      'SURVEY_RESULT',
      'CLOSE',
      'PERSONAL_DATA_ERASED',
    ]);
    const survey = items.find((e) => e.event === 'SURVEY_RESULT');
    expect(survey?.data).toEqual({ score: 5 });
    expect(survey?.erased).toBe(true);
    expect(items.at(-1)).toMatchObject({
      event: 'PERSONAL_DATA_ERASED',
      clause: '4.2',
      actor: { name: 'supervisor-wang', role: 'supervisor' },
      data: { basis: 'request' },
    });
    expect(res.text).not.toContain(x.message);
    expect(res.text).not.toContain(x.comment);
  });

  it('makes every sealed copy unreadable, even with the key: payloads, audit entries, the HTTP replay', async () => {
    // The hand-off queued before the erasure (its receiver was down) is never sent with the data.
    const record = await admin.hgetall(rt.store.keys.forCase(escalated.id).delivery(`${escalated.id}.handoff.1`));
    expect(record.entry).toBeDefined();
    expect(await rt.store.codec.openDelivery(JSON.parse(record.entry as string))).toBeUndefined();
    await receiver.up();
    await waitFor(
      async () =>
        (await admin.hget(rt.store.keys.forCase(escalated.id).delivery(`${escalated.id}.handoff.1`), 'status')) ===
        'erased',
      { timeoutMs: 10_000, what: 'the queued hand-off to be dropped as erased' },
    );
    await sleep(300);
    for (const d of receiver.deliveries) expect(d.body).not.toContain(x.name);
    // The HTTP idempotency cache kept the first answer (sealed): its replay is gone, not shown.
    const replay = await api.request('POST', '/v1/cases', {
      json: body(x, { flags: ['legal_dispute'] }),
      headers: { 'idempotency-key': 'erasure-open' },
    });
    expectProblem(replay, 410, 'PERSONAL_DATA_ERASED');
    expect(replay.text).not.toContain(x.name);
    // No personal data of x is left in clear anywhere under the prefixes either.
    const dump = await dumpKeys(admin, [`${rt.config.INTERVENE_PREFIX}*`, `${rt.config.INTERVENE_QUEUE_PREFIX}*`]);
    for (const [key, text] of dump) expect(text.includes(x.name) || text.includes(x.customerId), key).toBe(false);
  });

  it('is logged, queryable by customer, by case and by the person who asked', async () => {
    const byCustomer = await api.request('GET', `/v1/access-log?customerId=${x.customerId}`, { as: 'auditor' });
    expect(byCustomer.status, byCustomer.text).toBe(200);
    const erasures = byCustomer.body.items.filter((e: any) => e.action === 'erase');
    expect(erasures.map((e: any) => e.caseId).sort()).toEqual([escalated.id, closed].sort());
    for (const e of erasures) {
      expect(e).toMatchObject({
        actor: { name: 'supervisor-wang', role: 'supervisor' },
        withinAuthority: true,
        via: 'api',
      });
      expect(e.customer).toMatch(/^[0-9a-f]{32}$/);
    }
    expect(byCustomer.text).not.toContain(x.customerId);
    const refused = await api.request('GET', '/v1/access-log?actor=agent-li', { as: 'auditor' });
    expect(
      refused.body.items.some((e: any) => e.route === 'DELETE /v1/customers/:id/personal-data' && !e.withinAuthority),
    ).toBe(true);
  });

  it('a second request finds nothing left to erase', async () => {
    const res = await api.request('DELETE', `/v1/customers/${x.customerId}/personal-data`);
    expect(res.body).toEqual({ erased: 0, cases: [], intakeJobs: 0 });
  });

  it('an erased case still takes events; new free text is sealed under its new key', async () => {
    const next = await send(closed, { type: 'REOPEN', reason: `${y.message} after erasure` }, 'agent');
    expect(next.state).toBe('verified');
    const history = (await api.request('GET', `/v1/cases/${closed}/history`)).body.items;
    expect(history.at(-1).data).toEqual({ reason: `${y.message} after erasure` });
  });
});

describe('retention of closed cases (the policy sets retention.personalData: PT1S here)', () => {
  it('erases closed cases once the period has passed since closing; open or reopened ones keep their data', async () => {
    const c = canaries();
    const toErase = (await open(c, { category: 'inquiry' })).id;
    const reopened = (await open(c, { category: 'inquiry' })).id;
    const open_ = (await open(c, { category: 'inquiry' })).id;
    for (const id of [toErase, reopened]) {
      await send(id, VERIFY);
      await send(id, { type: 'RESOLVE', resolution: 'done' });
      await send(id, { type: 'CLOSE' });
    }
    await send(reopened, { type: 'REOPEN', reason: 'not done after all' });
    // Not yet: the period runs from closing.
    expect(await rt.erasure.retention()).toBe(0);
    await sleep(1_100);
    expect(await rt.erasure.retention()).toBe(1);
    const erased = (await api.request('GET', `/v1/cases/${toErase}`)).body;
    expect(erased.customer.name).toBe(ERASED);
    expect(erased.state).toBe('closed');
    for (const id of [reopened, open_])
      expect((await api.request('GET', `/v1/cases/${id}`)).body.customer.name).toBe(c.name);
    const history = (await api.request('GET', `/v1/cases/${toErase}/history`)).body.items;
    expect(history.at(-1)).toMatchObject({
      event: 'PERSONAL_DATA_ERASED',
      actor: { name: 'intervene-retention', role: 'system' },
      data: { basis: 'retention' },
    });
    const log = await api.request('GET', `/v1/access-log?caseId=${toErase}`, { as: 'auditor' });
    expect(log.body.items.some((e: any) => e.action === 'retention' && e.via === 'job')).toBe(true);
    // Nothing is erased twice.
    expect(await rt.erasure.retention()).toBe(0);
  });
});
