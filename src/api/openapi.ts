import { z } from 'zod';
import { declareOutageSchema, endOutageSchema } from '../deadlines/outages.ts';
import { eventSchemas, openCaseSchema } from '../domain/events.ts';
import { moneySchema } from '../domain/money.ts';
import { listQuerySchema } from './list.ts';
import { privacyOpenApi } from './privacy.ts';
import { reportOpenApi } from './reports.ts';
import {
  auditEntrySchema,
  caseViewSchema,
  contractSchema,
  deadlineExplanationSchema,
  outageSchema,
  problemSchema,
} from './schemas.ts';

// OpenAPI 3.1, generated from the zod schemas the routes validate with (JSON Schema 2020-12).
const schema = (s: z.ZodType, io: 'input' | 'output' = 'output') => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
/** A query schema as OpenAPI query parameters, one per property, required as the schema says. */
export type QueryParameters = (s: z.ZodType) => Record<string, unknown>[];
const queryParameters: QueryParameters = (s) => {
  const { properties, required = [] } = schema(s, 'input') as {
    properties: Record<string, object>;
    required?: string[];
  };
  return Object.entries(properties).map(([name, p]) => ({
    name,
    in: 'query',
    required: required.includes(name),
    schema: p,
  }));
};
const json = (s: object) => ({ 'application/json': { schema: s } });
const problems = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((c) => [
      String(c),
      { description: PROBLEM_TEXT[c] ?? 'error', content: { 'application/problem+json': { schema: ref('Problem') } } },
    ]),
  );
const PROBLEM_TEXT: Record<number, string> = {
  400: 'invalid input: each bad field named in `errors`',
  401: 'no or unknown API key',
  403: 'the role may not do this (clause in `clause`)',
  404: 'no such case',
  409: 'the same Idempotency-Key is in flight, or a version race could not be won',
  412: 'If-Match names another version',
  413: 'body too large',
  415: 'not application/json',
  422: 'refused by the agreement (clause in `clause`), or Idempotency-Key reused with another body',
  410: 'the first answer to this Idempotency-Key showed personal data since erased (4.2)',
  414: 'a path parameter is too long',
  429: 'too many requests for this API key (Retry-After says when to try again)',
  503: 'Redis unavailable; retry with the same Idempotency-Key',
};
const idempotencyKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'replays return the first response; another body under the same key is 422; in flight is 409. Kept 24 h, scoped to the API key.',
  schema: { type: 'string', maxLength: 255 },
};
const caseId = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };

let cached: object | undefined;

export function openApiDocument(): object {
  if (cached) return cached;
  const events = Object.fromEntries(
    Object.entries(eventSchemas).map(([type, s]) => [`Event${type}`, schema(s, 'input')]),
  );
  const reports = reportOpenApi(schema, problems, queryParameters);
  const privacy = privacyOpenApi(problems, queryParameters);
  cached = {
    openapi: '3.1.0',
    info: {
      title: 'Intervene',
      version: '1',
      description:
        'Customer-service intervention cases as contract-driven state machines. Every refusal names the clause of the agreement that decided it.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths: {
      '/v1/cases': {
        post: {
          operationId: 'openCase',
          summary: 'Open a case (2.1, 3.1.2)',
          parameters: [idempotencyKey],
          requestBody: { required: true, content: json(ref('OpenCase')) },
          responses: {
            201: { description: 'the case', content: json(ref('Case')) },
            ...problems(400, 401, 403, 409, 413, 415, 422, 503),
          },
        },
        get: {
          operationId: 'listCases',
          summary: 'A page of cases, newest first (soonest due first with dueBefore)',
          parameters: queryParameters(listQuerySchema),
          responses: {
            200: {
              description: 'a page',
              content: json({
                type: 'object',
                properties: { items: { type: 'array', items: ref('Case') }, nextCursor: { type: ['string', 'null'] } },
                required: ['items', 'nextCursor'],
              }),
            },
            ...problems(400, 401, 403, 503),
          },
        },
      },
      '/v1/cases/{id}': {
        get: {
          operationId: 'getCase',
          summary: 'A case as the caller may see it',
          parameters: [caseId],
          responses: {
            200: { description: 'the case (ETag: its version)', content: json(ref('Case')) },
            ...problems(401, 403, 404, 503),
          },
        },
      },
      '/v1/cases/{id}/events': {
        post: {
          operationId: 'sendEvent',
          summary: 'Send an event to a case',
          parameters: [
            caseId,
            idempotencyKey,
            {
              name: 'If-Match',
              in: 'header',
              required: false,
              description: 'the version last seen',
              schema: { type: 'string' },
            },
          ],
          requestBody: { required: true, content: json(ref('Event')) },
          responses: {
            200: { description: 'the case after the event', content: json(ref('Case')) },
            ...problems(400, 401, 403, 404, 409, 412, 413, 415, 422, 503),
          },
        },
      },
      '/v1/cases/{id}/history': {
        get: {
          operationId: 'caseHistory',
          summary: 'The audit trail in order (6.1)',
          parameters: [caseId],
          responses: {
            200: {
              description: 'audit entries',
              content: json({
                type: 'object',
                properties: { items: { type: 'array', items: ref('AuditEntry') } },
                required: ['items'],
              }),
            },
            ...problems(401, 403, 404, 503),
          },
        },
      },
      '/v1/cases/{id}/deadlines': {
        get: {
          operationId: 'caseDeadlines',
          summary: 'Why: each deadline explained — armed, calendar version, pauses, warnings, due, outcome, clauses',
          parameters: [caseId],
          responses: {
            200: {
              description: 'one explanation per deadline the case has armed',
              content: json({
                type: 'object',
                properties: { caseId: { type: 'string' }, items: { type: 'array', items: ref('DeadlineExplanation') } },
                required: ['caseId', 'items'],
              }),
            },
            ...problems(401, 403, 404, 503),
          },
        },
      },
      '/v1/outages': {
        get: {
          operationId: 'listOutages',
          summary: 'Outage windows (6.2)',
          responses: {
            200: {
              description: 'every declared window',
              content: json({
                type: 'object',
                properties: { items: { type: 'array', items: ref('Outage') } },
                required: ['items'],
              }),
            },
            ...problems(401, 403, 503),
          },
        },
        post: {
          operationId: 'declareOutage',
          summary: 'Declare an outage window (ops, supervisor): clocks in scope do not count it (6.2)',
          requestBody: { required: true, content: json(schema(declareOutageSchema, 'input')) },
          responses: {
            201: { description: 'the window', content: json(ref('Outage')) },
            ...problems(400, 401, 403, 413, 415, 503),
          },
        },
      },
      '/v1/outages/{id}/end': {
        post: {
          operationId: 'endOutage',
          summary: 'End an open outage window; the cases it held resume from its end',
          parameters: [caseId],
          requestBody: { required: false, content: json(schema(endOutageSchema, 'input')) },
          responses: {
            200: { description: 'the window, ended', content: json(ref('Outage')) },
            ...problems(400, 401, 403, 404, 412, 415, 503),
          },
        },
      },
      '/v1/contracts': {
        get: {
          operationId: 'listContracts',
          summary: 'Loaded contract policies',
          responses: {
            200: {
              description: 'every loaded policy version',
              content: json({
                type: 'object',
                properties: { items: { type: 'array', items: ref('Contract') } },
                required: ['items'],
              }),
            },
            ...problems(401),
          },
        },
      },
      '/v1/contracts/{id}': {
        get: {
          operationId: 'getContract',
          summary: 'A contract: its current policy and every loaded version',
          parameters: [caseId],
          responses: { 200: { description: 'the contract', content: json(ref('Contract')) }, ...problems(401, 404) },
        },
      },
      '/v1/openapi.json': {
        get: {
          operationId: 'openApi',
          security: [],
          summary: 'This document',
          responses: { 200: { description: 'OpenAPI 3.1' } },
        },
      },
      '/v1/docs': {
        get: {
          operationId: 'reference',
          security: [],
          summary: 'The API reference page',
          responses: { 200: { description: 'HTML' } },
        },
      },
      ...reports.paths,
      ...privacy.paths,
      '/healthz': {
        get: {
          operationId: 'health',
          security: [],
          summary: 'The process is up',
          responses: { 200: { description: 'up' } },
        },
      },
      '/readyz': {
        get: {
          operationId: 'ready',
          security: [],
          summary: 'Redis reachable, queue connections and workers ready (503 names what is not)',
          responses: { 200: { description: 'ready' }, ...problems(503) },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics (text exposition; an ops or auditor key) — see docs/ops.md',
          responses: {
            200: {
              description: 'the Prometheus text format',
              content: { 'text/plain': { schema: { type: 'string' } } },
            },
            ...problems(401, 403),
          },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API key from INTERVENE_KEYS' } },
      schemas: {
        OpenCase: schema(openCaseSchema, 'input'),
        Event: { oneOf: Object.keys(events).map(ref), discriminator: { propertyName: 'type' } },
        ...events,
        Money: schema(moneySchema, 'input'),
        Case: schema(caseViewSchema),
        AuditEntry: schema(auditEntrySchema),
        Contract: schema(contractSchema),
        Problem: schema(problemSchema),
        Outage: schema(outageSchema),
        DeadlineExplanation: schema(deadlineExplanationSchema),
        ...reports.schemas,
        ...privacy.schemas,
      },
    },
  };
  return cached;
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"]/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot' }[c]};`);

/** A self-contained API reference page (no script, no outside assets). */
export function referencePage(): string {
  const doc = openApiDocument() as {
    paths: Record<string, Record<string, { summary: string; operationId: string }>>;
    components: { schemas: object };
  };
  const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(
      ([method, op]) =>
        `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${escapeHtml(path)}</code></td><td>${escapeHtml(op.summary)}</td><td><code>${op.operationId}</code></td></tr>`,
    ),
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Intervene API</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left}pre{background:#f6f6f6;padding:1rem;overflow:auto}</style></head>
<body><h1>Intervene API</h1><p>Machine-readable: <a href="/v1/openapi.json">/v1/openapi.json</a> (OpenAPI 3.1). Authenticate with <code>Authorization: Bearer &lt;API key&gt;</code>. Errors are <code>application/problem+json</code> with a stable <code>code</code> and, for refusals, the <code>clause</code> of the agreement.</p>
<h2>Operations</h2><table><tr><th>method</th><th>path</th><th>what</th><th>operation</th></tr>${ops.join('')}</table>
<h2>Schemas</h2><pre>${escapeHtml(JSON.stringify(doc.components.schemas, null, 2))}</pre></body></html>`;
}
