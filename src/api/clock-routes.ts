import type { FastifyInstance, FastifyRequest } from 'fastify';
import { enqueueOutageWork } from '../deadlines/outage-jobs.ts';
import { type Outage, parseDeclareOutage, parseEndOutage } from '../deadlines/outages.ts';
import { isoInZone } from '../domain/calendar.ts';
import { Forbidden, NotFound } from '../domain/errors.ts';
import { explainDeadlines } from '../engine/why.ts';
import type { Runtime } from '../runtime.ts';
import type { Principal } from './keys.ts';

// Issue "clocks": `why` for each deadline of a case, and the outage windows of 6.2.

const OUTAGE_ROLES = new Set(['ops', 'supervisor']);
const OUTAGE_READERS = new Set(['ops', 'supervisor', 'auditor', 'agent', 'service']);

export function outageView(o: Outage, timezone = 'UTC') {
  return {
    id: o.id,
    start: isoInZone(o.start, timezone),
    ...(o.end === undefined ? {} : { end: isoInZone(o.end, timezone) }),
    open: o.end === undefined,
    reason: o.reason,
    clause: '6.2',
    note: o.note,
    scope: o.scope,
    declaredBy: o.declaredBy,
    declaredAt: isoInZone(o.declaredAt, timezone),
    ...(o.endedBy ? { endedBy: o.endedBy } : {}),
  };
}

export function registerClockRoutes(
  app: FastifyInstance,
  opts: {
    readonly runtime: Runtime;
    readonly principalOf: (request: FastifyRequest) => Principal;
    /** Throws when the principal may not read the case (404/403), as every case read does. */
    readonly canRead: (caseId: string, principal: Principal, request: FastifyRequest) => Promise<unknown>;
  },
): void {
  const { runtime, principalOf } = opts;

  app.get<{ Params: { id: string } }>('/v1/cases/:id/deadlines', async (request) => {
    const principal = principalOf(request);
    await opts.canRead(request.params.id, principal, request);
    const found = await runtime.engine.get(request.params.id);
    if (!found) throw new NotFound(`case ${request.params.id} does not exist`);
    const history = await runtime.store.history(request.params.id);
    return { caseId: request.params.id, items: explainDeadlines(found.policy, found.stored, history) };
  });

  const mayDeclare = (principal: Principal) => {
    if (!OUTAGE_ROLES.has(principal.role)) {
      throw new Forbidden(`role ${principal.role} may not declare or end outages`, '6.2');
    }
  };

  app.post('/v1/outages', async (request, reply) => {
    const principal = principalOf(request);
    mayDeclare(principal);
    const input = parseDeclareOutage(request.body);
    const outage = await runtime.outages.declare(input, principal);
    // A window that began in the past may explain breaches already recorded; one that has ended resumes nothing.
    if (outage.start < Date.now()) await enqueueOutageWork(runtime.outageQueue, outage, 'excuse');
    return reply.code(201).send(outageView(outage));
  });

  app.post<{ Params: { id: string } }>('/v1/outages/:id/end', async (request) => {
    const principal = principalOf(request);
    mayDeclare(principal);
    const { end } = parseEndOutage(request.body ?? {});
    const outage = await runtime.outages.end(
      request.params.id,
      principal,
      end === undefined ? undefined : Date.parse(end),
    );
    await enqueueOutageWork(runtime.outageQueue, outage, 'end');
    await enqueueOutageWork(runtime.outageQueue, outage, 'excuse');
    return outageView(outage);
  });

  app.get('/v1/outages', async (request) => {
    const principal = principalOf(request);
    if (!OUTAGE_READERS.has(principal.role)) throw new Forbidden(`role ${principal.role} may not list outages`, '6.1');
    return { items: (await runtime.outages.list()).map((o) => outageView(o)) };
  });
}
