import { describe, expect, it } from 'vitest';
import { type ApiServer, expectProblem, openOverHttp, sendOverHttp, useApi } from '../support/api.ts';
import { openCase } from '../support/policy.ts';

// Issue "clocks" over HTTP: pauses, due-date moves and outages are governed by roles and named rules;
// bad input is a 400 naming the field and changes nothing.

let api: ApiServer;
useApi((server) => {
  api = server.api;
});

describe('pauses and due dates over HTTP', () => {
  it('a pause by a role the policy does not allow is 422 with clause 6.2; the case is unchanged', async () => {
    const c = await openOverHttp(api, openCase());
    const res = await api.request('POST', `/v1/cases/${c.id}/events`, {
      as: 'agent',
      json: { type: 'PAUSE', reason: 'force_majeure', note: 'storm' },
    });
    expectProblem(res, 422, 'PAUSE_NOT_ALLOWED', { clause: '6.2' });
    expect((await api.request('GET', `/v1/cases/${c.id}`)).body.version).toBe(1);
  });

  it('ops may pause for a system failure; auditors and departments may not send PAUSE at all (403)', async () => {
    const c = await openOverHttp(api, openCase());
    expectProblem(
      await api.request('POST', `/v1/cases/${c.id}/events`, {
        as: 'auditor',
        json: { type: 'PAUSE', reason: 'system_failure', note: 'x' },
      }),
      403,
      'FORBIDDEN',
    );
    const paused = await sendOverHttp(
      api,
      c.id,
      { type: 'PAUSE', reason: 'system_failure', note: 'CRM down' },
      { as: 'ops' },
    );
    expect(paused.deadlines.every((d: any) => d.status === 'paused')).toBe(true);
  });

  it('names the field and the rule of bad PAUSE and MOVE_DUE bodies', async () => {
    const c = await openOverHttp(api, openCase());
    expectProblem(
      await api.request('POST', `/v1/cases/${c.id}/events`, {
        as: 'supervisor',
        json: { type: 'PAUSE', reason: 'lunch', note: 'x' },
      }),
      400,
      'VALIDATION_FAILED',
      { path: 'reason', mentions: 'customer_caused' },
    );
    expectProblem(
      await api.request('POST', `/v1/cases/${c.id}/events`, {
        as: 'supervisor',
        json: { type: 'MOVE_DUE', deadline: 'initialNotice', dueAt: 'tomorrow', reason: 'r', clause: '3.1.3' },
      }),
      400,
      'VALIDATION_FAILED',
      { path: 'dueAt', mentions: 'ISO-8601' },
    );
    expectProblem(
      await api.request('POST', `/v1/cases/${c.id}/events`, {
        as: 'supervisor',
        json: { type: 'MOVE_DUE', deadline: 'initialNotice', dueAt: '2030-01-01T00:00:00Z', reason: 'r' },
      }),
      400,
      'VALIDATION_FAILED',
      { path: 'clause' },
    );
    expectProblem(
      await api.request('POST', `/v1/cases/${c.id}/events`, {
        json: { type: 'OUTAGE_END', outage: { id: 'o1', start: 0, reason: 'system_failure' } },
      }),
      400,
      'VALIDATION_FAILED',
      { path: 'type', mentions: 'outage and migration commands' },
    );
    expect((await api.request('GET', `/v1/cases/${c.id}`)).body.version).toBe(1);
  });

  it('a supervisor moves a due date; the history records who, the reason and the clause', async () => {
    const c = await openOverHttp(api, openCase());
    const dueAt = new Date(Date.now() + 86_400_000).toISOString();
    const moved = await sendOverHttp(
      api,
      c.id,
      { type: 'MOVE_DUE', deadline: 'initialNotice', dueAt, reason: 'customer travelling', clause: '3.1.3' },
      { as: 'supervisor' },
    );
    expect(moved.deadlines.find((d: any) => d.name === 'initialNotice').dueAt).toBe(dueAt);
    const history = (await api.request('GET', `/v1/cases/${c.id}/history`)).body.items;
    expect(history.at(-1)).toMatchObject({ event: 'MOVE_DUE', clause: '3.1.3', actor: { name: 'supervisor-wang' } });
  });
});

describe('outages over HTTP', () => {
  it('only ops and supervisors declare; bad windows are 400 naming the field', async () => {
    const start = new Date(Date.now() - 3_600_000).toISOString();
    const body = { start, reason: 'force_majeure', note: 'typhoon' };
    expectProblem(await api.request('POST', '/v1/outages', { as: 'agent', json: body }), 403, 'FORBIDDEN');
    expectProblem(
      await api.request('POST', '/v1/outages', {
        as: 'ops',
        json: { ...body, end: new Date(Date.parse(start) - 60_000).toISOString() },
      }),
      400,
      'VALIDATION_FAILED',
      { path: 'end', mentions: 'after start' },
    );
    expectProblem(
      await api.request('POST', '/v1/outages', { as: 'ops', json: { ...body, reason: 'holiday' } }),
      400,
      'VALIDATION_FAILED',
      { path: 'reason' },
    );
    expectProblem(
      await api.request('POST', '/v1/outages', { as: 'ops', json: { ...body, scope: { region: 'north' } } }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await api.request('POST', '/v1/outages', { as: 'ops', json: { ...body, start: '2020-01-01T00:00:00Z' } }),
      400,
      'VALIDATION_FAILED',
      { path: 'start', mentions: '30 days' },
    );
    expect((await api.request('GET', '/v1/outages', { as: 'ops' })).body.items).toEqual([]);
  });

  it('ends an open window once; a second end is a conflict, an unknown id 404', async () => {
    const declared = await api.request('POST', '/v1/outages', {
      as: 'supervisor',
      json: {
        start: new Date(Date.now() - 60_000).toISOString(),
        reason: 'system_failure',
        note: 'CRM down',
        scope: { channel: 'chat' },
      },
    });
    expect(declared.status).toBe(201);
    expect(declared.body).toMatchObject({ open: true, clause: '6.2', scope: { channel: 'chat' } });
    const ended = await api.request('POST', `/v1/outages/${declared.body.id}/end`, { as: 'ops', json: {} });
    expect(ended.body.open).toBe(false);
    expectProblem(
      await api.request('POST', `/v1/outages/${declared.body.id}/end`, { as: 'ops', json: {} }),
      412,
      'PRECONDITION_FAILED',
    );
    expectProblem(await api.request('POST', '/v1/outages/nope/end', { as: 'ops', json: {} }), 404, 'NOT_FOUND');
  });
});
