import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/runtime.ts';
import {
  type ApiServer,
  CALLER_NAMES,
  type Caller,
  caseOf,
  expectProblem,
  historyOf,
  openOverHttp,
  prefixSnapshot,
  type StateFixture,
  sendOverHttp,
  stateFixtures,
  useApi,
} from '../support/api.ts';
import { openCase } from '../support/policy.ts';
import { VERIFY } from '../support/runtime.ts';

// Role checks for every role and every event (README "Roles"; 6.1, 4.1), over real HTTP.

let rt: Runtime;
let api: ApiServer;
useApi((server) => {
  ({ rt, api } = server);
});

const eventPath = (id: string) => `/v1/cases/${id}/events`;

const base = () =>
  openCase({
    customer: { id: 'cust-9', name: '李小龙', phone: '+86 139 1234 5678', email: 'xiaolong@example.com' },
  });

type Fixture = StateFixture;
const { received, verified, coordinatingFinance, escalatedLegal, awaitingCustomer, resolved } = stateFixtures(
  () => api,
  base,
);

const CS = ['service', 'agent', 'supervisor'] as const;

/** Each event, a state that accepts it, and who may send it there. */
const EVENTS: { event: Record<string, unknown>; fixture: Fixture; allowed: readonly Caller[] }[] = [
  { event: { type: 'RESPOND', message: 'hello' }, fixture: received, allowed: CS },
  { event: VERIFY, fixture: received, allowed: CS },
  { event: { type: 'RESOLVE', resolution: 'answered' }, fixture: verified, allowed: CS },
  { event: { type: 'COORDINATE', department: 'finance', request: 'check' }, fixture: verified, allowed: CS },
  {
    event: { type: 'DEPARTMENT_REPLY', department: 'finance', reply: 'checked' },
    fixture: coordinatingFinance,
    allowed: ['service', 'finance'],
  },
  {
    event: { type: 'ESCALATE', reason: 'dispute', preliminaryJudgment: 'legal matter', recommendation: 'legal' },
    fixture: verified,
    allowed: CS,
  },
  // A department may flag what is routed to it (finance, while coordinating); customer service may flag anything.
  {
    event: { type: 'FLAG', flag: 'legal_dispute', note: 'mentions a lawsuit' },
    fixture: coordinatingFinance,
    allowed: [...CS, 'finance'],
  },
  { event: { type: 'HANDOFF_ACCEPT', department: 'legal' }, fixture: escalatedLegal, allowed: ['service', 'legal'] },
  { event: { type: 'ESCALATION_RESOLVE', outcome: 'settled' }, fixture: escalatedLegal, allowed: ['service', 'legal'] },
  { event: { type: 'REQUEST_INFO', request: 'invoice number?' }, fixture: received, allowed: CS },
  { event: { type: 'CUSTOMER_REPLY', message: 'INV-1' }, fixture: awaitingCustomer, allowed: CS },
  { event: { type: 'CLOSE' }, fixture: resolved, allowed: CS },
  { event: { type: 'REOPEN', reason: 'not fixed' }, fixture: resolved, allowed: CS },
  { event: { type: 'SURVEY_RESULT', score: 4 }, fixture: resolved, allowed: CS },
];

/** The clause a 403 names: 4.1 for a department acting on a department event off its route, else 6.1. */
function forbiddenClause(caller: Caller, type: string): string {
  const departmentEvent = ['DEPARTMENT_REPLY', 'HANDOFF_ACCEPT', 'ESCALATION_RESOLVE', 'FLAG'].includes(type);
  return ['legal', 'finance', 'management'].includes(caller) && departmentEvent ? '4.1' : '6.1';
}

describe('the (role, event) matrix in a state that accepts the event', () => {
  const rows = EVENTS.flatMap(({ event, fixture, allowed }) =>
    CALLER_NAMES.map((caller) => ({
      caller,
      type: event.type as string,
      event,
      fixture,
      expected: allowed.includes(caller) ? 200 : 403,
    })),
  );

  it.each(rows)('$caller sends $type → $expected', async ({ caller, type, event, fixture, expected }) => {
    const id = await fixture();
    const before = await caseOf(api, id);
    const res = await api.request('POST', eventPath(id), { as: caller, json: event });
    if (expected === 200) {
      expect(res.status, res.text).toBe(200);
      expect(res.body.version).toBe(before.version + 1);
      const last = (await historyOf(api, id)).at(-1);
      expect(last?.event).toBe(type);
      expect(last?.actor.name).toBeTypeOf('string');
    } else {
      expectProblem(res, 403, 'FORBIDDEN', { clause: forbiddenClause(caller, type) });
      expect((await caseOf(api, id)).version).toBe(before.version);
    }
  });
});

describe('the same matrix in a state that refuses the event: authorization first, then the machine', () => {
  let closedCase: string;
  let freshCase: string;
  let snapshot: string[];
  beforeAll(async () => {
    closedCase = await resolved();
    await sendOverHttp(api, closedCase, { type: 'CLOSE' });
    freshCase = await received();
    snapshot = await prefixSnapshot(rt);
  });
  afterAll(async () => {
    // Neither 403 nor 422 wrote anything, over the whole matrix.
    expect(await prefixSnapshot(rt)).toEqual(snapshot);
  });

  const rows = EVENTS.flatMap(({ event, allowed }) =>
    CALLER_NAMES.map((caller) => ({
      caller,
      type: event.type as string,
      event,
      // REOPEN and SURVEY_RESULT are accepted on a closed case: send those to a fresh one.
      onFresh: event.type === 'REOPEN' || event.type === 'SURVEY_RESULT',
      // A department on a case not routed to it is 403 (4.1); an allowed role is refused by the machine.
      expected:
        allowed.includes(caller) && (caller === 'service' || !['legal', 'finance'].includes(caller)) ? 422 : 403,
    })),
  );

  it.each(rows)('$caller sends $type → $expected', async ({ caller, type, event, onFresh, expected }) => {
    const id = onFresh ? freshCase : closedCase;
    const res = await api.request('POST', eventPath(id), { as: caller, json: event });
    if (expected === 422) {
      expectProblem(res, 422, undefined);
      expect(res.body.clause).toMatch(/^\d+(\.\d+)*$/);
    } else {
      expectProblem(res, 403, 'FORBIDDEN', {
        clause: ['legal', 'finance', 'management'].includes(caller) ? forbiddenClause(caller, type) : '6.1',
      });
    }
  });
});

describe('events no caller may send', () => {
  it.each(CALLER_NAMES)('DEADLINE from %s is 400 naming the type, nothing written', async (caller) => {
    const id = await escalatedLegal();
    const res = await api.request('POST', eventPath(id), {
      as: caller,
      json: { type: 'DEADLINE', name: 'handoff', epoch: 3 },
    });
    expectProblem(res, 400, 'VALIDATION_FAILED', { path: 'type' });
    expect((await caseOf(api, id)).version).toBe(1);
  });
});

describe('opening cases', () => {
  it.each(CALLER_NAMES.map((caller) => ({ caller, expected: CS.includes(caller as never) ? 201 : 403 })))(
    '$caller opens → $expected',
    async ({ caller, expected }) => {
      const before = await prefixSnapshot(rt);
      const res = await api.request('POST', '/v1/cases', { as: caller, json: base() });
      if (expected === 201) {
        expect(res.status, res.text).toBe(201);
      } else {
        expectProblem(res, 403, 'FORBIDDEN', { clause: '2.1' });
        expect(await prefixSnapshot(rt)).toEqual(before);
      }
    },
  );
});

describe('a department acts only on cases routed to it, in its own name (4.1)', () => {
  it('legal may not accept for finance on its own case, nor act on a case routed to finance', async () => {
    const legalCase = await escalatedLegal();
    expectProblem(
      await api.request('POST', eventPath(legalCase), {
        as: 'legal',
        json: { type: 'HANDOFF_ACCEPT', department: 'finance' },
      }),
      403,
      'FORBIDDEN',
      { clause: '4.1' },
    );
    const financeCase = await coordinatingFinance();
    expectProblem(
      await api.request('POST', eventPath(financeCase), {
        as: 'legal',
        json: { type: 'DEPARTMENT_REPLY', department: 'legal', reply: 'not ours' },
      }),
      403,
      'FORBIDDEN',
      { clause: '4.1' },
    );
    expectProblem(
      await api.request('POST', eventPath(financeCase), { as: 'legal', json: { type: 'FLAG', flag: 'major_breach' } }),
      403,
      'FORBIDDEN',
      { clause: '4.1' },
    );
    expect((await caseOf(api, legalCase)).version).toBe(1);
    expect((await caseOf(api, financeCase)).version).toBe(3);
  });

  it('legal may not act once its escalation is resolved', async () => {
    const id = await escalatedLegal();
    await sendOverHttp(api, id, { type: 'ESCALATION_RESOLVE', outcome: 'settled' }, { as: 'legal' });
    const res = await api.request('POST', eventPath(id), { as: 'legal', json: { type: 'FLAG', flag: 'major_breach' } });
    expectProblem(res, 403, 'FORBIDDEN', { clause: '4.1' });
  });
});

describe('reads by role', () => {
  let legalCase: string;
  let financeCase: string;
  beforeAll(async () => {
    legalCase = (
      await openOverHttp(api, {
        ...base(),
        category: 'complaint',
        flags: ['legal_dispute'],
        amount: { amount: '120.00', currency: 'CNY' },
        externalRef: 'CRM-9',
      })
    ).id;
    financeCase = await coordinatingFinance();
  });

  it.each(['service', 'agent', 'supervisor'] as const)('%s sees the customer whole', async (caller) => {
    const res = await api.request('GET', `/v1/cases/${legalCase}`, { as: caller });
    expect(res.status).toBe(200);
    expect(res.body.customer).toEqual(base().customer);
  });

  it.each(['ops', 'auditor'] as const)('%s sees the customer masked (4.2)', async (caller) => {
    const res = await api.request('GET', `/v1/cases/${legalCase}`, { as: caller });
    expect(res.status).toBe(200);
    expect(res.body.customer).toEqual({
      id: 'cust-9',
      name: '李**',
      phone: '+86 139****5678',
      email: 'x***@example.com',
    });
    expect(res.text).not.toContain('1234');
    expect(res.text).not.toContain('xiaolong');
    const history = await api.request('GET', `/v1/cases/${legalCase}/history`, { as: caller });
    expect(history.status).toBe(200);
    const list = await api.request('GET', '/v1/cases?limit=200', { as: caller });
    expect(list.status).toBe(200);
    expect(list.text).not.toContain('xiaolong@example.com');
    expect(list.text).not.toContain('李小龙');
  });

  it('a department sees the customer fields its policy entry lists, on cases routed to it', async () => {
    const legal = await api.request('GET', `/v1/cases/${legalCase}`, { as: 'legal' });
    expect(legal.status).toBe(200);
    // legal: customer.name, customer.phone
    expect(legal.body.customer).toEqual({ id: 'cust-9', name: '李小龙', phone: '+86 139 1234 5678' });
    const finance = await api.request('GET', `/v1/cases/${financeCase}`, { as: 'finance' });
    expect(finance.status).toBe(200);
    // finance: subject, amount — no customer field at all
    expect(finance.body.customer).toEqual({ id: 'cust-9' });
    expect(finance.text).not.toContain('李小龙');
  });

  it('a department view omits the case fields its policy does not list (legal lists no amount, no externalRef)', async () => {
    const legal = await api.request('GET', `/v1/cases/${legalCase}`, { as: 'legal' });
    expect(legal.status).toBe(200);
    expect(legal.body).not.toHaveProperty('amount');
    expect(legal.body).not.toHaveProperty('externalRef');
  });

  it('a department may not read, nor read the history of, a case not routed to it (403, 4.1)', async () => {
    for (const [caller, id] of [
      ['finance', legalCase],
      ['management', legalCase],
      ['legal', financeCase],
    ] as const) {
      expectProblem(await api.request('GET', `/v1/cases/${id}`, { as: caller }), 403, 'FORBIDDEN', { clause: '4.1' });
      expectProblem(await api.request('GET', `/v1/cases/${id}/history`, { as: caller }), 403, 'FORBIDDEN', {
        clause: '4.1',
      });
    }
  });

  it('a department lists only its own cases, and may not ask for another department’s', async () => {
    const legal = await api.request('GET', '/v1/cases?limit=200', { as: 'legal' });
    expect(legal.status).toBe(200);
    const ids = legal.body.items.map((c: any) => c.id);
    expect(ids).toContain(legalCase);
    expect(ids).not.toContain(financeCase);
    for (const item of legal.body.items) expect(item.escalation?.department).toBe('legal');
    expectProblem(await api.request('GET', '/v1/cases?department=finance', { as: 'legal' }), 403, 'FORBIDDEN', {
      clause: '4.1',
    });
  });
});

describe('authentication', () => {
  it('401 with a problem body without a key, with a wrong key, or another scheme', async () => {
    const id = await received();
    const attempts: { as?: null; key?: string; headers?: Record<string, string> }[] = [
      { as: null },
      { key: 'ivk_not-a-key' },
      { key: '' },
      { as: null, headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } },
      { as: null, headers: { authorization: api.keys.service } },
    ];
    for (const attempt of attempts) {
      for (const [method, path, json] of [
        ['GET', `/v1/cases/${id}`, undefined],
        ['GET', '/v1/cases', undefined],
        ['GET', `/v1/cases/${id}/history`, undefined],
        ['POST', eventPath(id), { type: 'RESPOND' }],
        ['POST', '/v1/cases', base()],
        ['GET', '/v1/contracts', undefined],
        ['GET', '/v1/no-such-route', undefined],
      ] as const) {
        const res = await api.request(method, path, { ...attempt, ...(json ? { json } : {}) });
        expectProblem(res, 401, 'UNAUTHENTICATED');
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
      }
    }
    expect((await caseOf(api, id)).version).toBe(1);
  });
});
