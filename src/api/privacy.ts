import '../domain/zod-messages.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { Forbidden, fieldErrors, ValidationError } from '../domain/errors.ts';
import type { AccessEntry, AccessLog } from '../privacy/access-log.ts';
import type { Erasure } from '../privacy/erasure.ts';
import type { Disclosures } from '../privacy/projection.ts';
import type { Principal } from './keys.ts';
import type { QueryParameters } from './openapi.ts';
import { problem, sendProblem } from './problem.ts';
import type { RateLimiter } from './rate-limit.ts';

// 6.1 and 4.2 at the HTTP edge: every request's disclosures of personal data and every refused action
// go to the access log; rate limits per API key; the erasure and access-log routes.

export interface PrivacyOptions {
  readonly access: AccessLog;
  readonly erasure: Erasure;
  readonly limiter: RateLimiter;
  readonly clock?: () => number;
}

/** Who may erase a customer's personal data (a backend relaying the request, or a CS supervisor). */
export const ERASING_ROLES: readonly string[] = ['service', 'supervisor'];
/** Who may read the access log. */
export const ACCESS_LOG_ROLES: readonly string[] = ['auditor', 'supervisor'];

const customerId = z.string().trim().min(1, 'must not be empty').max(128, 'at most 128 characters');
const accessQuery = z
  .strictObject({
    caseId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'a case id')
      .optional(),
    actor: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'an API key name, e.g. agent-li')
      .optional(),
    customerId: customerId.optional(),
    limit: z.coerce.number().int('an integer').min(1, 'at least 1').max(500, 'at most 500').default(100),
    cursor: z
      .string()
      .regex(/^\d{1,20}-\d{1,20}$/, 'a nextCursor from a previous page')
      .optional(),
  })
  .refine((q) => [q.caseId, q.actor, q.customerId].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of caseId, actor or customerId',
    path: ['caseId'],
  });

const requestDisclosures = new WeakMap<FastifyRequest, Disclosures>();

/** What the projections made while answering a request showed: routes pass it to viewFor/historyFor. */
export function disclosuresOf(request: FastifyRequest): Disclosures {
  let seen = requestDisclosures.get(request);
  if (!seen) {
    seen = new Map();
    requestDisclosures.set(request, seen);
  }
  return seen;
}

/** Hooks and routes; call right after the authentication hook, so the rate limit knows the caller. */
export function installPrivacy(app: FastifyInstance, opts: PrivacyOptions): void {
  const { access, erasure, limiter } = opts;
  const clock = opts.clock ?? Date.now;
  app.addHook('onRequest', async (request, reply) => {
    const principal = request.principal;
    if (!principal) return;
    const taken = await limiter.take(principal.name, principal.role);
    if (taken.ok) return;
    reply.header('retry-after', String(Math.max(1, Math.ceil(taken.retryAfterMs / 1000))));
    return sendProblem(
      reply,
      problem(429, 'RATE_LIMITED', 'Too many requests', `at most ${taken.limit} requests per second for this API key`),
    );
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const principal = callerOf(request);
    if (!principal) return payload;
    const entries = accessEntries(request, reply, principal, requestDisclosures.get(request), payload, clock());
    if (entries.length === 0) return payload;
    try {
      await access.record(...entries);
    } catch (error) {
      // A read whose access cannot be recorded is not answered (6.1: fail closed). A write that already
      // committed is answered as it is — a 503 would invite a retry of something done — and the failure is
      // logged; the case's own audit trail has the action.
      if (request.method === 'GET' || reply.statusCode >= 400) throw error;
      request.log.error({ err: (error as Error).message, url: request.url.split('?')[0] }, 'access log append failed');
    }
    return payload;
  });

  app.delete<{ Params: { id: string } }>('/v1/customers/:id/personal-data', async (request) => {
    const principal = request.principal as Principal;
    if (!ERASING_ROLES.includes(principal.role)) {
      throw new Forbidden(
        `role ${principal.role} may not erase personal data (${ERASING_ROLES.join(', ')} may)`,
        '4.2',
      );
    }
    const id = customerId.safeParse(request.params.id);
    if (!id.success) throw new ValidationError('invalid customer id', fieldErrors(id.error.issues, 'params.id'));
    const { caseIds, intakeJobs } = await erasure.customer(id.data, actorOf(principal), 'api');
    return { erased: caseIds.length, cases: caseIds, intakeJobs };
  });

  app.get('/v1/access-log', async (request) => {
    const principal = request.principal as Principal;
    if (!ACCESS_LOG_ROLES.includes(principal.role)) {
      throw new Forbidden(
        `role ${principal.role} may not read the access log (${ACCESS_LOG_ROLES.join(', ')} may)`,
        '6.1',
      );
    }
    const parsed = accessQuery.safeParse(request.query ?? {});
    if (!parsed.success) throw new ValidationError('invalid query', fieldErrors(parsed.error.issues, 'query'));
    const q = parsed.data;
    const page = q.customerId
      ? await erasure
          .casesOf(q.customerId)
          .then(({ ref, caseIds }) => access.query({ customerRef: ref, caseIds }, q.limit, q.cursor))
      : await access.query(q.caseId ? { caseId: q.caseId } : { actor: q.actor as string }, q.limit, q.cursor);
    await access.record({
      at: new Date(clock()).toISOString(),
      actor: actorOf(principal),
      action: 'access-log',
      ...(q.caseId ? { caseId: q.caseId } : {}),
      withinAuthority: true,
      via: 'api',
    });
    return { items: page.items, nextCursor: page.next };
  });
}

/** A request path as a problem body may quote it: without the query, and without a customer id (4.2). */
export function pathForProblems(url: string): string {
  return (url.split('?')[0] ?? '').replace(/^\/v1\/customers\/.*$/, '/v1/customers/{id}/…');
}

function callerOf(request: FastifyRequest): Principal | undefined {
  return request.principal ?? (request as { opsUser?: Principal }).opsUser;
}

const actorOf = (p: Principal) => ({
  name: p.name,
  role: p.role,
  ...(p.department ? { department: p.department } : {}),
});

function actionOf(method: string, route: string): string {
  if (method === 'POST' && route === '/v1/cases') return 'open';
  if (method === 'POST' && route.endsWith('/events')) return 'event';
  if (route.endsWith('/history')) return 'history';
  if (method === 'GET' && route === '/v1/cases') return 'list';
  return method === 'GET' ? 'read' : method.toLowerCase();
}

/** The access-log entries of one answered request (none for reads that showed no personal data). */
function accessEntries(
  request: FastifyRequest,
  reply: FastifyReply,
  principal: Principal,
  seen: Disclosures | undefined,
  payload: unknown,
  now: number,
): AccessEntry[] {
  const path = request.routeOptions.url ?? request.url.split('?')[0] ?? '';
  const route = `${request.method} ${path}`;
  const base = {
    at: new Date(now).toISOString(),
    actor: actorOf(principal),
    action: actionOf(request.method, path),
    via: path.startsWith('/ops') ? 'dashboard' : 'api',
    route,
    status: reply.statusCode,
  };
  const body = request.body as { type?: unknown } | undefined;
  const event = base.action === 'event' && typeof body?.type === 'string' ? { event: body.type } : {};
  const param = (request.params as { id?: unknown } | undefined)?.id;
  const caseParam = path.includes('/cases/:id') && typeof param === 'string' ? { caseId: param } : {};
  const status = reply.statusCode;
  if (status === 403 || status === 422) {
    // A refusal the agreement or the role matrix decided: recorded as outside authority (6.1).
    const p = parseProblem(payload);
    if (status === 422 && !p?.clause) return [];
    return [
      {
        ...base,
        ...event,
        ...caseParam,
        withinAuthority: false,
        ...(p?.code ? { code: p.code } : {}),
        ...(p?.clause ? { clause: p.clause } : {}),
      },
    ];
  }
  if (status >= 300) return [];
  const entries: AccessEntry[] = [...(seen ?? new Map())].map(([caseId, shown]) => ({
    ...base,
    ...event,
    caseId,
    fields: [...shown.clear].sort(),
    ...(shown.masked.size > 0 ? { masked: [...shown.masked].sort() } : {}),
    withinAuthority: true,
  }));
  // Every accepted action is recorded, whether or not its answer showed personal data.
  if ((base.action === 'event' || base.action === 'open') && entries.length === 0) {
    entries.push({ ...base, ...event, ...caseParam, withinAuthority: true });
  }
  return entries;
}

function parseProblem(payload: unknown): { code?: string; clause?: string } | undefined {
  if (typeof payload !== 'string') return undefined;
  try {
    return JSON.parse(payload) as { code?: string; clause?: string };
  } catch {
    return undefined;
  }
}

/** The OpenAPI paths and schemas of the privacy routes (merged into src/api/openapi.ts). */
export function privacyOpenApi(
  problems: (...codes: number[]) => Record<string, unknown>,
  queryParameters: QueryParameters,
) {
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const entry = {
    type: 'object',
    description: 'one access-log entry (6.1): ids and field names, never personal data',
    properties: {
      id: { type: 'string', description: 'the entry id, `<ms>-<seq>`: the cursor of the next page' },
      at: { type: 'string', format: 'date-time' },
      actor: {
        type: 'object',
        properties: { name: { type: 'string' }, role: { type: 'string' }, department: { type: 'string' } },
        required: ['name', 'role'],
      },
      action: { type: 'string', description: 'read, list, history, open, event, erase, retention, access-log' },
      event: { type: 'string' },
      caseId: { type: 'string' },
      customer: { type: 'string', description: "the customer's keyed reference (never the id)" },
      fields: { type: 'array', items: { type: 'string' }, description: 'personal fields shown in clear' },
      masked: { type: 'array', items: { type: 'string' }, description: 'personal fields shown masked' },
      withinAuthority: { type: 'boolean' },
      code: { type: 'string' },
      clause: { type: 'string' },
      via: { type: 'string', enum: ['api', 'dashboard', 'cli', 'job'] },
      route: { type: 'string' },
      status: { type: 'integer' },
    },
    required: ['id', 'at', 'actor', 'action', 'withinAuthority', 'via'],
  };
  return {
    paths: {
      '/v1/customers/{id}/personal-data': {
        delete: {
          operationId: 'erasePersonalData',
          summary:
            "Erase a customer's personal data from every case and queued payload (4.2); service, supervisor. The anonymised audit trail and statistics remain",
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', maxLength: 128 } }],
          responses: {
            200: {
              description: 'the cases erased (none when nothing was left)',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: {
                      erased: { type: 'integer', description: 'how many cases were erased' },
                      cases: { type: 'array', items: { type: 'string' } },
                      intakeJobs: {
                        type: 'integer',
                        description: "the customer's intake jobs still waiting whose body was blanked",
                      },
                    },
                    required: ['erased', 'cases', 'intakeJobs'],
                  },
                },
              },
            },
            ...problems(400, 401, 403, 414, 429, 503),
          },
        },
      },
      '/v1/access-log': {
        get: {
          operationId: 'accessLog',
          summary: 'The access log (6.1) of a case, an actor or a customer, newest first; auditor, supervisor',
          parameters: queryParameters(accessQuery),
          responses: {
            200: {
              description: 'a page of entries',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: {
                      items: { type: 'array', items: ref('AccessEntry') },
                      nextCursor: { type: ['string', 'null'] },
                    },
                    required: ['items', 'nextCursor'],
                  },
                },
              },
            },
            ...problems(400, 401, 403, 429, 503),
          },
        },
      },
    },
    schemas: { AccessEntry: entry },
  };
}
