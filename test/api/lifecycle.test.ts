import { describe, expect, it } from 'vitest';
import { InterveneError } from '../../src/client/index.ts';
import { type ApiServer, CALLERS, expectProblem, historyOf, useApi } from '../support/api.ts';
import { CONTRACT, openCase } from '../support/policy.ts';

// The whole life of two cases over real HTTP, against a real Redis: one resolved by customer service after
// coordinating with finance (3.2.2, 2.2.4, 2.2.5), one handed to legal on intake (1, 3.2.3).

let api: ApiServer;
useApi((server) => {
  api = server.api;
});

const actor = (c: keyof typeof CALLERS) => {
  const { name, role } = CALLERS[c];
  return 'department' in CALLERS[c]
    ? { name, role, department: (CALLERS[c] as { department: string }).department }
    : { name, role };
};

describe('a case resolved by customer service after coordinating with finance', () => {
  it('opens (201), verifies, coordinates, gets finance’s reply, resolves within the limit, is surveyed and closed', async () => {
    const opened = await api.request('POST', '/v1/cases', {
      json: openCase({
        category: 'fee_waiver',
        amount: { amount: '300.00', currency: 'CNY' },
        subject: 'Late fee on invoice 2026-11',
        description: 'The customer asks to waive a late fee charged by mistake.',
        externalRef: 'CRM-4711',
      }),
    });
    expect(opened.status).toBe(201);
    expect(opened.contentType).toMatch(/^application\/json/);
    const view = opened.body;
    expect(view).toMatchObject({
      contractId: CONTRACT,
      policyVersion: 1,
      state: 'received',
      version: 1,
      category: 'fee_waiver',
      channel: 'phone',
      customer: { id: 'cust-1', name: '张三', phone: '+86 138 0000 0000' },
      amount: { amount: '300.00', currency: 'CNY' },
      externalRef: 'CRM-4711',
      flags: [],
      escalation: null,
    });
    expect(view.id).toMatch(/^c[0-9a-f]+$/);
    expect(Date.parse(view.createdAt)).not.toBeNaN();
    const deadlines = Object.fromEntries(view.deadlines.map((d: any) => [d.name, d]));
    expect(deadlines.firstResponse).toMatchObject({ status: 'armed', clause: '3.1.3' });
    expect(Date.parse(deadlines.firstResponse.dueAt) - Date.parse(view.createdAt)).toBe(15 * 60_000);
    expect(deadlines.initialNotice).toMatchObject({ status: 'armed', clause: '3.1.3' });

    const id = view.id as string;
    const agent = api.client('agent');
    const finance = api.client('finance');

    // GET answers the same view with its version as the ETag.
    const got = await api.request('GET', `/v1/cases/${id}`);
    expect(got.status).toBe(200);
    expect(got.headers.get('etag')).toBe('"1"');
    expect(got.body).toMatchObject({ id, version: 1, state: 'received' });

    expect(await agent.send(id, { type: 'VERIFY', identityVerified: true, serviceUsageConfirmed: true })).toMatchObject(
      { state: 'verified', version: 2 },
    );
    // Finance may not read the case before it is routed to it (4.1).
    await expect(finance.getCase(id)).rejects.toMatchObject({ status: 403, code: 'FORBIDDEN', clause: '4.1' });

    const coordinating = await agent.send(id, {
      type: 'COORDINATE',
      department: 'finance',
      request: 'Was the late fee charged after the payment arrived?',
    });
    expect(coordinating).toMatchObject({
      state: 'coordinating',
      version: 3,
      coordination: { department: 'finance', replied: false },
    });
    expect(coordinating.deadlines.find((d) => d.name === 'coordination')).toMatchObject({
      status: 'armed',
      clause: '3.2.2',
    });

    // Now finance reads it, and sees the customer only as far as its policy fields allow (subject, amount).
    const seenByFinance = await finance.getCase(id);
    expect(seenByFinance.customer).toEqual({ id: 'cust-1' });
    const replied = await finance.send(id, {
      type: 'DEPARTMENT_REPLY',
      department: 'finance',
      reply: 'The payment arrived on time; the fee was charged in error.',
    });
    expect(replied).toMatchObject({ state: 'verified', version: 4, coordination: { replied: true } });

    // Above the limit is refused with its clause; nothing is written.
    const tooMuch = await agent
      .send(id, { type: 'RESOLVE', resolution: 'waive', adjustment: { amount: '500.01', currency: 'CNY' } })
      .catch((e: unknown) => e);
    expect(tooMuch).toBeInstanceOf(InterveneError);
    expect(tooMuch).toMatchObject({ status: 422, code: 'AUTHORITY_EXCEEDED', clause: '2.2.4' });
    expect((await agent.getCase(id)).version).toBe(4);

    const resolved = await agent.send(id, {
      type: 'RESOLVE',
      resolution: 'Late fee waived.',
      adjustment: { amount: '300.00', currency: 'CNY' },
    });
    expect(resolved).toMatchObject({
      state: 'resolved',
      version: 5,
      resolution: { by: 'cs', adjustment: { amount: '300.00', currency: 'CNY' } },
    });
    expect(resolved.deadlines.find((d) => d.name === 'followUp')).toMatchObject({ status: 'armed', clause: '2.2.5' });

    expect(await agent.send(id, { type: 'SURVEY_RESULT', score: 5, comment: 'quick' })).toMatchObject({
      state: 'resolved',
      version: 6,
      survey: { score: 5 },
    });
    const closed = await agent.send(id, { type: 'CLOSE' });
    expect(closed).toMatchObject({ state: 'closed', version: 7 });
    expect(Object.fromEntries(closed.deadlines.map((d) => [d.name, d.status]))).toEqual({
      firstResponse: 'met',
      initialNotice: 'met',
      coordination: 'met',
      followUp: 'met',
    });

    const history = (await agent.history(id)).items;
    expect(history.map((e) => [e.v, e.event, e.from, e.to, e.clause])).toEqual([
      [1, 'OPEN', null, 'received', '2.1'],
      [2, 'VERIFY', 'received', 'verified', '2.2.2'],
      [3, 'COORDINATE', 'verified', 'coordinating', '3.2.2'],
      [4, 'DEPARTMENT_REPLY', 'coordinating', 'verified', '3.2.2'],
      [5, 'RESOLVE', 'verified', 'resolved', '2.2.4'],
      [6, 'SURVEY_RESULT', 'resolved', 'resolved', '2.2.5'],
      [7, 'CLOSE', 'resolved', 'closed', '3.2.1'],
    ]);
    expect(history.map((e) => e.actor)).toEqual([
      actor('service'),
      actor('agent'),
      actor('agent'),
      actor('finance'),
      actor('agent'),
      actor('agent'),
      actor('agent'),
    ]);
    for (let i = 1; i < history.length; i++) {
      expect(Date.parse(history[i]?.at as string)).toBeGreaterThanOrEqual(Date.parse(history[i - 1]?.at as string));
    }
    expect(history[4]?.data).toEqual({
      resolution: 'Late fee waived.',
      adjustment: { amount: '300.00', currency: 'CNY' },
    });
  });
});

describe('a case flagged legal_dispute on intake', () => {
  it('is escalated to legal at once; legal accepts the hand-off and resolves the escalation', async () => {
    const opened = await api.request('POST', '/v1/cases', {
      as: 'agent',
      json: openCase({
        category: 'complaint',
        flags: ['legal_dispute'],
        subject: 'Termination dispute',
        description: 'The customer disputes the early-termination fee and mentions a lawsuit.',
      }),
    });
    expect(opened.status).toBe(201);
    const id = opened.body.id as string;
    expect(opened.body).toMatchObject({
      state: 'escalated',
      version: 1,
      flags: ['legal_dispute'],
      escalation: { trigger: 'legal_dispute', department: 'legal', level: 1, handoff: 'pending', clause: '1' },
    });
    const deadlines = Object.fromEntries(opened.body.deadlines.map((d: any) => [d.name, d]));
    expect(deadlines.handoff).toMatchObject({ status: 'armed', clause: '3.2.3' });
    expect(deadlines.firstResponse.status).toBe('met');

    // Customer service may not resolve it; another department may not take it (4.1).
    const byAgent = await api.request('POST', `/v1/cases/${id}/events`, {
      as: 'agent',
      json: { type: 'RESOLVE', resolution: 'refund' },
    });
    expectProblem(byAgent, 422, 'INVALID_TRANSITION', { clause: '3.2' });
    const byFinance = await api.request('POST', `/v1/cases/${id}/events`, {
      as: 'finance',
      json: { type: 'HANDOFF_ACCEPT', department: 'finance' },
    });
    expectProblem(byFinance, 403, 'FORBIDDEN', { clause: '4.1' });
    const asAnother = await api.request('POST', `/v1/cases/${id}/events`, {
      as: 'legal',
      json: { type: 'HANDOFF_ACCEPT', department: 'management' },
    });
    expectProblem(asAnother, 403, 'FORBIDDEN', { clause: '4.1' });

    const legal = api.client('legal');
    const accepted = await legal.send(id, { type: 'HANDOFF_ACCEPT', department: 'legal' });
    expect(accepted).toMatchObject({ state: 'escalated', version: 2, escalation: { handoff: 'accepted' } });
    expect(accepted.deadlines.find((d) => d.name === 'handoff')?.status).toBe('met');

    const done = await legal.send(id, { type: 'ESCALATION_RESOLVE', outcome: 'Fee reduced by settlement.' });
    expect(done).toMatchObject({
      state: 'resolved',
      version: 3,
      escalation: { handoff: 'resolved' },
      resolution: { by: 'department' },
    });

    const history = await historyOf(api, id);
    expect(history.map((e) => [e.v, e.event, e.from, e.to, e.clause, e.actor.name])).toEqual([
      [1, 'OPEN', null, 'escalated', '1', CALLERS.agent.name],
      [2, 'HANDOFF_ACCEPT', 'escalated', 'escalated', '3.2.3', CALLERS.legal.name],
      [3, 'ESCALATION_RESOLVE', 'escalated', 'resolved', '3.2.3', CALLERS.legal.name],
    ]);
    expect(history[0]?.effects).toContain('handoff:legal@1');
  });
});

describe('health and readiness', () => {
  it('answers /healthz and /readyz without a key', async () => {
    const health = await api.request('GET', '/healthz', { as: null });
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
    const ready = await api.request('GET', '/readyz', { as: null });
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready' });
  });
});
