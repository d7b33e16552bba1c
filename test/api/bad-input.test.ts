import { describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/runtime.ts';
import {
  type ApiServer,
  caseOf,
  expectProblem,
  historyOf,
  openOverHttp,
  prefixSnapshot,
  sendOverHttp,
  useApi,
} from '../support/api.ts';
import { openCase } from '../support/policy.ts';
import { VERIFY } from '../support/runtime.ts';

// Bad input over real HTTP: each a 4xx application/problem+json naming the field, never a 500, nothing written.

let rt: Runtime;
let api: ApiServer;
let verifiedCase: string;
useApi(async (server) => {
  ({ rt, api } = server);
  verifiedCase = (await openOverHttp(api, openCase({ category: 'fee_waiver' }))).id;
  await sendOverHttp(api, verifiedCase, VERIFY);
});

interface Row {
  readonly name: string;
  /** A JSON body, or a raw string sent as is. */
  readonly json?: unknown;
  readonly raw?: string;
  readonly headers?: Record<string, string>;
  readonly status: number;
  readonly code: string;
  /** The field `errors[].path` must name. */
  readonly path?: string;
  /** A name some error's path or message must contain (unknown fields). */
  readonly mentions?: string;
}

const valid = openCase({ amount: { amount: '120.00', currency: 'CNY' } });
const without = (key: string) => Object.fromEntries(Object.entries(valid).filter(([k]) => k !== key));
const big = 'x'.repeat(70 * 1024);

const OPEN_ROWS: Row[] = [
  {
    name: 'missing contractId',
    json: without('contractId'),
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'contractId',
  },
  { name: 'missing subject', json: without('subject'), status: 400, code: 'VALIDATION_FAILED', path: 'subject' },
  { name: 'missing customer', json: without('customer'), status: 400, code: 'VALIDATION_FAILED', path: 'customer' },
  {
    name: 'missing customer.name',
    json: { ...valid, customer: { id: 'c1' } },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'customer.name',
  },
  { name: 'empty subject', json: { ...valid, subject: '  ' }, status: 400, code: 'VALIDATION_FAILED', path: 'subject' },
  {
    name: 'unknown field',
    json: { ...valid, priority: 'high' },
    status: 400,
    code: 'VALIDATION_FAILED',
    mentions: 'priority',
  },
  {
    name: 'unknown customer field',
    json: { ...valid, customer: { ...valid.customer, age: 31 } },
    status: 400,
    code: 'VALIDATION_FAILED',
    mentions: 'age',
  },
  {
    name: 'unknown channel',
    json: { ...valid, channel: 'fax' },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'channel',
  },
  {
    name: 'unknown category',
    json: { ...valid, category: 'refund_everything' },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'category',
  },
  {
    name: 'unknown contract',
    json: { ...valid, contractId: 'MC-NOPE' },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'contractId',
  },
  {
    name: 'amount as a JSON number',
    json: { ...valid, amount: { amount: 120, currency: 'CNY' } },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'amount.amount',
  },
  {
    name: 'negative amount',
    json: { ...valid, amount: { amount: '-1.00', currency: 'CNY' } },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'amount.amount',
  },
  {
    name: 'too many decimals',
    json: { ...valid, amount: { amount: '1.005', currency: 'CNY' } },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'amount.amount',
  },
  {
    name: 'decimals on a currency without minor units',
    json: { ...valid, amount: { amount: '100.5', currency: 'JPY' } },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'amount.amount',
  },
  {
    name: 'unknown currency',
    json: { ...valid, amount: { amount: '1.00', currency: 'ABC' } },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'amount.currency',
  },
  {
    name: 'lower-case currency',
    json: { ...valid, amount: { amount: '1.00', currency: 'cny' } },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'amount.currency',
  },
  {
    name: 'missing currency',
    json: { ...valid, amount: { amount: '1.00' } },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'amount.currency',
  },
  {
    name: 'unknown flag',
    json: { ...valid, flags: ['angry_customer'] },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'flags.0',
  },
  {
    name: 'bad e-mail',
    json: { ...valid, customer: { ...valid.customer, email: 'not-an-email' } },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'customer.email',
  },
  { name: 'an array body', json: [valid], status: 400, code: 'VALIDATION_FAILED', path: '(root)' },
  { name: 'a JSON string body', json: 'a case', status: 400, code: 'VALIDATION_FAILED', path: '(root)' },
  {
    name: 'JSON null',
    raw: 'null',
    headers: { 'content-type': 'application/json' },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'malformed JSON',
    raw: '{"contractId": "MC-2026-001",',
    headers: { 'content-type': 'application/json' },
    status: 400,
    code: 'MALFORMED_JSON',
  },
  {
    name: 'empty JSON body',
    raw: '',
    headers: { 'content-type': 'application/json' },
    status: 400,
    code: 'MALFORMED_JSON',
  },
  {
    name: 'prototype poisoning',
    raw: `{"__proto__": {"admin": true}, "contractId": "MC-2026-001"}`,
    headers: { 'content-type': 'application/json' },
    status: 400,
    code: 'MALFORMED_JSON',
  },
  {
    name: 'text/plain',
    raw: JSON.stringify(valid),
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'form-encoded',
    raw: 'contractId=MC-2026-001',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  { name: 'no content type', raw: JSON.stringify(valid), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  {
    name: 'oversized body (> 64 KiB)',
    json: { ...valid, description: big },
    status: 413,
    code: 'BODY_TOO_LARGE',
  },
  {
    name: 'bad Idempotency-Key',
    json: valid,
    headers: { 'idempotency-key': 'with spaces in it' },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'header.idempotency-key',
  },
];

const EVENT_ROWS: Row[] = [
  { name: 'unknown event type', json: { type: 'DANCE' }, status: 400, code: 'VALIDATION_FAILED', path: 'type' },
  { name: 'missing type', json: { message: 'hi' }, status: 400, code: 'VALIDATION_FAILED', path: 'type' },
  { name: 'type not a string', json: { type: 7 }, status: 400, code: 'VALIDATION_FAILED', path: 'type' },
  { name: 'lower-case type', json: { type: 'respond' }, status: 400, code: 'VALIDATION_FAILED', path: 'type' },
  {
    name: 'DEADLINE from a caller',
    json: { type: 'DEADLINE', name: 'firstResponse', epoch: 1 },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'type',
  },
  {
    name: 'unknown field',
    json: { type: 'RESPOND', message: 'hi', urgent: true },
    status: 400,
    code: 'VALIDATION_FAILED',
    mentions: 'urgent',
  },
  {
    name: 'CLOSE with a field',
    json: { type: 'CLOSE', now: true },
    status: 400,
    code: 'VALIDATION_FAILED',
    mentions: 'now',
  },
  {
    name: 'VERIFY not confirmed',
    json: { ...VERIFY, identityVerified: false },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'identityVerified',
  },
  {
    name: 'RESOLVE without resolution',
    json: { type: 'RESOLVE' },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'resolution',
  },
  {
    name: 'adjustment amount as a number',
    json: { type: 'RESOLVE', resolution: 'waived', adjustment: { amount: 100, currency: 'CNY' } },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'adjustment.amount',
  },
  {
    name: 'negative adjustment',
    json: { type: 'RESOLVE', resolution: 'waived', adjustment: { amount: '-100.00', currency: 'CNY' } },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'adjustment.amount',
  },
  {
    name: 'adjustment in an unknown currency',
    json: { type: 'RESOLVE', resolution: 'waived', adjustment: { amount: '100.00', currency: 'XYZ1' } },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'adjustment.currency',
  },
  {
    name: 'adjustment in another real currency (a refusal, not bad input)',
    json: { type: 'RESOLVE', resolution: 'waived', adjustment: { amount: '100.00', currency: 'USD' } },
    status: 422,
    code: 'CURRENCY_MISMATCH',
  },
  {
    name: 'survey score out of range',
    json: { type: 'SURVEY_RESULT', score: 6 },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'score',
  },
  {
    name: 'survey score not an integer',
    json: { type: 'SURVEY_RESULT', score: 4.5 },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'score',
  },
  {
    name: 'survey score as a string',
    json: { type: 'SURVEY_RESULT', score: '5' },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'score',
  },
  {
    name: 'department id with a space',
    json: { type: 'COORDINATE', department: 'fin ance', request: 'check' },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'department',
  },
  {
    name: 'unknown department (a refusal)',
    json: { type: 'COORDINATE', department: 'marketing', request: 'check' },
    status: 422,
    code: 'UNKNOWN_DEPARTMENT',
  },
  {
    name: 'unknown trigger',
    json: { type: 'FLAG', flag: 'angry' },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'flag',
  },
  {
    name: 'message too long',
    json: { type: 'RESPOND', message: 'x'.repeat(4001) },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'message',
  },
  {
    name: 'bad If-Match',
    json: { type: 'RESPOND' },
    headers: { 'if-match': 'latest' },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'header.if-match',
  },
  {
    name: 'bad Idempotency-Key',
    json: { type: 'RESPOND' },
    headers: { 'idempotency-key': 'k'.repeat(256) },
    status: 400,
    code: 'VALIDATION_FAILED',
    path: 'header.idempotency-key',
  },
  {
    name: 'malformed JSON',
    raw: '{"type": "RESPOND"',
    headers: { 'content-type': 'application/json' },
    status: 400,
    code: 'MALFORMED_JSON',
  },
  {
    name: 'text/plain',
    raw: '{"type":"RESPOND"}',
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'oversized body',
    json: { type: 'RESPOND', message: big },
    status: 413,
    code: 'BODY_TOO_LARGE',
  },
  { name: 'no body at all', status: 400, code: 'VALIDATION_FAILED', path: '(root)' },
];

const LIST_ROWS: { query: string; path: string }[] = [
  { query: 'limit=abc', path: 'query.limit' },
  { query: 'limit=0', path: 'query.limit' },
  { query: 'limit=201', path: 'query.limit' },
  { query: 'limit=1.5', path: 'query.limit' },
  { query: 'state=nope', path: 'query.state' },
  { query: 'breached=yes', path: 'query.breached' },
  { query: 'dueBefore=tomorrow', path: 'query.dueBefore' },
  { query: 'dueBefore=2026-11-25T10:00:00', path: 'query.dueBefore' },
  { query: 'cursor=!!!', path: 'query.cursor' },
  { query: 'cursor=bm90LWEtY3Vyc29y', path: 'query.cursor' },
  { query: 'contractId=', path: 'query.contractId' },
  { query: 'state=received&state=closed', path: 'query.state' },
];

async function send(path: string, row: Row) {
  const headers = { ...row.headers };
  if (row.raw !== undefined) return api.request('POST', path, { body: row.raw, headers });
  if (row.json !== undefined) return api.request('POST', path, { json: row.json, headers });
  return api.request('POST', path, { headers });
}

describe('POST /v1/cases with bad input', () => {
  it.each(OPEN_ROWS)('$name → $status $code', async (row) => {
    const before = await prefixSnapshot(rt);
    const res = await send('/v1/cases', row);
    expectProblem(res, row.status, row.code, {
      ...(row.path ? { path: row.path } : {}),
      ...(row.mentions ? { mentions: row.mentions } : {}),
    });
    expect(await prefixSnapshot(rt)).toEqual(before);
  });
});

describe('POST /v1/cases/{id}/events with bad input', () => {
  it.each(EVENT_ROWS)('$name → $status $code', async (row) => {
    const before = await prefixSnapshot(rt);
    const res = await send(`/v1/cases/${verifiedCase}/events`, row);
    expectProblem(res, row.status, row.code, {
      ...(row.path ? { path: row.path } : {}),
      ...(row.mentions ? { mentions: row.mentions } : {}),
    });
    expect(await prefixSnapshot(rt)).toEqual(before);
    expect((await caseOf(api, verifiedCase)).version).toBe(2);
  });

  it('an event for an unknown case is 404', async () => {
    const before = await prefixSnapshot(rt);
    const res = await api.request('POST', '/v1/cases/cdoesnotexist/events', { json: { type: 'RESPOND' } });
    expectProblem(res, 404, 'NOT_FOUND');
    expect(await prefixSnapshot(rt)).toEqual(before);
  });

  it('bad input with an Idempotency-Key writes only the key’s record, and its replay is the same 400', async () => {
    const key = `bad-input-${Date.now()}`;
    const before = await prefixSnapshot(rt);
    const event = { type: 'SURVEY_RESULT', score: 9 };
    const first = await api.request('POST', `/v1/cases/${verifiedCase}/events`, {
      json: event,
      headers: { 'idempotency-key': key },
    });
    expectProblem(first, 400, 'VALIDATION_FAILED', { path: 'score' });
    const after = await prefixSnapshot(rt);
    const added = after.filter((k) => !before.includes(k));
    expect(added).toHaveLength(1);
    expect(added[0]).toContain(':http-idem:');
    const again = await api.request('POST', `/v1/cases/${verifiedCase}/events`, {
      json: event,
      headers: { 'idempotency-key': key },
    });
    expect(again.status).toBe(400);
    expect(again.body).toEqual(first.body);
    expect(await historyOf(api, verifiedCase)).toHaveLength(2);
  });
});

describe('GET /v1/cases with a bad query', () => {
  it.each(LIST_ROWS)('?$query → 400 naming $path', async ({ query, path }) => {
    const res = await api.request('GET', `/v1/cases?${query}`);
    expectProblem(res, 400, 'VALIDATION_FAILED', { path });
  });

  it('an unknown query parameter is 400 naming it', async () => {
    const res = await api.request('GET', '/v1/cases?color=red');
    expectProblem(res, 400, 'VALIDATION_FAILED', { mentions: 'color' });
  });
});

describe('other requests that are not the API', () => {
  it('an unknown case is 404, an unknown route 404, both problems', async () => {
    expectProblem(await api.request('GET', '/v1/cases/cnope'), 404, 'NOT_FOUND');
    expectProblem(await api.request('GET', '/v1/cases/cnope/history'), 404, 'NOT_FOUND');
    expectProblem(await api.request('GET', '/v1/contracts/MC-NOPE'), 404, 'NOT_FOUND');
    expectProblem(await api.request('GET', '/v2/cases'), 404, 'NOT_FOUND');
    expectProblem(await api.request('DELETE', `/v1/cases/${verifiedCase}`), 404, 'NOT_FOUND');
    expect((await caseOf(api, verifiedCase)).version).toBe(2);
  });

  it('a malformed percent-encoding in the path is a 400 problem, not Fastify’s default error body', async () => {
    const res = await api.request('GET', '/v1/cases/%E0%A4%A');
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expectProblem(res, res.status);
  });
});
