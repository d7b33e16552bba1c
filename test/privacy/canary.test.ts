import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSecret } from '../../src/notify/sign.ts';
import { parsePolicy } from '../../src/policy/policy.ts';
import type { Runtime } from '../../src/runtime.ts';
import { type ApiResponse, type ApiServer, CALLER_NAMES, type Caller, startApi } from '../support/api.ts';
import { exampleDocument } from '../support/policy.ts';
import { redisUrl, VERIFY } from '../support/runtime.ts';
import { type SignedReceiver, signedReceiver } from '../support/signed-receiver.ts';
import { waitFor } from '../support/wait.ts';
import {
  type Canaries,
  canaries,
  closePrivacyRuntime,
  dataKey,
  dumpKeys,
  leaks,
  logSink,
  privacyRuntime,
  secretsOf,
} from './helpers.ts';

// DESIGN.md invariant 10 and 4.2, end to end: unique canary values (name, phone, e-mail, subject,
// description, free text) are driven through a whole lifecycle over HTTP — every role reading, bad
// input, refusals, a missed deadline, hand-offs and notices to real receivers, an idempotent replay —
// and then looked for in clear text in every log line, every problem body, the metrics, every Redis
// key of every type (BullMQ jobs and the idempotency caches included) and Redis's append-only file.

let rt: Runtime;
let api: ApiServer;
let receiver: SignedReceiver;
const sink = logSink();
const admin = new Redis(redisUrl());
const c = canaries();
const late = canaries();
/** Every response with a status of 400 or more. */
const problems: ApiResponse[] = [];
/** Every response that a masked or unrelated role got. */
const maskedReads: { caller: Caller; res: ApiResponse }[] = [];
let caseA: string;
let caseB: string;

async function call(caller: Caller, method: string, path: string, json?: unknown, headers?: Record<string, string>) {
  const res = await api.request(method, path, {
    as: caller,
    ...(json === undefined ? {} : { json }),
    ...(headers ? { headers } : {}),
  });
  if (res.status >= 400) problems.push(res);
  return res;
}

async function send(caller: Caller, id: string, event: Record<string, unknown>) {
  const res = await call(caller, 'POST', `/v1/cases/${id}/events`, event);
  expect(res.status, `${caller} ${event.type}: ${res.text}`).toBe(200);
  return res;
}

const openBody = (x: Canaries, extra: Record<string, unknown> = {}) => ({
  contractId: 'MC-2026-001',
  channel: 'phone',
  category: 'complaint',
  customer: { id: x.customerId, name: x.name, phone: x.phone, email: x.email },
  subject: x.subject,
  description: x.description,
  amount: { amount: '120.00', currency: 'CNY' },
  ...extra,
});

beforeAll(async () => {
  const doc = exampleDocument();
  doc.deadlines.firstResponse.within = 'PT2S';
  const env: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  for (const [id, department] of Object.entries<Record<string, any>>(doc.departments)) {
    const secret = generateSecret();
    env[department.webhook.secretEnv] = secret;
    secrets[`/${id}`] = secret;
  }
  env[doc.notices.customer.webhook.secretEnv] = secrets['/notices'] = generateSecret();
  receiver = await signedReceiver(secrets);
  await receiver.up();
  for (const [id, department] of Object.entries<Record<string, any>>(doc.departments)) {
    department.webhook.url = receiver.url(`/${id}`);
  }
  doc.notices.customer.webhook.url = receiver.url('/notices');
  rt = await privacyRuntime({
    dataKeys: dataKey('k1'),
    policies: [parsePolicy(doc, 'canary policy')],
    env,
    log: { stream: sink.stream, level: 'trace' },
  });
  rt.startWorkers(['notify', 'dispatcher', 'deadlines']);
  api = await startApi(rt);

  // ── case A: the whole lifecycle, every text field a canary ──
  const opened = await call('service', 'POST', '/v1/cases', openBody(c), { 'idempotency-key': 'canary-open-1' });
  expect(opened.status, opened.text).toBe(201);
  caseA = opened.body.id;
  const replay = await call('service', 'POST', '/v1/cases', openBody(c), { 'idempotency-key': 'canary-open-1' });
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  expect(replay.body).toEqual(opened.body);
  await send('agent', caseA, { type: 'RESPOND', message: c.message });
  await send('agent', caseA, { type: 'REQUEST_INFO', request: `${c.message} request` });
  await send('agent', caseA, { type: 'CUSTOMER_REPLY', message: `${c.message} reply` });
  await send('agent', caseA, { ...VERIFY, method: `${c.comment} method` });
  await send('agent', caseA, { type: 'COORDINATE', department: 'finance', request: `${c.comment} ask` });
  await send('finance', caseA, { type: 'DEPARTMENT_REPLY', department: 'finance', reply: `${c.comment} answer` });
  await send('agent', caseA, {
    type: 'ESCALATE',
    reason: `${c.comment} reason`,
    preliminaryJudgment: c.judgment,
    recommendation: 'legal_dispute',
  });
  // A less severe flag on an escalated case is only recorded (with its note).
  await send('agent', caseA, { type: 'FLAG', flag: 'deadline_missed', note: `${c.comment} note` });
  // Reads while escalated: every role, the case, its history and the list.
  for (const caller of CALLER_NAMES) {
    for (const path of [`/v1/cases/${caseA}`, `/v1/cases/${caseA}/history`, '/v1/cases?limit=200']) {
      const res = await call(caller, 'GET', path);
      if (!['service', 'agent', 'supervisor'].includes(caller)) maskedReads.push({ caller, res });
    }
  }

  // ── bad input carrying canaries: nothing of it may come back ──
  const bad: [Caller, string, string, unknown][] = [
    ['service', 'POST', '/v1/cases', { ...openBody(c), customer: { id: c.customerId, name: c.name, email: c.name } }],
    ['service', 'POST', '/v1/cases', { ...openBody(c), customer: { id: c.customerId, name: c.name, phone: c.email } }],
    ['service', 'POST', '/v1/cases', { ...openBody(c), [c.description.slice(0, 30)]: c.description }],
    ['service', 'POST', '/v1/cases', { ...openBody(c), description: `${c.description}${'x'.repeat(9000)}` }],
    ['service', 'POST', '/v1/cases', { ...openBody(c), channel: c.name, category: c.subject }],
    ['service', 'POST', `/v1/cases/${caseA}/events`, { type: 'RESPOND', message: c.message, extra: c.name }],
    ['service', 'POST', `/v1/cases/${caseA}/events`, { type: c.name, message: c.message }],
    ['ops', 'POST', `/v1/cases/${caseA}/events`, { type: 'RESPOND', message: c.message }],
    ['legal', 'POST', `/v1/cases/${caseA}/events`, { type: 'HANDOFF_ACCEPT', department: 'finance' }],
    ['agent', 'POST', `/v1/cases/${caseA}/events`, { type: 'RESOLVE', resolution: c.message }],
    ['ops', 'POST', '/v1/cases', openBody(c)],
    ['agent', 'DELETE', `/v1/customers/${c.customerId}/personal-data`, undefined],
    ['service', 'GET', `/v1/customers/${c.customerId}/personal-data`, undefined],
    ['service', 'GET', `/v1/customers/${c.customerId}/${c.name}?q=${c.email}`, undefined],
  ];
  for (const [caller, method, path, json] of bad) {
    const res = await call(caller, method, path, json);
    expect(res.status, res.text).toBeGreaterThanOrEqual(400);
  }
  for (const raw of [
    `{"customer": {"name": "${c.name}", "phone": "${c.phone}"`,
    `${c.name} ${c.email}`,
    `{"description": "${c.description}" "x": 1}`,
  ]) {
    problems.push(
      await api.request('POST', '/v1/cases', { body: raw, headers: { 'content-type': 'application/json' } }),
    );
    problems.push(
      await api.request('POST', `/v1/cases/${caseA}/events`, {
        body: raw,
        headers: { 'content-type': 'application/json' },
      }),
    );
  }
  problems.push(
    await api.request('POST', '/v1/cases', {
      body: JSON.stringify(openBody(c)),
      headers: { 'content-type': 'text/plain' },
    }),
  );
  problems.push(
    await api.request('POST', '/v1/cases', {
      json: { ...openBody(c), description: `${c.description} ${'y'.repeat(70_000)}` },
    }),
  );

  // ── the escalation to legal, and the rest of the lifecycle ──
  await send('legal', caseA, { type: 'HANDOFF_ACCEPT', department: 'legal' });
  await send('legal', caseA, { type: 'ESCALATION_RESOLVE', outcome: `${c.judgment} outcome` });
  await send('agent', caseA, { type: 'SURVEY_RESULT', score: 4, comment: c.comment });
  await send('agent', caseA, { type: 'CLOSE' });
  await send('agent', caseA, { type: 'REOPEN', reason: `${c.message} reopen` });
  await send('agent', caseA, { type: 'RESPOND', message: `${c.message} after reopening` });

  // ── case B: nobody answers; firstResponse is missed and the case escalates by itself ──
  const b = await call('agent', 'POST', '/v1/cases', openBody(late, { category: 'inquiry' }));
  expect(b.status, b.text).toBe(201);
  caseB = b.body.id;
  await waitFor(async () => (await api.request('GET', `/v1/cases/${caseB}`)).body?.state === 'escalated', {
    timeoutMs: 10_000,
    what: 'case B escalated by its missed firstResponse',
  });
  // Every delivery delivered (or given up as no endpoint) before anything is scanned.
  await waitFor(
    async () => {
      await rt.dispatcher.flush();
      const keys = await dumpKeys(admin, [`${rt.config.INTERVENE_PREFIX}*:delivery:*`]);
      const records = [...keys].map(([key, text]) => ({ key, status: JSON.parse(text).status as string }));
      // Deadline warnings go to the CS team's endpoint, which this policy does not set.
      return (
        records.length >= 6 &&
        records.every((r) => r.status === 'delivered' || (r.key.includes('.warning.') && r.status === 'no_endpoint'))
      );
    },
    { timeoutMs: 20_000, what: 'every delivery delivered' },
  );
}, 60_000);

afterAll(async () => {
  await api?.close();
  if (rt) await closePrivacyRuntime(rt);
  await receiver?.down();
  admin.disconnect();
});

describe('the canaries reached their rightful readers (so their absence elsewhere means something)', () => {
  it('the service and CS roles read them whole; the legal hand-off carried what legal may know', async () => {
    const whole = await api.request('GET', `/v1/cases/${caseA}`, { as: 'agent' });
    expect(whole.body.customer).toEqual({ id: c.customerId, name: c.name, phone: c.phone, email: c.email });
    expect(whole.body.subject).toBe(c.subject);
    const history = await api.request('GET', `/v1/cases/${caseA}/history`, { as: 'supervisor' });
    expect(history.text).toContain(c.message);
    expect(history.text).toContain(c.judgment);
    const handoff = receiver.to('/legal').find((d) => d.payload?.type === 'handoff' && d.payload.caseId === caseA);
    expect(handoff?.payload.package.customer).toEqual({ id: c.customerId, name: c.name, phone: c.phone });
    expect(handoff?.payload.package.request.description).toBe(c.description);
    expect(handoff?.payload.package.preliminaryJudgment).toBe(c.judgment);
    // Finance lists subject and amount only: its coordination request carries no customer data.
    const coordination = receiver.to('/finance').find((d) => d.payload?.caseId === caseA);
    expect(coordination?.payload.request.subject).toBe(c.subject);
    expect(leaks(JSON.stringify(coordination?.payload.request), c)).toEqual([c.subject]);
    // Case B was escalated by the system (a missed deadline): its package, sealed in Redis, was opened at
    // send time and carried the customer data its department lists.
    const system = receiver.deliveries.find((d) => d.payload?.type === 'handoff' && d.payload.caseId === caseB);
    expect(system?.payload.trigger).toBe('deadline_missed');
    expect(leaks(JSON.stringify(system?.payload.package), late).length).toBeGreaterThan(0);
    expect(sink.lines.length).toBeGreaterThan(10);
    expect(sink.lines.some((l) => l.includes(caseA))).toBe(true);
  });
});

describe('the canaries appear nowhere else', () => {
  it('in no log line (level trace, errors included)', () => {
    for (const line of sink.lines) {
      expect(leaks(line, c), line).toEqual([]);
      expect(leaks(line, late), line).toEqual([]);
    }
  });

  it('in no problem body, whatever the error (400, 403, 404, 413, 415, 422)', () => {
    expect(new Set(problems.map((p) => p.status))).toEqual(new Set([400, 403, 404, 413, 415, 422]));
    for (const p of problems) {
      expect(p.contentType, p.text).toMatch(/problem\+json/);
      expect(leaks(p.text, c), p.text).toEqual([]);
      expect(p.text).not.toContain(c.customerId);
    }
  });

  it('in no answer to ops or auditors (masked), nor to a department beyond its policy fields', () => {
    for (const { caller, res } of maskedReads) {
      if (caller === 'ops' || caller === 'auditor') {
        expect(res.status, res.text).toBe(200);
        expect(leaks(res.text, c), `${caller} ${res.text.slice(0, 200)}`).toEqual([]);
      } else if (caller === 'legal') {
        // legal lists name, phone, subject, description, preliminaryJudgment: not the e-mail, not other free text.
        expect(res.text).not.toContain(c.email);
        expect(res.text).not.toContain(c.message);
      } else {
        // finance (coordinated before) sees at most its listed fields; management is not routed here.
        expect(leaks(res.text, c).filter((s) => s !== c.subject)).toEqual([]);
      }
    }
  });

  it('in no metric', async () => {
    const res = await api.request('GET', '/metrics', { as: 'ops' });
    expect(res.status, res.text).toBe(200);
    expect(res.text).toContain('# TYPE');
    expect(leaks(res.text, c)).toEqual([]);
    expect(leaks(res.text, late)).toEqual([]);
    expect(res.text).not.toContain(c.customerId);
  });

  it('in no Redis key of any type: cases, audit, outbox, deliveries, indexes, both idempotency caches, BullMQ jobs, the access log', async () => {
    const dump = await dumpKeys(admin, ['*']);
    const mine = [...dump.keys()].filter(
      (k) =>
        k.startsWith(rt.config.INTERVENE_PREFIX) ||
        k.startsWith(rt.config.INTERVENE_QUEUE_PREFIX) ||
        k.startsWith(rt.access.prefix),
    );
    // What is being scanned is really there.
    for (const part of [
      ':case:',
      ':audit:',
      ':delivery:',
      ':http-idem:',
      ':outbox',
      '-bull:notify:',
      '-bull:deadlines:',
    ]) {
      expect(
        mine.some((k) => k.includes(part)),
        part,
      ).toBe(true);
    }
    expect(mine.some((k) => k.startsWith(`${rt.access.prefix}case:`))).toBe(true);
    for (const [key, text] of dump) {
      expect(leaks(text, c), key).toEqual([]);
      expect(leaks(text, late), key).toEqual([]);
      expect(key).not.toContain(c.customerId);
    }
  });

  it("in no byte of Redis's append-only file (every write ever made, deleted keys included)", async () => {
    const [, dir] = (await admin.config('GET', 'dir')) as [string, string];
    const [, sub] = (await admin.config('GET', 'appenddirname')) as [string, string];
    const folder = join(dir, sub);
    const files = readdirSync(folder).filter((f) => statSync(join(folder, f)).isFile());
    expect(files.length).toBeGreaterThan(0);
    const all = Buffer.concat(files.map((f) => readFileSync(join(folder, f))));
    // The file really holds this test's writes: its case keys are in it.
    expect(all.includes(Buffer.from(`:case:${caseA}`))).toBe(true);
    for (const secret of [...secretsOf(c), ...secretsOf(late)]) {
      expect(all.includes(Buffer.from(secret)), secret).toBe(false);
    }
  });
});
