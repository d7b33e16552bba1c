import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { Forbidden, ValidationError } from '../domain/errors.ts';
import { isDay } from '../reports/periods.ts';
import {
  parseFormat,
  parseReportQuery,
  parseStoredQuery,
  type ReportFormat,
  reportQuerySchema,
  storedQuerySchema,
} from '../reports/query.ts';
import { formatReport, MEDIA_TYPES, Reports, reportFileName } from '../reports/reports.ts';
import { type Report, reportSchema, storedReportSchema } from '../reports/schema.ts';
import type { Runtime } from '../runtime.ts';
import type { Principal } from './keys.ts';
import type { QueryParameters } from './openapi.ts';

// Service-data reports (3.3, 5.2) over HTTP: on demand from the aggregates, and the stored scheduled ones.

const READERS = new Set(['supervisor', 'ops', 'auditor']);

function mayRead(principal: Principal): void {
  if (!READERS.has(principal.role)) {
    throw new Forbidden(`role ${principal.role} may not read reports: supervisor, ops and auditor may`);
  }
}

/** No script, no outside request: the page is self-contained and must stay so when served. */
const HTML_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

function send(reply: FastifyReply, report: Report, format: ReportFormat) {
  reply.type(MEDIA_TYPES[format]);
  if (format === 'csv') reply.header('content-disposition', `attachment; filename="${reportFileName(report, 'csv')}"`);
  if (format === 'html') reply.header('content-security-policy', HTML_POLICY);
  return reply.send(format === 'json' ? report : formatReport(report, format));
}

export function registerReportRoutes(
  app: FastifyInstance,
  opts: { readonly runtime: Runtime; readonly principalOf: (request: FastifyRequest) => Principal },
): Reports {
  const { runtime, principalOf } = opts;
  const reports = new Reports({ store: runtime.store, policies: runtime.policies, log: runtime.log });

  app.get('/v1/reports', async (request, reply) => {
    mayRead(principalOf(request));
    const q = parseReportQuery(request.query, runtime.policies);
    return send(reply, await reports.render(q.contractId, q), q.format);
  });

  app.get('/v1/reports/scheduled', async (request) => {
    mayRead(principalOf(request));
    const q = parseStoredQuery(request.query, runtime.policies);
    return { items: await reports.list(q.contractId, q.period, q.limit) };
  });

  app.get<{ Params: { contractId: string; period: string; from: string } }>(
    '/v1/reports/scheduled/:contractId/:period/:from',
    async (request, reply) => {
      mayRead(principalOf(request));
      const { contractId, period, from } = request.params;
      const query = request.query as Record<string, unknown>;
      const extra = Object.keys(query).filter((k) => k !== 'format');
      const errors = [
        ...extra.map((k) => ({ path: `query.${k}`, message: 'unknown parameter (only format)' })),
        ...(['daily', 'weekly', 'monthly'].includes(period)
          ? []
          : [{ path: 'path.period', message: 'daily, weekly or monthly' }]),
        ...(isDay(from) ? [] : [{ path: 'path.from', message: 'a date YYYY-MM-DD' }]),
      ];
      if (errors.length > 0) throw new ValidationError('invalid report request', errors);
      const format = parseFormat(query.format);
      parseStoredQuery({ contractId }, runtime.policies, (field) => `path.${field}`);
      const report = await reports.load(contractId, period as 'daily' | 'weekly' | 'monthly', from);
      return send(reply, report, format);
    },
  );
  return reports;
}

/** The OpenAPI paths and schemas of the report routes (merged into src/api/openapi.ts). */
export function reportOpenApi(
  schema: (s: z.ZodType, io?: 'input' | 'output') => Record<string, unknown>,
  problems: (...codes: number[]) => Record<string, unknown>,
  query: QueryParameters,
) {
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const formats = {
    'application/json': { schema: ref('Report') },
    'text/csv': { schema: { type: 'string', description: 'one row per figure: section,metric,dimension,value' } },
    'text/html': { schema: { type: 'string', description: 'a self-contained page with inline SVG charts' } },
  };
  const path = (name: string, description: string) => ({
    name,
    in: 'path',
    required: true,
    description,
    schema: { type: 'string' },
  });
  return {
    paths: {
      '/v1/reports': {
        get: {
          operationId: 'report',
          summary: 'A service-data report over a period, on demand (3.3, 5.2); supervisor, ops, auditor',
          parameters: query(reportQuerySchema),
          responses: {
            200: { description: 'the report in the asked format', content: formats },
            ...problems(400, 401, 403, 503),
          },
        },
      },
      '/v1/reports/scheduled': {
        get: {
          operationId: 'listScheduledReports',
          summary: 'Stored scheduled reports of a contract, newest period first',
          parameters: query(storedQuerySchema),
          responses: {
            200: {
              description: 'stored reports',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: { items: { type: 'array', items: ref('StoredReport') } },
                    required: ['items'],
                  },
                },
              },
            },
            ...problems(400, 401, 403, 503),
          },
        },
      },
      '/v1/reports/scheduled/{contractId}/{period}/{from}': {
        get: {
          operationId: 'getScheduledReport',
          summary: 'A stored scheduled report',
          parameters: [
            path('contractId', 'the contract'),
            path('period', 'daily, weekly or monthly'),
            path('from', 'first day of the period, YYYY-MM-DD'),
            {
              name: 'format',
              in: 'query',
              required: false,
              schema: { type: 'string', enum: ['json', 'csv', 'html'], default: 'json' },
            },
          ],
          responses: {
            200: { description: 'the stored report', content: formats },
            ...problems(400, 401, 403, 404, 503),
          },
        },
      },
    },
    schemas: { Report: schema(reportSchema), StoredReport: schema(storedReportSchema) },
  };
}
