import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KeyRing, Principal } from '../api/keys.ts';
import { disclosuresOf } from '../api/privacy.ts';
import { problem, problemOf, sendProblem } from '../api/problem.ts';
import { RateLimiter } from '../api/rate-limit.ts';
import { createIntakeQueue, INTAKE_QUEUE } from '../intake/intake-queue.ts';
import { parseReportQuery } from '../reports/query.ts';
import { formatReport, Reports } from '../reports/reports.ts';
import { createReportsQueue } from '../reports/worker.ts';
import type { Runtime } from '../runtime.ts';
import { queueBoard } from './board.ts';
import { casePage } from './case-page.ts';
import { errorPage, newNonce, pageCsp, SECURITY_HEADERS } from './html.ts';
import { dashboardPage, loginPage } from './pages.ts';
import { OpsReader } from './read.ts';
import {
  clearedCookie,
  cookieValue,
  OPS_ROLES,
  SESSION_COOKIE,
  Sessions,
  sameOrigin,
  sessionCookie,
} from './session.ts';

// /ops: the dashboard, the case pages and the queue board (issue 5), for roles ops, supervisor and
// auditor. A browser logs in with an API key once and then holds a session cookie; scripts may send
// `Authorization: Bearer <key>` instead. Registered by src/api/app.ts with the prefix /ops.

declare module 'fastify' {
  interface FastifyRequest {
    opsUser?: Principal;
  }
}

export interface OpsWebOptions {
  readonly runtime: Runtime;
  readonly keys: KeyRing;
  /** Session lifetime (default 8 h). */
  readonly sessionTtlSec?: number;
  /** How often the dashboard refreshes its data (default 5 s). */
  readonly pollMs?: number;
}

/** The paths this plugin answers: the API's bearer-key hook leaves them to it. */
export const isOpsPath = (path: string) => path === '/ops' || path.startsWith('/ops/');

const PUBLIC = new Set(['/ops/login', '/ops/logout']);
const SAFE_METHODS = new Set(['GET', 'HEAD']);
/** Bull Board routes that create jobs or rewrite their data or schedule. */
const FORGING = /\/(add|update-data|delay|priority)$|\/job-schedulers\//;

const wantsJson = (path: string) => path.startsWith('/ops/api/') || path.startsWith('/ops/queues/api/');
const CASE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** Where to go after logging in: only a path of these pages (never another site). */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/ops(?:[/?]|$)/.test(next) && !/[\\\s]|\/\//.test(next) ? next : '/ops';
}

export async function opsWeb(app: FastifyInstance, opts: OpsWebOptions): Promise<void> {
  const { runtime, keys } = opts;
  const sessions = new Sessions(runtime.redis, runtime.config.INTERVENE_PREFIX, opts.sessionTtlSec);
  const intake = createIntakeQueue(runtime.queueConnection, runtime.config.INTERVENE_QUEUE_PREFIX);
  intake.on('error', (err) => runtime.log.warn({ err: err.message, queue: INTAKE_QUEUE }, 'queue connection error'));
  const queues = new Map<string, Queue>([
    [runtime.deadlineQueue.name, runtime.deadlineQueue as Queue],
    [runtime.notifyQueue.name, runtime.notifyQueue as Queue],
    [INTAKE_QUEUE, intake as Queue],
  ]);
  const reader = new OpsReader({ engine: runtime.engine, queues });
  const limiter = new RateLimiter(runtime.redis, runtime.access.prefix, {
    people: runtime.config.INTERVENE_RATE_LIMIT,
    service: runtime.config.INTERVENE_RATE_LIMIT_SERVICE,
  });
  // The board also shows the outage and report queues (not on the dashboard's panel).
  const reportsQueue = createReportsQueue(runtime.queueConnection, runtime.config.INTERVENE_QUEUE_PREFIX);
  reportsQueue.on('error', (err) => runtime.log.warn({ err: err.message, queue: 'reports' }, 'queue connection error'));
  app.addHook('onClose', async () => {
    await Promise.all([intake.close(), reportsQueue.close()]);
  });

  // Only the login form posts a form body; 4 KiB is plenty for a key.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 4096 },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  const html = (reply: FastifyReply, status: number, render: (nonce: string) => string) => {
    const nonce = newNonce();
    return reply
      .code(status)
      .header('content-security-policy', pageCsp(nonce))
      .type('text/html; charset=utf-8')
      .send(render(nonce));
  };
  const refuse = (request: FastifyRequest, reply: FastifyReply, status: number, title: string, message: string) => {
    const path = request.url.split('?')[0] as string;
    if (wantsJson(path)) {
      const code = status === 401 ? 'UNAUTHENTICATED' : status === 429 ? 'RATE_LIMITED' : 'FORBIDDEN';
      return sendProblem(reply, problem(status, code, title, message));
    }
    const user = request.opsUser;
    return html(reply, status, (nonce) =>
      errorPage({
        nonce,
        status,
        title,
        message,
        ...(user ? { user } : {}),
        action: '<p><a href="/ops/login">Log in with another key</a></p>',
      }),
    );
  };
  /** 4.1: a valid key whose role is not one of the ops roles. */
  const refuseRole = (request: FastifyRequest, reply: FastifyReply, role: string) =>
    refuse(
      request,
      reply,
      403,
      'Forbidden',
      `role ${role} may not use the ops pages: they are for roles ${OPS_ROLES.join(', ')}`,
    );

  /** The API's per-key budget (docs/privacy.md); a login attempt spends its client address's. */
  const overLimit = async (request: FastifyRequest, reply: FastifyReply, name: string, role: string) => {
    const taken = await limiter.take(name, role);
    if (taken.ok) return undefined;
    reply.header('retry-after', String(Math.max(1, Math.ceil(taken.retryAfterMs / 1000))));
    return refuse(request, reply, 429, 'Too many requests', `at most ${taken.limit} requests per second`);
  };

  app.addHook('onRequest', async (request, reply) => {
    reply.headers(SECURITY_HEADERS);
    reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    const path = request.url.split('?')[0] as string;
    if (path === '/ops/login' && request.method === 'POST') {
      return overLimit(request, reply, `login:${request.ip}`, 'agent');
    }
    if (PUBLIC.has(path)) return;
    const header = request.headers.authorization;
    let principal: Principal | undefined;
    let byCookie = false;
    if (header !== undefined) {
      principal = header.startsWith('Bearer ') ? keys.authenticate(header.slice(7).trim()) : undefined;
      if (!principal) return refuse(request, reply, 401, 'Unauthenticated', 'the Authorization key is not valid');
    } else {
      principal = await sessions.get(cookieValue(request, SESSION_COOKIE));
      byCookie = true;
    }
    if (!principal) {
      if (!wantsJson(path) && SAFE_METHODS.has(request.method)) {
        return reply.redirect(`/ops/login?next=${encodeURIComponent(safeNext(request.url))}`, 303);
      }
      return refuse(request, reply, 401, 'Unauthenticated', 'log in at /ops/login or send Authorization: Bearer <key>');
    }
    if (!OPS_ROLES.includes(principal.role)) {
      return refuseRole(request, reply, principal.role);
    }
    request.opsUser = principal;
    const limited = await overLimit(request, reply, principal.name, principal.role);
    if (limited) return limited;
    if (SAFE_METHODS.has(request.method)) return;
    // A job added or rewritten on the board would act in someone else's name (an intake job names its
    // actor; a deadline or delivery job fires into the engine): no role may do it (4.1, 6.1).
    if (path.startsWith('/ops/queues') && FORGING.test(path)) {
      return refuse(request, reply, 403, 'Forbidden', 'the queue board may not add jobs or change their data');
    }
    if (byCookie && !sameOrigin(request)) {
      return refuse(request, reply, 403, 'Forbidden', 'cross-site request refused: it must come from these pages');
    }
    // Retrying, cleaning or pausing queues changes the service: ops only; supervisors and auditors look.
    if (path.startsWith('/ops/queues') && principal.role !== 'ops') {
      return refuse(request, reply, 403, 'Forbidden', `role ${principal.role} may view the queues but not change them`);
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const p = problemOf(error);
    if (p.status >= 500) request.log.error({ err: error, url: request.url }, 'ops request failed');
    if (wantsJson(request.url.split('?')[0] as string)) return sendProblem(reply, p);
    const user = request.opsUser;
    return html(reply, p.status, (nonce) =>
      errorPage({ nonce, status: p.status, title: p.title, message: p.detail, ...(user ? { user } : {}) }),
    );
  });

  app.get<{ Querystring: { next?: string } }>('/login', async (request, reply) => {
    const next = safeNext(request.query.next);
    if (await sessions.get(cookieValue(request, SESSION_COOKIE))) return reply.redirect(next, 303);
    return html(reply, 200, (nonce) => loginPage({ nonce, next }));
  });

  app.post('/login', async (request, reply) => {
    if (!sameOrigin(request)) {
      return refuse(request, reply, 403, 'Forbidden', 'cross-site login refused: log in from this site');
    }
    const body = (request.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body.next);
    const key = typeof body.key === 'string' ? body.key.trim() : '';
    const again = (status: number, error: string) => html(reply, status, (nonce) => loginPage({ nonce, next, error }));
    if (key.length === 0 || key.length > 512) return again(400, 'key: required, an API key of at most 512 characters');
    const principal = keys.authenticate(key);
    if (!principal) return again(401, 'That API key is not valid.');
    if (!OPS_ROLES.includes(principal.role)) {
      return refuseRole(request, reply, principal.role);
    }
    const { token } = await sessions.create(principal);
    request.log.info({ user: principal.name, role: principal.role }, 'ops login');
    return reply.header('set-cookie', sessionCookie(request, token, sessions.ttlSec)).redirect(next, 303);
  });

  app.post('/logout', async (request, reply) => {
    if (!sameOrigin(request)) {
      return refuse(request, reply, 403, 'Forbidden', 'cross-site logout refused: log out from these pages');
    }
    await sessions.destroy(cookieValue(request, SESSION_COOKIE));
    return reply.header('set-cookie', clearedCookie(request)).redirect('/ops/login', 303);
  });

  app.get('/api/session', async (request) => {
    const user = request.opsUser as Principal;
    return { name: user.name, role: user.role };
  });

  app.get('/api/summary', async () => reader.summary());

  app.get('/', async (request, reply) => {
    const summary = await reader.summary();
    const user = request.opsUser as Principal;
    return html(reply, 200, (nonce) => dashboardPage({ nonce, user, summary, pollMs: opts.pollMs ?? 5_000 }));
  });

  app.get<{ Params: { id: string } }>('/cases/:id', async (request, reply) => {
    const user = request.opsUser as Principal;
    const { id } = request.params;
    if (!CASE_ID.test(id)) {
      return html(reply, 400, (nonce) =>
        errorPage({
          nonce,
          user,
          status: 400,
          title: 'Invalid case id',
          message: 'id: 1 to 64 letters, digits, ".", "_" or "-"',
        }),
      );
    }
    const detail = await reader.caseDetail(id);
    if (!detail) {
      return html(reply, 404, (nonce) =>
        errorPage({ nonce, user, status: 404, title: 'Not found', message: `case ${id} does not exist` }),
      );
    }
    return html(reply, 200, (nonce) =>
      casePage({ nonce, user, principal: user, detail, disclosures: disclosuresOf(request) }),
    );
  });

  // 3.3, 5.2: the service-data report (docs/reports.md) as its self-contained HTML page. Without a query:
  // the first contract, the last seven days (in UTC dates).
  const reports = new Reports({ store: runtime.store, policies: runtime.policies });
  app.get<{ Querystring: Record<string, string> }>('/reports', async (request, reply) => {
    const user = request.opsUser as Principal;
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const first = runtime.policies.all()[0]?.contract.id ?? '';
    const query = { contractId: first, from: day(Date.now() - 6 * 86_400_000), to: day(Date.now()), ...request.query };
    let q: ReturnType<typeof parseReportQuery>;
    try {
      q = parseReportQuery({ ...query, format: 'html' }, runtime.policies);
    } catch (error) {
      const p = problemOf(error);
      const detail = (p.errors ?? []).map((e) => `${e.path}: ${e.message}`).join('; ') || p.detail;
      return html(reply, 400, (nonce) =>
        errorPage({ nonce, user, status: 400, title: 'Invalid report request', message: detail }),
      );
    }
    const report = await reports.render(q.contractId, q);
    reply.header('content-security-policy', REPORT_CSP).type('text/html; charset=utf-8');
    return reply.send(formatReport(report, 'html'));
  });

  // The intake queue is not on the board: a waiting intake job holds the backend's request, personal data
  // included, which the board would show unmasked (its counts are on the dashboard).
  const board = [
    ...[...queues].filter(([name]) => name !== INTAKE_QUEUE).map(([, q]) => q),
    runtime.outageQueue as Queue,
    reportsQueue as Queue,
  ];
  await app.register(queueBoard, { prefix: '/queues', basePath: '/ops/queues', queues: board });
}

/** The report page's own policy: inline styles and SVG, nothing fetched. */
const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";
