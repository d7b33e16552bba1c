import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/runtime.ts';
import { type ApiResponse, type ApiServer, openOverHttp, sendOverHttp, startApi } from '../support/api.ts';
import { CONTRACT, openCase, testPolicy } from '../support/policy.ts';
import { closeRuntime, testRuntime, VERIFY } from '../support/runtime.ts';

// The OpenAPI document checked by an independent validator, against the routes the app really serves, and
// against real responses (JSON Schema 2020-12, as OpenAPI 3.1 uses). Also the contracts discovery routes.

let rt: Runtime;
let api: ApiServer;
let doc: Record<string, any>;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });

beforeAll(async () => {
  // Two versions of one contract are loaded: new cases open under the higher one.
  rt = await testRuntime({ policies: [testPolicy(), testPolicy({ firstResponse: 'PT10M' }, 2)] });
  api = await startApi(rt);
  const res = await api.request('GET', '/v1/openapi.json', { as: null });
  expect(res.status).toBe(200);
  doc = res.body;
  ajv.addSchema(doc, 'openapi.json');
});
afterAll(async () => {
  await api?.close();
  if (rt) await closeRuntime(rt);
});

const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

/** Validates a value against a schema of the document, by JSON pointer. */
function check(path: string, value: unknown): void {
  const validate = ajv.getSchema(`openapi.json#/${path}`);
  if (!validate) throw new Error(`no schema at ${path}`);
  const ok = validate(value);
  expect(ok, `${path}: ${JSON.stringify(validate.errors, null, 1)?.slice(0, 1500)}`).toBe(true);
}
const component = (name: string) => pointer('components', 'schemas', name);
const responseSchema = (path: string, method: string, status: number, media = 'application/json') =>
  pointer('paths', path, method, 'responses', String(status), 'content', media, 'schema');

/** The routes the app serves, read from Fastify's own route tree: `METHOD /path/{param}`. */
function servedRoutes(): string[] {
  const lines = api.app.printRoutes({ commonPrefix: false }).split('\n');
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of lines) {
    const match = /^([│├└─\s]*?)(\/\S*)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = Math.floor((match[1] as string).length / 4);
    stack.length = depth;
    stack.push(match[2] as string);
    const path = stack.join('').replace(/:(\w+)/g, '{$1}');
    // The ops pages and Bull Board are not API routes (docs/dashboard.md).
    if (path.startsWith('/ops')) continue;
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim())) {
      if (method && method !== 'HEAD') routes.push(`${method} ${path}`);
    }
  }
  return routes.sort();
}

function documentedRoutes(): string[] {
  return Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

describe('the OpenAPI document', () => {
  it('is served without a key and validates as OpenAPI 3.1 with an independent validator', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(doc.openapi).toMatch(/^3\.1\./);
  });

  it('the route tree parser sees every route (sanity check of the test itself)', () => {
    const served = servedRoutes();
    expect(served).toContain('POST /v1/cases/{id}/events');
    expect(served).toContain('GET /v1/contracts/{id}');
    expect(served.length).toBeGreaterThanOrEqual(10);
  });

  it('documents every API route the app serves, and the app serves every documented operation', () => {
    const served = servedRoutes();
    const documented = documentedRoutes();
    expect(documented).toEqual(expect.arrayContaining(served));
    expect(served).toEqual(expect.arrayContaining(documented));
    for (const route of documented) {
      const [method, path] = route.split(' ') as [string, string];
      expect(api.app.hasRoute({ method, url: path.replace(/\{(\w+)\}/g, ':$1') }), route).toBe(true);
    }
  });

  it('documents the routes that serve the document itself (/v1/openapi.json, /v1/docs)', () => {
    expect(documentedRoutes()).toEqual(expect.arrayContaining(servedRoutes()));
  });

  it('documents every status the API answered in these tests, for its operation', async () => {
    const observed: [string, string, ApiResponse][] = [];
    const record = async (op: string, path: string, res: Promise<ApiResponse>) => {
      observed.push([op, path, await res]);
    };
    const { id } = await openOverHttp(api, openCase());
    const events = `/v1/cases/${id}/events`;
    await record('post', '/v1/cases', api.request('POST', '/v1/cases', { json: openCase() }));
    await record('post', '/v1/cases', api.request('POST', '/v1/cases', { json: {} }));
    await record('post', '/v1/cases', api.request('POST', '/v1/cases', { as: null, json: openCase() }));
    await record('post', '/v1/cases', api.request('POST', '/v1/cases', { as: 'ops', json: openCase() }));
    await record(
      'post',
      '/v1/cases',
      api.request('POST', '/v1/cases', { body: 'x', headers: { 'content-type': 'text/plain' } }),
    );
    await record(
      'post',
      '/v1/cases',
      api.request('POST', '/v1/cases', { json: { ...openCase(), description: 'x'.repeat(70_000) } }),
    );
    await record('post', '/v1/cases/{id}/events', api.request('POST', events, { json: { type: 'CLOSE' } }));
    await record(
      'post',
      '/v1/cases/{id}/events',
      api.request('POST', events, { json: { type: 'RESPOND' }, headers: { 'if-match': '"9"' } }),
    );
    await record(
      'post',
      '/v1/cases/{id}/events',
      api.request('POST', events, { as: 'auditor', json: { type: 'RESPOND' } }),
    );
    await record(
      'post',
      '/v1/cases/{id}/events',
      api.request('POST', '/v1/cases/cnope/events', { json: { type: 'RESPOND' } }),
    );
    await record('post', '/v1/cases/{id}/events', api.request('POST', events, { json: { type: 'NOPE' } }));
    await record('post', '/v1/cases/{id}/events', api.request('POST', events, { json: VERIFY }));
    await record('get', '/v1/cases/{id}', api.request('GET', `/v1/cases/${id}`));
    await record('get', '/v1/cases/{id}', api.request('GET', '/v1/cases/cnope'));
    await record('get', '/v1/cases/{id}', api.request('GET', `/v1/cases/${id}`, { as: 'legal' }));
    await record('get', '/v1/cases/{id}/history', api.request('GET', `/v1/cases/${id}/history`));
    await record('get', '/v1/cases/{id}/history', api.request('GET', '/v1/cases/cnope/history'));
    await record('get', '/v1/cases', api.request('GET', '/v1/cases?limit=2'));
    await record('get', '/v1/cases', api.request('GET', '/v1/cases?limit=x'));
    await record('get', '/v1/cases', api.request('GET', '/v1/cases?department=finance', { as: 'legal' }));
    await record('get', '/v1/contracts', api.request('GET', '/v1/contracts'));
    await record('get', '/v1/contracts', api.request('GET', '/v1/contracts', { as: null }));
    await record('get', '/v1/contracts/{id}', api.request('GET', `/v1/contracts/${CONTRACT}`));
    await record('get', '/v1/contracts/{id}', api.request('GET', '/v1/contracts/MC-NOPE'));
    await record('get', '/healthz', api.request('GET', '/healthz', { as: null }));
    await record('get', '/readyz', api.request('GET', '/readyz', { as: null }));
    for (const [method, path, res] of observed) {
      const responses = doc.paths[path]?.[method]?.responses ?? {};
      expect(Object.keys(responses), `${method.toUpperCase()} ${path} answered ${res.status}`).toContain(
        String(res.status),
      );
      // Every problem the API answered validates against the Problem schema.
      if (res.status >= 400) {
        expect(res.contentType).toMatch(/^application\/problem\+json/);
        check(component('Problem'), res.body);
        check(responseSchema(path, method, res.status, 'application/problem+json'), res.body);
      }
    }
    expect(new Set(observed.map(([, , r]) => r.status))).toEqual(
      new Set([200, 201, 400, 401, 403, 404, 412, 413, 415, 422]),
    );
  });

  it('real responses validate against the documented schemas: case, history, list, contracts', async () => {
    const opened = await api.request('POST', '/v1/cases', {
      json: openCase({
        category: 'fee_waiver',
        amount: { amount: '99.50', currency: 'CNY' },
        externalRef: 'ERP-1',
        customer: { id: 'u7', name: '王五', phone: '+86 137 0000 1111', email: 'w5@example.com' },
      }),
    });
    expect(opened.status).toBe(201);
    check(component('Case'), opened.body);
    check(responseSchema('/v1/cases', 'post', 201), opened.body);
    const id = opened.body.id as string;
    await sendOverHttp(api, id, { type: 'REQUEST_INFO', request: 'receipt?' });
    const paused = await api.request('GET', `/v1/cases/${id}`);
    check(responseSchema('/v1/cases/{id}', 'get', 200), paused.body);
    expect(paused.body.deadlines.some((d: any) => d.status === 'paused' && d.remainingMs > 0)).toBe(true);
    await sendOverHttp(api, id, { type: 'CUSTOMER_REPLY', message: 'here' });
    await sendOverHttp(api, id, VERIFY);
    await sendOverHttp(api, id, { type: 'COORDINATE', department: 'finance', request: 'check' });
    await sendOverHttp(api, id, { type: 'DEPARTMENT_REPLY', department: 'finance', reply: 'ok' }, { as: 'finance' });
    const resolved = await sendOverHttp(api, id, {
      type: 'RESOLVE',
      resolution: 'waived',
      adjustment: { amount: '99.50', currency: 'CNY' },
    });
    check(responseSchema('/v1/cases/{id}/events', 'post', 200), resolved);
    await sendOverHttp(api, id, { type: 'SURVEY_RESULT', score: 3 });

    for (const caller of ['service', 'ops', 'auditor', 'finance'] as const) {
      const view = await api.request('GET', `/v1/cases/${id}`, { as: caller });
      expect(view.status).toBe(200);
      check(component('Case'), view.body);
    }
    const escalated = await openOverHttp(api, openCase({ flags: ['customer_requests_management'] }));
    check(component('Case'), escalated);
    check(component('Case'), (await api.request('GET', `/v1/cases/${escalated.id}`, { as: 'management' })).body);

    const history = await api.request('GET', `/v1/cases/${id}/history`);
    check(responseSchema('/v1/cases/{id}/history', 'get', 200), history.body);
    for (const entry of history.body.items) check(component('AuditEntry'), entry);

    const page = await api.request('GET', '/v1/cases?limit=3');
    check(responseSchema('/v1/cases', 'get', 200), page.body);
    const last = await api.request('GET', '/v1/cases?limit=200');
    expect(last.body.nextCursor).toBeNull();
    check(responseSchema('/v1/cases', 'get', 200), last.body);

    const contracts = await api.request('GET', '/v1/contracts');
    check(responseSchema('/v1/contracts', 'get', 200), contracts.body);
    const contract = await api.request('GET', `/v1/contracts/${CONTRACT}`);
    check(responseSchema('/v1/contracts/{id}', 'get', 200), contract.body);
  });

  it('the documented request schemas accept the bodies the API accepts and reject unknown fields', () => {
    check(component('OpenCase'), openCase({ amount: { amount: '1.00', currency: 'CNY' }, flags: ['legal_dispute'] }));
    for (const event of [
      { type: 'RESPOND', message: 'hi' },
      VERIFY,
      { type: 'RESOLVE', resolution: 'x', adjustment: { amount: '1.00', currency: 'CNY' } },
      { type: 'COORDINATE', department: 'finance', request: 'x' },
      { type: 'ESCALATE', reason: 'r', preliminaryJudgment: 'p', recommendation: 'legal' },
      { type: 'FLAG', flag: 'major_breach' },
      { type: 'CLOSE' },
      { type: 'SURVEY_RESULT', score: 5 },
    ]) {
      check(component('Event'), event);
    }
    const validate = ajv.getSchema(`openapi.json#/${component('Event')}`);
    for (const bad of [
      { type: 'RESPOND', extra: 1 },
      { type: 'DEADLINE', name: 'handoff', epoch: 1 },
      { type: 'SURVEY_RESULT', score: 6 },
      { type: 'RESOLVE', resolution: 'x', adjustment: { amount: 1, currency: 'CNY' } },
    ]) {
      expect(validate?.(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('the API reference page', () => {
  it('GET /v1/docs without a key is HTML listing every operation', async () => {
    const res = await api.request('GET', '/v1/docs', { as: null });
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/^text\/html/);
    expect(res.text).toMatch(/^<!doctype html>/i);
    for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(methods)) {
        expect(res.text).toContain(`<code>${method.toUpperCase()}</code></td><td><code>${path}</code>`);
        expect(res.text).toContain(op.operationId);
      }
    }
    expect(res.text).toContain('/v1/openapi.json');
  });
});

describe('contracts', () => {
  it('GET /v1/contracts lists every loaded policy version with its rules', async () => {
    const res = await api.request('GET', '/v1/contracts', { as: 'auditor' });
    expect(res.status).toBe(200);
    const items = res.body.items as any[];
    expect(items.map((c) => [c.id, c.version])).toEqual([
      [CONTRACT, 1],
      [CONTRACT, 2],
    ]);
    const [v1, v2] = items;
    expect(v1).toMatchObject({
      id: CONTRACT,
      name: '某某服务主合同',
      timezone: 'Asia/Shanghai',
      channels: ['phone', 'chat', 'email'],
      amountLimit: { amount: '500.00', currency: 'CNY' },
      routes: { legal_dispute: 'legal', deadline_missed: 'team_lead' },
      ladder: ['team_lead', 'contract_management', 'management'],
      // testPolicy() turns the example's warnings off.
      warnings: [],
    });
    expect(v1.calendars).toContainEqual(
      expect.objectContaining({ id: 'cs_hours', version: 1, timezone: 'Asia/Shanghai' }),
    );
    expect(v1.categories).toContain('fee_waiver');
    expect(v1.deadlines).toContainEqual({ name: 'firstResponse', within: 'PT15M', clause: '3.1.3', clock: 'calendar' });
    expect(v2.deadlines).toContainEqual(expect.objectContaining({ name: 'firstResponse', within: 'PT10M' }));
    expect(v1.departments).toContainEqual({ id: 'legal', name: '法务部' });
    expect(JSON.stringify(res.body)).not.toMatch(/whsec_|secretEnv|example\.internal/);
  });

  it('GET /v1/contracts/{id} is the current version with every version; new cases open under it', async () => {
    const res = await api.request('GET', `/v1/contracts/${CONTRACT}`, { as: 'legal' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: CONTRACT, version: 2 });
    expect(res.body.versions.map((v: any) => v.version)).toEqual([1, 2]);
    const opened = await openOverHttp(api, openCase());
    expect(opened.policyVersion).toBe(2);
    const due = opened.deadlines.find((d: any) => d.name === 'firstResponse');
    expect(Date.parse(due.dueAt) - Date.parse(opened.createdAt)).toBe(10 * 60_000);
  });

  it('an unknown contract is 404, and the contracts need a key', async () => {
    const res = await api.request('GET', '/v1/contracts/MC-NOPE');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('NOT_FOUND');
    expect((await api.request('GET', `/v1/contracts/${CONTRACT}`, { as: null })).status).toBe(401);
  });
});

describe('the clock routes (why, outages) answer what they document', () => {
  it('GET /v1/cases/{id}/deadlines, POST /v1/outages, GET /v1/outages, POST /v1/outages/{id}/end', async () => {
    const opened = await openOverHttp(api, openCase());
    await sendOverHttp(
      api,
      opened.id,
      { type: 'PAUSE', reason: 'customer_caused', note: 'no receipt yet' },
      { as: 'agent' },
    );
    const why = await api.request('GET', `/v1/cases/${opened.id}/deadlines`);
    expect(why.status).toBe(200);
    check(responseSchema('/v1/cases/{id}/deadlines', 'get', 200), why.body);
    expect(why.body.items.map((d: any) => d.name).sort()).toEqual(['firstResponse', 'initialNotice']);

    const declared = await api.request('POST', '/v1/outages', {
      as: 'ops',
      json: {
        start: new Date(Date.now() + 60_000).toISOString(),
        reason: 'system_failure',
        note: 'planned maintenance',
      },
    });
    expect(declared.status).toBe(201);
    check(responseSchema('/v1/outages', 'post', 201), declared.body);
    const list = await api.request('GET', '/v1/outages', { as: 'auditor' });
    check(responseSchema('/v1/outages', 'get', 200), list.body);
    const ended = await api.request('POST', `/v1/outages/${declared.body.id}/end`, {
      as: 'ops',
      json: { end: new Date(Date.now() + 120_000).toISOString() },
    });
    expect(ended.status).toBe(200);
    check(responseSchema('/v1/outages/{id}/end', 'post', 200), ended.body);
  });
});
