import { describe, expect, it } from 'vitest';
import { PUBLIC_EVENT_TYPES } from '../../src/domain/events.ts';
import type { Runtime } from '../../src/runtime.ts';
import {
  type ApiResponse,
  type ApiServer,
  CALLER_NAMES,
  CALLERS,
  type Caller,
  caseOf,
  type StateFixture,
  sendOverHttp,
  stateFixtures,
  useApi,
} from '../support/api.ts';
import { openCase } from '../support/policy.ts';
import { VERIFY } from '../support/runtime.ts';

// 6.1 / 4.1: the authorization matrix — every role × every route × every event, allowed and refused —
// stated here independently of the code that enforces it, and every refusal found in the access log
// as outside authority (with its clause), every allowed action as within it. A route or an event added
// without a row here fails the completeness checks below.

let rt: Runtime;
let api: ApiServer;
useApi((server) => {
  ({ rt, api } = server);
});

const CS: readonly Caller[] = ['service', 'agent', 'supervisor'];
const ALL: readonly Caller[] = CALLER_NAMES;
const customer = { id: 'authz-1', name: '王五', phone: '13812345678', email: 'wangwu@example.com' };
const base = () => openCase({ customer });

type Fixture = StateFixture;
const { received, verified, coordinatingFinance, escalatedLegal, awaitingCustomer, resolved } = stateFixtures(
  () => api,
  base,
);
const pausedByForceMajeure: Fixture = async () => {
  const id = await received();
  await sendOverHttp(api, id, { type: 'PAUSE', reason: 'force_majeure', note: 'typhoon' }, { as: 'supervisor' });
  return id;
};

/** Every public event: a state that accepts it, and the roles (and departments) that may send it there. */
const EVENTS: Record<string, { event: Record<string, unknown>; fixture: Fixture; allowed: readonly Caller[] }> = {
  RESPOND: { event: { type: 'RESPOND', message: 'hello' }, fixture: received, allowed: CS },
  VERIFY: { event: VERIFY, fixture: received, allowed: CS },
  RESOLVE: { event: { type: 'RESOLVE', resolution: 'answered' }, fixture: verified, allowed: CS },
  COORDINATE: {
    event: { type: 'COORDINATE', department: 'finance', request: 'check' },
    fixture: verified,
    allowed: CS,
  },
  DEPARTMENT_REPLY: {
    event: { type: 'DEPARTMENT_REPLY', department: 'finance', reply: 'checked' },
    fixture: coordinatingFinance,
    allowed: ['service', 'finance'],
  },
  ESCALATE: {
    event: { type: 'ESCALATE', reason: 'dispute', preliminaryJudgment: 'legal matter', recommendation: 'legal' },
    fixture: verified,
    allowed: CS,
  },
  FLAG: {
    event: { type: 'FLAG', flag: 'legal_dispute', note: 'mentions a lawsuit' },
    fixture: coordinatingFinance,
    allowed: [...CS, 'finance'],
  },
  HANDOFF_ACCEPT: {
    event: { type: 'HANDOFF_ACCEPT', department: 'legal' },
    fixture: escalatedLegal,
    allowed: ['service', 'legal'],
  },
  ESCALATION_RESOLVE: {
    event: { type: 'ESCALATION_RESOLVE', outcome: 'settled' },
    fixture: escalatedLegal,
    allowed: ['service', 'legal'],
  },
  REQUEST_INFO: { event: { type: 'REQUEST_INFO', request: 'invoice number?' }, fixture: received, allowed: CS },
  CUSTOMER_REPLY: { event: { type: 'CUSTOMER_REPLY', message: 'INV-1' }, fixture: awaitingCustomer, allowed: CS },
  CLOSE: { event: { type: 'CLOSE' }, fixture: resolved, allowed: CS },
  REOPEN: { event: { type: 'REOPEN', reason: 'not fixed' }, fixture: resolved, allowed: CS },
  SURVEY_RESULT: { event: { type: 'SURVEY_RESULT', score: 4 }, fixture: resolved, allowed: CS },
  // 6.2 with the example policy: force majeure may be declared by supervisors and ops.
  PAUSE: {
    event: { type: 'PAUSE', reason: 'force_majeure', note: 'typhoon' },
    fixture: received,
    allowed: ['supervisor', 'ops'],
  },
  RESUME: { event: { type: 'RESUME', note: 'over' }, fixture: pausedByForceMajeure, allowed: ['supervisor', 'ops'] },
  // The example policy lets supervisors move a due date by hand.
  MOVE_DUE: {
    event: {
      type: 'MOVE_DUE',
      deadline: 'initialNotice',
      dueAt: new Date(Date.now() + 86_400_000).toISOString(),
      reason: 'agreed with the customer',
      clause: '3.1.3',
    },
    fixture: received,
    allowed: ['supervisor'],
  },
};

/** Access-log entries of a caller, newest first. */
async function accessOf(caller: Caller) {
  return (await rt.access.query({ actor: CALLERS[caller].name }, 50)).items;
}

describe('every role × every event', () => {
  it('covers every public event type', () => {
    expect(Object.keys(EVENTS).sort()).toEqual([...PUBLIC_EVENT_TYPES].sort());
  });

  const rows = Object.entries(EVENTS).flatMap(([type, { event, fixture, allowed }]) =>
    ALL.map((caller) => ({ caller, type, event, fixture, allowed: allowed.includes(caller) })),
  );

  it.each(rows)('$caller sends $type → allowed: $allowed', async ({ caller, type, event, fixture, allowed }) => {
    const id = await fixture();
    const before = await caseOf(api, id);
    const res = await api.request('POST', `/v1/cases/${id}/events`, { as: caller, json: event });
    const [entry] = await accessOf(caller);
    if (allowed) {
      expect(res.status, res.text).toBe(200);
      expect(entry).toMatchObject({ action: 'event', event: type, caseId: id, withinAuthority: true });
    } else {
      // The role matrix (403) or the policy's narrower list (a 422 refusal) says no; either way nothing is written.
      expect([403, 422], res.text).toContain(res.status);
      expect((await caseOf(api, id)).version).toBe(before.version);
      expect(entry).toMatchObject({
        action: 'event',
        event: type,
        caseId: id,
        withinAuthority: false,
        code: res.body.code,
        clause: res.body.clause,
      });
      expect(entry?.clause).toMatch(/^\d+(\.\d+)*$/);
    }
    expect(entry?.actor).toEqual({
      name: CALLERS[caller].name,
      role: CALLERS[caller].role,
      ...('department' in CALLERS[caller]
        ? { department: (CALLERS[caller] as { department: string }).department }
        : {}),
    });
  });
});

/** What each role may do on each route (`*`: every role). Statuses other than 401/403 mean allowed. */
interface RouteRow {
  readonly method: string;
  readonly path: string;
  readonly allowed: readonly Caller[];
  /** The request to make, given a case routed to legal. */
  readonly request: (ctx: { legalCase: string }) => { path: string; json?: unknown };
  /** For allowed callers: the status expected. */
  readonly ok?: number;
}

const READERS_OF_LEGAL_CASE: readonly Caller[] = ['service', 'agent', 'supervisor', 'ops', 'auditor', 'legal'];

const ROUTES: readonly RouteRow[] = [
  { method: 'POST', path: '/v1/cases', allowed: CS, request: () => ({ path: '/v1/cases', json: base() }), ok: 201 },
  { method: 'GET', path: '/v1/cases', allowed: ALL, request: () => ({ path: '/v1/cases?limit=5' }), ok: 200 },
  {
    method: 'GET',
    path: '/v1/cases/:id',
    allowed: READERS_OF_LEGAL_CASE,
    request: ({ legalCase }) => ({ path: `/v1/cases/${legalCase}` }),
    ok: 200,
  },
  {
    method: 'GET',
    path: '/v1/cases/:id/history',
    allowed: READERS_OF_LEGAL_CASE,
    request: ({ legalCase }) => ({ path: `/v1/cases/${legalCase}/history` }),
    ok: 200,
  },
  {
    method: 'GET',
    path: '/v1/cases/:id/deadlines',
    allowed: READERS_OF_LEGAL_CASE,
    request: ({ legalCase }) => ({ path: `/v1/cases/${legalCase}/deadlines` }),
    ok: 200,
  },
  {
    method: 'POST',
    path: '/v1/cases/:id/events',
    allowed: ['service', 'agent', 'supervisor'],
    request: ({ legalCase }) => ({ path: `/v1/cases/${legalCase}/events`, json: { type: 'RESPOND' } }),
    ok: 200,
  },
  {
    method: 'DELETE',
    path: '/v1/customers/:id/personal-data',
    allowed: ['service', 'supervisor'],
    request: () => ({ path: '/v1/customers/nobody-at-all/personal-data' }),
    ok: 200,
  },
  {
    method: 'GET',
    path: '/v1/access-log',
    allowed: ['auditor', 'supervisor'],
    request: ({ legalCase }) => ({ path: `/v1/access-log?caseId=${legalCase}` }),
    ok: 200,
  },
  { method: 'GET', path: '/v1/contracts', allowed: ALL, request: () => ({ path: '/v1/contracts' }), ok: 200 },
  {
    method: 'GET',
    path: '/v1/contracts/:id',
    allowed: ALL,
    request: () => ({ path: '/v1/contracts/MC-2026-001' }),
    ok: 200,
  },
  {
    method: 'GET',
    path: '/v1/outages',
    allowed: ['ops', 'supervisor', 'auditor', 'agent', 'service'],
    request: () => ({ path: '/v1/outages' }),
  },
  {
    method: 'POST',
    path: '/v1/outages',
    allowed: ['ops', 'supervisor'],
    request: () => ({ path: '/v1/outages', json: {} }),
  },
  {
    method: 'POST',
    path: '/v1/outages/:id/end',
    allowed: ['ops', 'supervisor'],
    request: () => ({ path: '/v1/outages/no-such-outage/end', json: {} }),
  },
  {
    method: 'GET',
    path: '/v1/reports',
    allowed: ['supervisor', 'ops', 'auditor'],
    request: () => ({ path: '/v1/reports' }),
  },
  {
    method: 'GET',
    path: '/v1/reports/scheduled',
    allowed: ['supervisor', 'ops', 'auditor'],
    request: () => ({ path: '/v1/reports/scheduled' }),
  },
  {
    method: 'GET',
    path: '/v1/reports/scheduled/:contractId/:period/:from',
    allowed: ['supervisor', 'ops', 'auditor'],
    request: () => ({ path: '/v1/reports/scheduled/MC-2026-001/week/2026-01-05' }),
  },
  { method: 'GET', path: '/metrics', allowed: ['ops', 'auditor'], request: () => ({ path: '/metrics' }), ok: 200 },
];
/** Reachable without a key (health, the API description). */
const PUBLIC_ROUTES = ['GET /healthz', 'GET /readyz', 'GET /v1/openapi.json', 'GET /v1/docs'];

/** Every method and path the app serves outside /ops (which has its own login), from Fastify's route tree. */
function servedRoutes(): string[] {
  const tree = api.app.printRoutes({ commonPrefix: false });
  const out: string[] = [];
  const stack: { depth: number; path: string }[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+) \(([^)]+)\)/.exec(line);
    if (!match) continue;
    const depth = (match[1] as string).length;
    while (stack.length > 0 && (stack.at(-1) as { depth: number }).depth >= depth) stack.pop();
    const path = `${stack.at(-1)?.path ?? ''}${match[2]}`;
    stack.push({ depth, path });
    for (const method of (match[3] as string).split(', ')) if (method !== 'HEAD') out.push(`${method} ${path}`);
  }
  return out.filter((r) => !r.split(' ')[1]?.startsWith('/ops'));
}

describe('every role × every route', () => {
  it('covers every route the API serves', () => {
    const known = new Set([...ROUTES.map((r) => `${r.method} ${r.path}`), ...PUBLIC_ROUTES]);
    const served = servedRoutes();
    expect(served.length).toBeGreaterThan(10);
    expect(served.filter((r) => !known.has(r))).toEqual([]);
  });

  it.each(PUBLIC_ROUTES)('%s answers without a key', async (route) => {
    const [method, path] = route.split(' ') as [string, string];
    const res = await api.request(method, path, { as: null });
    expect([200, 503]).toContain(res.status);
  });

  const rows = ROUTES.flatMap((route) =>
    ALL.map((caller) => ({
      caller,
      route: `${route.method} ${route.path}`,
      row: route,
      allowed: route.allowed.includes(caller),
    })),
  );

  it.each(rows)('$caller: $route → allowed: $allowed', async ({ caller, row, allowed }) => {
    const legalCase = await escalatedLegal();
    const { path, json } = row.request({ legalCase });
    const res: ApiResponse = await api.request(row.method, path, { as: caller, ...(json ? { json } : {}) });
    if (allowed) {
      expect([401, 403], res.text).not.toContain(res.status);
      if (row.ok) expect(res.status, res.text).toBe(row.ok);
    } else {
      expect(res.status, res.text).toBe(403);
      expect(res.body.code).toBe('FORBIDDEN');
      const [entry] = await accessOf(caller);
      expect(entry).toMatchObject({ route: `${row.method} ${row.path}`, withinAuthority: false, code: 'FORBIDDEN' });
    }
  });

  it('no route answers without a key but the public ones', async () => {
    for (const row of ROUTES) {
      const res = await api.request(row.method, row.request({ legalCase: 'cnone' }).path, { as: null });
      expect(res.status, `${row.method} ${row.path}`).toBe(401);
    }
  });
});

describe('reads of personal data are recorded with what was shown', () => {
  it('a CS read shows the customer whole; an ops read masked; a department its fields; each logged so', async () => {
    const id = await escalatedLegal();
    const agent = await api.request('GET', `/v1/cases/${id}`, { as: 'agent' });
    expect(agent.body.customer).toEqual(customer);
    const ops = await api.request('GET', `/v1/cases/${id}`, { as: 'ops' });
    expect(ops.body.customer).toEqual({ id: 'authz-1', name: '王*', phone: '138****5678', email: 'w***@example.com' });
    expect(ops.body.subject).toBe('[redacted]');
    const legal = await api.request('GET', `/v1/cases/${id}`, { as: 'legal' });
    expect(legal.body.customer).toEqual({ id: 'authz-1', name: '王五', phone: '13812345678' });
    const log = (await rt.access.query({ caseId: id }, 20)).items;
    const byActor = (name: string) => log.find((e) => e.actor.name === name && e.action === 'read');
    expect(byActor('agent-li')).toMatchObject({
      fields: ['customer.email', 'customer.id', 'customer.name', 'customer.phone', 'subject'],
      withinAuthority: true,
      via: 'api',
      route: 'GET /v1/cases/:id',
    });
    expect(byActor('ops-zhao')).toMatchObject({
      fields: ['customer.id'],
      masked: ['customer.email', 'customer.name', 'customer.phone', 'subject'],
    });
    expect(byActor('dept-legal')?.fields).toEqual(['customer.id', 'customer.name', 'customer.phone', 'subject']);
    // The dashboard shows a case through the same projection, and its reads are logged the same way.
    const page = await api.request('GET', `/ops/cases/${id}`, { as: 'auditor' });
    expect(page.status, page.text.slice(0, 300)).toBe(200);
    expect(page.text).not.toContain('王五');
    expect(page.text).not.toContain('13812345678');
    const dashboard = (await rt.access.query({ caseId: id }, 20)).items.find((e) => e.via === 'dashboard');
    expect(dashboard).toMatchObject({
      actor: { name: 'auditor-qian', role: 'auditor' },
      action: 'read',
      route: 'GET /ops/cases/:id',
      withinAuthority: true,
    });
    expect(dashboard?.masked).toEqual(expect.arrayContaining(['customer.name', 'customer.phone']));
    // The access log holds field names and ids, never the values.
    expect(JSON.stringify(log)).not.toContain('王五');
    expect(JSON.stringify(log)).not.toContain('13812345678');
  });
});
