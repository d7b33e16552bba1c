import type { FastifyInstance, FastifyReply } from 'fastify';
import { problem, sendProblem } from '../api/problem.ts';
import { Forbidden } from '../domain/errors.ts';
import type { Runtime } from '../runtime.ts';
import { checkReadiness } from './health.ts';
import { exposition } from './scrape.ts';

/** Roles that may scrape `/metrics`. */
export const METRICS_ROLES: readonly string[] = ['ops', 'auditor'];

/**
 * `GET /metrics`: the Prometheus text exposition. It needs an `ops` or `auditor` API key as a bearer
 * token (Prometheus: `authorization: { credentials_file: … }`): the API port is reachable by every
 * backend, and the figures — volumes per state, breaches per deadline, hand-offs per department — are
 * the company's business information (4.2), though they carry no personal data.
 */
export function registerMetricsRoute(app: FastifyInstance, runtime: Runtime): void {
  app.get('/metrics', async (request, reply) => {
    const role = request.principal?.role;
    if (!role || !METRICS_ROLES.includes(role)) {
      throw new Forbidden(`metrics are for the ${METRICS_ROLES.join(' and ')} roles, not ${role ?? 'anonymous'}`);
    }
    const text = await exposition(runtime);
    return reply.header('cache-control', 'no-store').type(runtime.metrics.contentType).send(text);
  });
}

/** `GET /readyz`: 200 when ready, else a 503 problem naming each check that failed and why. */
export async function sendReadiness(runtime: Runtime, reply: FastifyReply): Promise<FastifyReply> {
  const readiness = await checkReadiness(runtime);
  if (readiness.ready) return reply.send({ status: 'ready' });
  const failed = readiness.checks.filter((c) => !c.ok);
  return sendProblem(
    reply,
    problem(503, 'UNAVAILABLE', 'Not ready', `not ready: ${failed.map((c) => `${c.name} (${c.detail})`).join(', ')}`, {
      errors: failed.map((c) => ({ path: c.name, message: c.detail })),
    }),
  );
}
