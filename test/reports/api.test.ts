import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reports } from '../../src/reports/reports.ts';
import { type ApiServer, expectProblem, prefixSnapshot, startApi } from '../support/api.ts';
import { closeRuntime } from '../support/runtime.ts';
import { parseCsv } from './csv-parse.ts';
import { at, CONTRACT, type Seeded, seed } from './seed.ts';

// GET /v1/reports and the stored scheduled reports over HTTP: roles, formats, bad input, and the responses
// checked against the OpenAPI document the API serves.

let seeded: Seeded;
let api: ApiServer;
let doc: Record<string, any>;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
const q = (params: Record<string, string>) => `/v1/reports?${new URLSearchParams(params)}`;
const PERIOD = { contractId: CONTRACT, from: '2026-11-02', to: '2026-11-03' };

beforeAll(async () => {
  seeded = await seed();
  api = await startApi(seeded.rt);
  doc = (await api.request('GET', '/v1/openapi.json', { as: null })).body;
  ajv.addSchema(doc, 'openapi.json');
  // The daily report of 2026-11-02, as the scheduler would store it at 00:30 the next day.
  await new Reports({ store: seeded.rt.store, policies: seeded.rt.policies }).produce(
    CONTRACT,
    'daily',
    at('11-03', '00:30'),
  );
});
afterAll(async () => {
  await api?.close();
  if (seeded) await closeRuntime(seeded.rt);
});

function valid(pointer: string, value: unknown) {
  const validate = ajv.getSchema(`openapi.json#/${pointer}`);
  if (!validate) throw new Error(`no schema at ${pointer}`);
  expect(validate(value), JSON.stringify(validate.errors)?.slice(0, 1000)).toBe(true);
}

describe('GET /v1/reports (3.3, 5.2)', () => {
  it('answers supervisors, ops and auditors with the JSON report the OpenAPI document describes', async () => {
    for (const as of ['supervisor', 'ops', 'auditor'] as const) {
      const res = await api.request('GET', q(PERIOD), { as });
      expect(res.status, res.text).toBe(200);
      expect(res.contentType).toMatch(/^application\/json/);
      expect(res.body).toMatchObject({
        schema: 'intervene.report/v1',
        period: { from: '2026-11-02', to: '2026-11-03', kind: 'custom' },
        volume: { opened: 5, previous: 2 },
        breaches: { real: 2, excused: 0 },
        adjustments: { count: 2, totals: [{ currency: 'CNY', count: 2, amount: '170.50' }] },
      });
      valid('components/schemas/Report', res.body);
      valid('paths/~1v1~1reports/get/responses/200/content/application~1json/schema', res.body);
    }
  });

  it('refuses the other roles (403) and callers without a key (401)', async () => {
    for (const as of ['service', 'agent', 'legal'] as const) {
      expectProblem(await api.request('GET', q(PERIOD), { as }), 403, 'FORBIDDEN');
    }
    expectProblem(await api.request('GET', q(PERIOD), { as: null }), 401, 'UNAUTHENTICATED');
  });

  it('serves CSV (a download) and self-contained HTML (with a content policy)', async () => {
    const csv = await api.request('GET', q({ ...PERIOD, format: 'csv' }), { as: 'ops' });
    expect(csv.status).toBe(200);
    expect(csv.contentType).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toBe(
      'attachment; filename="report-MC-2026-001-2026-11-02-2026-11-03.csv"',
    );
    const rows = parseCsv(csv.text);
    expect(rows.find((r) => r[0] === 'volume' && r[1] === 'opened' && r[2] === '')?.[3]).toBe('5');
    const html = await api.request('GET', q({ ...PERIOD, format: 'html' }), { as: 'auditor' });
    expect(html.status).toBe(200);
    expect(html.contentType).toBe('text/html; charset=utf-8');
    expect(html.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(html.text).toContain('<svg class="chart"');
  });

  it('names the field and the rule of bad input, and changes nothing', async () => {
    const before = await prefixSnapshot(seeded.rt);
    const cases: [Record<string, string>, string, string][] = [
      [{ from: '2026-11-02', to: '2026-11-03' }, 'query.contractId', 'required'],
      [{ ...PERIOD, contractId: 'MC/1' }, 'query.contractId', 'a contract id: letters, digits, "_" or "-"'],
      [{ ...PERIOD, contractId: 'MC-NOPE' }, 'query.contractId', 'no policy is loaded for contract MC-NOPE'],
      [
        { ...PERIOD, from: '2026-13-01' },
        'query.from',
        'a date YYYY-MM-DD (a local day in the contract policy time zone)',
      ],
      [{ ...PERIOD, to: '2026-11-01' }, 'query.to', 'must be on or after from (2026-11-02)'],
      [{ ...PERIOD, from: '2025-01-01' }, 'query.to', 'at most 366 days after from'],
      [{ ...PERIOD, format: 'pdf' }, 'query.format', 'one of json, csv, html'],
      [{ ...PERIOD, colour: 'red' }, 'query.colour', 'unknown parameter'],
    ];
    for (const [params, path, message] of cases) {
      const res = await api.request('GET', q(params), { as: 'ops' });
      expectProblem(res, 400, 'VALIDATION_FAILED', { path });
      expect(res.body.errors).toContainEqual({ path, message });
    }
    expect(await prefixSnapshot(seeded.rt)).toEqual(before);
  });
});

describe('stored scheduled reports', () => {
  it('lists them, newest first, and serves each in every format', async () => {
    const list = await api.request('GET', `/v1/reports/scheduled?contractId=${CONTRACT}`, { as: 'supervisor' });
    expect(list.status, list.text).toBe(200);
    expect(list.body).toEqual({
      items: [{ contractId: CONTRACT, period: 'daily', from: '2026-11-02', to: '2026-11-02' }],
    });
    valid('paths/~1v1~1reports~1scheduled/get/responses/200/content/application~1json/schema', list.body);
    expect(
      (await api.request('GET', `/v1/reports/scheduled?contractId=${CONTRACT}&period=weekly`, { as: 'ops' })).body,
    ).toEqual({ items: [] });

    const path = `/v1/reports/scheduled/${CONTRACT}/daily/2026-11-02`;
    const json = await api.request('GET', path, { as: 'auditor' });
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({
      period: { kind: 'daily', from: '2026-11-02', to: '2026-11-02' },
      volume: { opened: 3 },
    });
    valid('components/schemas/Report', json.body);
    expect((await api.request('GET', `${path}?format=csv`, { as: 'auditor' })).contentType).toBe(
      'text/csv; charset=utf-8',
    );
    expect((await api.request('GET', `${path}?format=html`, { as: 'auditor' })).text).toContain(
      'service report 2026-11-02 to 2026-11-02',
    );
  });

  it('404 for a period never stored; 400 naming the bad path part; 403 for other roles', async () => {
    expectProblem(
      await api.request('GET', `/v1/reports/scheduled/${CONTRACT}/daily/2026-11-05`, { as: 'ops' }),
      404,
      'NOT_FOUND',
    );
    expectProblem(
      await api.request('GET', `/v1/reports/scheduled/${CONTRACT}/hourly/2026-11-02`, { as: 'ops' }),
      400,
      'VALIDATION_FAILED',
      { path: 'path.period' },
    );
    expectProblem(
      await api.request('GET', `/v1/reports/scheduled/${CONTRACT}/daily/yesterday`, { as: 'ops' }),
      400,
      'VALIDATION_FAILED',
      { path: 'path.from' },
    );
    expectProblem(
      await api.request('GET', `/v1/reports/scheduled/MC-NOPE/daily/2026-11-02`, { as: 'ops' }),
      400,
      'VALIDATION_FAILED',
      { path: 'path.contractId' },
    );
    expectProblem(
      await api.request('GET', `/v1/reports/scheduled/${CONTRACT}/daily/2026-11-02?format=xml`, { as: 'ops' }),
      400,
      'VALIDATION_FAILED',
      { path: 'query.format' },
    );
    expectProblem(
      await api.request('GET', `/v1/reports/scheduled?contractId=${CONTRACT}&limit=0`, { as: 'ops' }),
      400,
      'VALIDATION_FAILED',
      { path: 'query.limit' },
    );
    expectProblem(
      await api.request('GET', `/v1/reports/scheduled?contractId=${CONTRACT}`, { as: 'agent' }),
      403,
      'FORBIDDEN',
    );
  });

  it('the OpenAPI document lists every report route and status they answer', () => {
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/reports',
        '/v1/reports/scheduled',
        '/v1/reports/scheduled/{contractId}/{period}/{from}',
      ]),
    );
    expect(Object.keys(doc.paths['/v1/reports'].get.responses).sort()).toEqual(['200', '400', '401', '403', '503']);
    expect(Object.keys(doc.paths['/v1/reports'].get.responses['200'].content)).toEqual([
      'application/json',
      'text/csv',
      'text/html',
    ]);
    expect(
      doc.paths['/v1/reports'].get.parameters.map((p: { name: string; required: boolean }) => [p.name, p.required]),
    ).toEqual([
      ['contractId', true],
      ['from', true],
      ['to', true],
      ['format', false],
    ]);
    expect(Object.keys(doc.paths['/v1/reports/scheduled/{contractId}/{period}/{from}'].get.responses).sort()).toEqual([
      '200',
      '400',
      '401',
      '403',
      '404',
      '503',
    ]);
  });
});
