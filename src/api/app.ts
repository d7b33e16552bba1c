import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import { Forbidden, NotFound, ValidationError } from '../domain/errors.ts';
import { parseEvent, parseOpenCase } from '../domain/events.ts';
import { handoffDeliveryId } from '../engine/effects.ts';
import { caseView } from '../engine/view.ts';
import { registerMetricsRoute, sendReadiness } from '../metrics/http.ts';
import { isOpsPath, opsWeb } from '../ops/web.ts';
import type { Policy } from '../policy/policy.ts';
import type { Disclosures } from '../privacy/projection.ts';
import type { Runtime } from '../runtime.ts';
import type { StoredCase } from '../store/case-store.ts';
import { registerClockRoutes } from './clock-routes.ts';
import { HttpIdempotency } from './idempotency.ts';
import type { KeyRing, Principal } from './keys.ts';
import { listCases, parseListQuery } from './list.ts';
import { historyFor, viewFor } from './mask.ts';
import { openApiDocument, referencePage } from './openapi.ts';
import { disclosuresOf, installPrivacy, pathForProblems } from './privacy.ts';
import { isRedisDown, problem, problemOf, sendProblem } from './problem.ts';
import { RateLimiter } from './rate-limit.ts';
import { registerReportRoutes } from './reports.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export interface AppOptions {
  readonly runtime: Runtime;
  readonly keys: KeyRing;
  readonly log?: Logger;
  readonly bodyLimit?: number;
}

const PUBLIC = new Set(['/healthz', '/readyz', '/v1/openapi.json', '/v1/docs']);

/** The HTTP API: thin routes over the engine (the one write path) and the store's read side. */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const { runtime, keys } = opts;
  const { engine } = runtime;
  // 4.2: kept answers are sealed under their case's data key.
  const idempotency = new HttpIdempotency(
    runtime.redis,
    runtime.config.INTERVENE_PREFIX,
    undefined,
    runtime.store.codec,
  );
  const app = Fastify({
    loggerInstance: (opts.log ?? runtime.log) as FastifyBaseLogger,
    // No per-request log lines: the engine logs what matters (Fastify 5's LogController replaces the old flag).
    logController: new LogController({ disableRequestLogging: true }),
    // Errors Fastify raises before routing (e.g. a malformed URL) are problems too.
    frameworkErrors: (error, _request, reply) => sendProblem(reply as unknown as FastifyReply, problemOf(error)),
    bodyLimit: opts.bodyLimit ?? 64 * 1024,
    // Path parameters up to 256 characters: a customer id may have 128 (DELETE /v1/customers/{id}/personal-data).
    routerOptions: { maxParamLength: 256 },
    return503OnClosing: true,
  });

  // JSON only: any other media type is 415, never parsed.
  app.removeContentTypeParser(['text/plain']);

  app.setErrorHandler((error, request, reply) => {
    const p = problemOf(error);
    if (p.status >= 500 && !isRedisDown(error)) request.log.error({ err: error, url: request.url }, 'request failed');
    return sendProblem(reply, p);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      problem(404, 'NOT_FOUND', 'Not found', `no route ${request.method} ${pathForProblems(request.url)}`),
    ),
  );

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0] as string;
    // /ops has its own login (session cookie or bearer key) and roles: src/ops/web.ts.
    if (PUBLIC.has(path) || isOpsPath(path)) return;
    const header = request.headers.authorization;
    const key = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const principal = key ? keys.authenticate(key) : undefined;
    if (!principal) {
      reply.header('www-authenticate', 'Bearer');
      return sendProblem(
        reply,
        problem(401, 'UNAUTHENTICATED', 'Unauthenticated', 'send Authorization: Bearer <API key>'),
      );
    }
    request.principal = principal;
  });

  // 6.1 access log, rate limits per key, erasure and access-log routes (src/api/privacy.ts).
  installPrivacy(app, {
    access: runtime.access,
    erasure: runtime.erasure,
    limiter: new RateLimiter(runtime.redis, runtime.access.prefix, {
      people: runtime.config.INTERVENE_RATE_LIMIT,
      service: runtime.config.INTERVENE_RATE_LIMIT_SERVICE,
    }),
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => sendReadiness(runtime, reply));
  registerMetricsRoute(app, runtime);
  app.get('/v1/openapi.json', async () => openApiDocument());
  app.get('/v1/docs', async (_request, reply) => reply.type('text/html; charset=utf-8').send(referencePage()));

  const principalOf = (request: FastifyRequest) => request.principal as Principal;

  const view = async (
    caseId: string,
    principal: Principal,
    sink: Disclosures,
    known?: { stored: StoredCase; policy: Policy },
  ) => {
    const found = known ?? (await engine.get(caseId));
    if (!found) throw new NotFound(`case ${caseId} does not exist`);
    assertMayRead(principal, found.stored);
    const v = caseView(found.stored, found.policy);
    const escalation = found.stored.context.escalation;
    // 3.2.3: whether the routed department's receiver has the package (its 2xx), beside its acceptance.
    const delivery = escalation
      ? ((await runtime.redis.hget(
          runtime.store.keys.forCase(caseId).delivery(handoffDeliveryId(caseId, escalation.seq)),
          'status',
        )) ?? 'pending')
      : undefined;
    // The hand-off moves pending → delivered (the receiver's 2xx) → accepted (HANDOFF_ACCEPT) → resolved.
    const handoff = (h: string) => (h === 'pending' && delivery === 'delivered' ? 'delivered' : h);
    return viewFor(
      { ...v, escalation: v.escalation && { ...v.escalation, handoff: handoff(v.escalation.handoff), delivery } },
      principal,
      found.policy,
      sink,
    );
  };

  /** Runs a write under the HTTP idempotency layer: replays answer the first status and body. */
  const idempotent = async (
    request: FastifyRequest,
    reply: FastifyReply,
    work: (key: string | undefined) => Promise<{ status: number; body: unknown }>,
  ) => {
    const principal = principalOf(request);
    const key = headerValue(request, 'idempotency-key');
    if (key !== undefined && !/^[\x21-\x7e]{1,255}$/.test(key)) {
      throw new ValidationError('invalid Idempotency-Key', [
        { path: 'header.idempotency-key', message: '1 to 255 visible ASCII characters' },
      ]);
    }
    if (key === undefined) {
      const result = await work(undefined);
      return reply.code(result.status).send(result.body);
    }
    const fingerprint = HttpIdempotency.fingerprint(request.method, request.url, request.body);
    const claim = await idempotency.claim(principal.name, key, fingerprint);
    if (claim.kind === 'replay') {
      // 6.1: a replayed answer shows its personal data again, so it is recorded like the first: the stored
      // view, projected for this caller, gives the same fields (an already masked field counts as masked).
      const replayed = claim.body as { id?: unknown; customer?: unknown } | undefined;
      if (claim.status < 400 && typeof replayed?.id === 'string' && replayed.customer) {
        const found = await engine.get(replayed.id);
        if (found) viewFor(replayed as never, principal, found.policy, disclosuresOf(request));
      }
      reply.code(claim.status).header('idempotent-replayed', 'true');
      if (claim.status >= 400) reply.type('application/problem+json');
      return reply.send(claim.body);
    }
    if (claim.kind === 'mismatch') {
      return sendProblem(
        reply,
        problem(422, 'IDEMPOTENCY_CONFLICT', 'Conflict', 'this Idempotency-Key was used with a different request'),
      );
    }
    if (claim.kind === 'in-flight') {
      return sendProblem(
        reply,
        problem(409, 'IDEMPOTENCY_IN_FLIGHT', 'Conflict', 'a request with this Idempotency-Key is in progress'),
      );
    }
    try {
      const result = await work(key);
      await idempotency.complete(principal.name, key, fingerprint, result.status, result.body);
      return reply.code(result.status).send(result.body);
    } catch (error) {
      const p = problemOf(error);
      // A decided refusal is part of the key's history; a transient failure frees the key for a retry.
      if (p.status >= 500) await idempotency.release(principal.name, key).catch(() => undefined);
      else await idempotency.complete(principal.name, key, fingerprint, p.status, p);
      throw error;
    }
  };

  app.post('/v1/cases', async (request, reply) =>
    idempotent(request, reply, async (key) => {
      const principal = principalOf(request);
      const input = parseOpenCase(request.body);
      const result = await engine.open(input, principal, key === undefined ? {} : { idempotencyKey: key });
      return { status: 201, body: await view(result.caseId, principal, disclosuresOf(request), result.committed) };
    }),
  );

  app.post<{ Params: { id: string } }>('/v1/cases/:id/events', async (request, reply) =>
    idempotent(request, reply, async (key) => {
      const principal = principalOf(request);
      const event = parseEvent(request.body);
      const ifMatch = headerValue(request, 'if-match');
      // `If-Match: *` only requires that the case exists, which every event does anyway.
      const expectedVersion = ifMatch === undefined || ifMatch.trim() === '*' ? undefined : parseIfMatch(ifMatch);
      const result = await engine.apply(request.params.id, event, principal, {
        ...(key === undefined ? {} : { idempotencyKey: key }),
        ...(expectedVersion === undefined ? {} : { expectedVersion }),
      });
      return { status: 200, body: await view(request.params.id, principal, disclosuresOf(request), result.committed) };
    }),
  );

  app.get<{ Params: { id: string } }>('/v1/cases/:id', async (request, reply) => {
    const v = await view(request.params.id, principalOf(request), disclosuresOf(request));
    return reply.header('etag', `"${v.version}"`).send(v);
  });

  app.get<{ Params: { id: string } }>('/v1/cases/:id/history', async (request) => {
    const principal = principalOf(request);
    const found = await engine.get(request.params.id);
    if (!found) throw new NotFound(`case ${request.params.id} does not exist`);
    assertMayRead(principal, found.stored);
    const items = await runtime.store.history(request.params.id);
    return { items: historyFor(request.params.id, items, principal, found.policy, disclosuresOf(request)) };
  });

  registerClockRoutes(app, {
    runtime,
    principalOf,
    canRead: (id, principal, request) => view(id, principal, disclosuresOf(request)),
  });
  registerReportRoutes(app, { runtime, principalOf });

  app.get('/v1/cases', async (request) => {
    const query = parseListQuery(request.query as Record<string, unknown>);
    const principal = principalOf(request);
    const scoped = principal.role === 'department' ? { ...query, department: principal.department as string } : query;
    if (principal.role === 'department' && query.department && query.department !== principal.department) {
      throw new Forbidden(`department ${principal.department} may list only its own cases`, '4.1');
    }
    return listCases(runtime, scoped, async (stored: StoredCase) => {
      const found = await engine.get(stored.context.caseId);
      if (!found) return undefined;
      return viewFor(caseView(found.stored, found.policy), principal, found.policy, disclosuresOf(request));
    });
  });

  app.get('/v1/contracts', async () => ({ items: contracts(runtime).map(summary) }));
  app.get<{ Params: { id: string } }>('/v1/contracts/:id', async (request) => {
    const versions = contracts(runtime).filter((p) => p.contract.id === request.params.id);
    if (versions.length === 0) throw new NotFound(`no policy is loaded for contract ${request.params.id}`);
    const current = runtime.policies.current(request.params.id);
    return { ...summary(current), versions: versions.map((p) => summary(p)) };
  });

  await app.register(opsWeb, { prefix: '/ops', runtime, keys });

  return app;
}

function contracts(runtime: Runtime) {
  return runtime.policies
    .all()
    .sort((a, b) => a.contract.id.localeCompare(b.contract.id) || a.contract.version - b.contract.version);
}

function summary(p: ReturnType<Runtime['policies']['all']>[number]) {
  return {
    id: p.contract.id,
    name: p.contract.name,
    version: p.contract.version,
    timezone: p.timezone,
    channels: p.channels,
    categories: p.authority.categories,
    amountLimit: p.authority.amountLimit,
    deadlines: Object.entries(p.deadlines).map(([name, d]) => ({
      name,
      within: d.within,
      clause: d.clause,
      clock: d.clock,
      ...(d.calendar ? { calendar: d.calendar } : {}),
    })),
    calendars: Object.values(p.calendars).map((c) => ({ id: c.id, version: c.version, timezone: c.timezone })),
    warnings: p.document.warnings.at,
    pauses: p.pauses,
    dueDateOverride: p.dueDateOverride.roles,
    routes: p.escalation.routes,
    ladder: p.escalation.ladder,
    departments: Object.entries(p.departments).map(([id, d]) => ({ id, name: d.name })),
  };
}

/** Departments read only what is routed to them (4.1). */
function assertMayRead(principal: Principal, stored: StoredCase): void {
  if (principal.role !== 'department') return;
  const c = stored.context;
  if (c.escalation?.department === principal.department || c.coordination?.department === principal.department) return;
  throw new Forbidden(`the case is not routed to department ${principal.department}`, '4.1');
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseIfMatch(value: string): number {
  const match = /^(?:W\/)?"?(\d+)"?$/.exec(value.trim());
  if (!match) {
    throw new ValidationError('invalid If-Match', [{ path: 'header.if-match', message: 'the case version, e.g. "3"' }]);
  }
  return Number(match[1]);
}
