import { describe, expect, it } from 'vitest';
import { PureCase, SYSTEM, T0, VERIFY } from '../support/machine.ts';
import { testPolicy } from '../support/policy.ts';

const MIN = 60_000;

describe('intake (2.1, 3.1.3)', () => {
  it('opens received with the first-response and initial-notice clocks armed', () => {
    const c = new PureCase();
    expect(c.state).toBe('received');
    expect(c.context.deadlines.firstResponse).toMatchObject({ status: 'armed', dueAt: T0 + 15 * MIN });
    expect(c.context.deadlines.initialNotice).toMatchObject({ status: 'armed', dueAt: T0 + 240 * MIN });
    expect(c.context.accepted).toBe(1);
  });

  it('escalates a case flagged at intake immediately along its route, with the hand-off and a customer notice (1, 3.2.3)', () => {
    const c = new PureCase({ flags: ['legal_dispute'] });
    expect(c.state).toBe('escalated');
    expect(c.context.escalation).toMatchObject({
      trigger: 'legal_dispute',
      department: 'legal',
      level: 1,
      status: 'pending',
    });
    expect(c.effects()).toEqual(['handOff', 'notifyCustomer:escalated']);
    expect(c.context.deadlines.handoff?.status).toBe('armed');
  });

  it('routes the most severe of several flags', () => {
    const c = new PureCase({ flags: ['customer_requests_management', 'major_breach'] });
    expect(c.context.escalation?.department).toBe('contract_management');
    expect(c.context.escalation?.trigger).toBe('major_breach');
  });

  it('treats a small claim above the amount limit as beyond authority at intake (1.4)', () => {
    const c = new PureCase({ category: 'small_claim', amount: { amount: '500.01', currency: 'CNY' } });
    expect(c.state).toBe('escalated');
    expect(c.context.flags).toEqual(['beyond_authority']);
  });

  it('keeps a small claim equal to the limit within authority: "以下" includes the figure (1.4)', () => {
    const c = new PureCase({ category: 'small_claim', amount: { amount: '500.00', currency: 'CNY' } });
    expect(c.state).toBe('received');
  });

  it('treats a claim in another currency than the limit as beyond authority (1.4)', () => {
    const c = new PureCase({ category: 'small_claim', amount: { amount: '10.00', currency: 'USD' } });
    expect(c.context.flags).toContain('beyond_authority');
  });

  it('treats a category the contract does not authorize as beyond authority (1.5, 2.3.2)', () => {
    const doc = testPolicy();
    const policy = { ...doc, authority: { ...doc.authority, categories: ['inquiry'] } };
    const c = new PureCase({ category: 'complaint' }, policy);
    expect(c.state).toBe('escalated');
  });
});

describe('responding and verifying (2.1, 2.2.2, 3.2)', () => {
  it('RESPOND meets the first-response clock and stays received', () => {
    const c = new PureCase();
    expect(c.send({ type: 'RESPOND' }, T0 + 5 * MIN)).toBeUndefined();
    expect(c.state).toBe('received');
    expect(c.context.deadlines.firstResponse).toMatchObject({ status: 'met', at: T0 + 5 * MIN });
  });

  it('VERIFY moves received → verified', () => {
    const c = new PureCase();
    expect(c.send(VERIFY)).toBeUndefined();
    expect(c.state).toBe('verified');
  });

  it('refuses a second VERIFY', () => {
    const c = new PureCase();
    c.send(VERIFY);
    expect(c.send(VERIFY)).toMatchObject({ code: 'INVALID_TRANSITION' });
  });

  it('refuses to resolve before verification (3.2)', () => {
    const c = new PureCase();
    expect(c.send({ type: 'RESOLVE', resolution: 'x' })).toMatchObject({ code: 'INVALID_TRANSITION', clause: '3.2' });
  });
});

describe('resolution within authority (3.2.1, 2.2.4)', () => {
  it('resolves, meets both 3.1.3 clocks, tells the customer and arms the follow-up (2.2.5)', () => {
    const c = new PureCase();
    c.send(VERIFY);
    expect(c.send({ type: 'RESOLVE', resolution: 'explained' })).toBeUndefined();
    expect(c.state).toBe('resolved');
    expect(c.effects()).toEqual(['notifyCustomer:resolved']);
    expect(c.context.deadlines.initialNotice?.status).toBe('met');
    expect(c.context.deadlines.followUp?.status).toBe('armed');
  });

  it('refuses a fee waiver above the amount limit (2.2.4)', () => {
    const c = new PureCase({ category: 'fee_waiver' });
    c.send(VERIFY);
    const refusal = c.send({ type: 'RESOLVE', resolution: 'w', adjustment: { amount: '500.01', currency: 'CNY' } });
    expect(refusal).toMatchObject({ code: 'AUTHORITY_EXCEEDED', clause: '2.2.4' });
    expect(c.state).toBe('verified');
  });

  it('refuses an adjustment in another currency than the limit (2.2.4)', () => {
    const c = new PureCase({ category: 'fee_waiver' });
    c.send(VERIFY);
    expect(c.send({ type: 'RESOLVE', resolution: 'w', adjustment: { amount: '1.00', currency: 'USD' } })).toMatchObject(
      {
        code: 'CURRENCY_MISMATCH',
        clause: '2.2.4',
      },
    );
  });

  it('records a granted adjustment at the limit (2.2.4)', () => {
    const c = new PureCase({ category: 'fee_waiver' });
    c.send(VERIFY);
    expect(
      c.send({ type: 'RESOLVE', resolution: 'w', adjustment: { amount: '500.00', currency: 'CNY' } }),
    ).toBeUndefined();
    expect(c.context.resolution).toMatchObject({ by: 'cs', adjustment: { amount: '500.00', currency: 'CNY' } });
  });

  it.each([
    ['core_term_change', '2.3.1'],
    ['major_breach', '2.3.3'],
    ['legal_dispute', '2.3.4'],
    ['beyond_authority', '2.3.2'],
    ['customer_requests_management', '1'],
  ] as const)('never lets CS resolve a case flagged %s (clause %s)', (flag, clause) => {
    const c = new PureCase({ flags: [flag] });
    c.send({ type: 'ESCALATION_RESOLVE', outcome: 'handled' }, undefined, { name: 'd', role: 'department' });
    c.send({ type: 'REOPEN', reason: 'again' });
    expect(c.state).toBe('verified');
    expect(c.send({ type: 'RESOLVE', resolution: 'x' })).toMatchObject({ code: 'ESCALATION_REQUIRED', clause });
  });
});

describe('coordination (3.2.2)', () => {
  it('coordinates with a department, arms the coordination clock, and returns to verified on its reply', () => {
    const c = new PureCase();
    c.send(VERIFY);
    expect(c.send({ type: 'COORDINATE', department: 'finance', request: 'check' })).toBeUndefined();
    expect(c.state).toBe('coordinating');
    expect(c.effects()).toEqual(['requestCoordination', 'notifyCustomer:coordinating']);
    expect(c.context.deadlines.coordination?.status).toBe('armed');
    expect(c.send({ type: 'DEPARTMENT_REPLY', department: 'legal', reply: 'no' })).toMatchObject({
      code: 'WRONG_DEPARTMENT',
      clause: '3.2.2',
    });
    expect(c.send({ type: 'DEPARTMENT_REPLY', department: 'finance', reply: 'fixed' })).toBeUndefined();
    expect(c.state).toBe('verified');
    expect(c.context.deadlines.coordination?.status).toBe('met');
  });

  it('refuses to coordinate with a department the contract does not define', () => {
    const c = new PureCase();
    c.send(VERIFY);
    expect(c.send({ type: 'COORDINATE', department: 'marketing', request: 'x' })).toMatchObject({
      code: 'UNKNOWN_DEPARTMENT',
      clause: '3.2.2',
    });
  });
});

describe('escalation (3.2.3, 2.2.6)', () => {
  it('ESCALATE hands the case to the recommended route with the four-part package', () => {
    const c = new PureCase();
    c.send(VERIFY);
    const refusal = c.send({
      type: 'ESCALATE',
      reason: 'asks to change the contract',
      preliminaryJudgment: 'core clause',
      recommendation: 'core_term_change',
    });
    expect(refusal).toBeUndefined();
    expect(c.state).toBe('escalated');
    expect(c.context.escalation).toMatchObject({
      department: 'contract_management',
      preliminaryJudgment: 'core clause',
      recommendation: 'core_term_change',
      clause: '3.2.3',
    });
    expect(c.effects()).toEqual(['handOff', 'notifyCustomer:escalated']);
  });

  it('ESCALATE is available on every open case, even before verification (2.2.6)', () => {
    const c = new PureCase();
    expect(
      c.send({ type: 'ESCALATE', reason: 'r', preliminaryJudgment: 'p', recommendation: 'legal' }),
    ).toBeUndefined();
    expect(c.context.escalation?.department).toBe('legal');
  });

  it('refuses an escalation to an unknown route', () => {
    const c = new PureCase();
    expect(
      c.send({ type: 'ESCALATE', reason: 'r', preliminaryJudgment: 'p', recommendation: 'nowhere' }),
    ).toMatchObject({
      code: 'UNKNOWN_ROUTE',
      clause: '3.2.3',
    });
  });

  it('accepts the hand-off only from the routed department', () => {
    const c = new PureCase({ flags: ['legal_dispute'] });
    expect(c.send({ type: 'HANDOFF_ACCEPT', department: 'finance' })).toMatchObject({
      code: 'WRONG_DEPARTMENT',
      clause: '3.2.3',
    });
    expect(c.send({ type: 'HANDOFF_ACCEPT', department: 'legal' })).toBeUndefined();
    expect(c.context.deadlines.handoff?.status).toBe('met');
    expect(c.send({ type: 'HANDOFF_ACCEPT', department: 'legal' })).toMatchObject({ code: 'HANDOFF_NOT_PENDING' });
  });

  it('a more severe flag re-routes an escalated case (2.3.4)', () => {
    const c = new PureCase({ flags: ['beyond_authority'] });
    expect(c.send({ type: 'FLAG', flag: 'legal_dispute' })).toBeUndefined();
    expect(c.context.escalation).toMatchObject({ department: 'legal', seq: 2, status: 'pending' });
    expect(c.effects()).toContain('handOff');
  });

  it('a less severe flag on an escalated case is only recorded', () => {
    const c = new PureCase({ flags: ['legal_dispute'] });
    expect(c.send({ type: 'FLAG', flag: 'beyond_authority' })).toBeUndefined();
    expect(c.context.escalation).toMatchObject({ department: 'legal', seq: 1 });
    expect(c.effects()).toEqual([]);
  });

  it('the department resolves the escalation; the customer is told and a follow-up is due', () => {
    const c = new PureCase({ flags: ['legal_dispute'] });
    expect(c.send({ type: 'ESCALATION_RESOLVE', outcome: 'settled' })).toBeUndefined();
    expect(c.state).toBe('resolved');
    expect(c.context.resolution?.by).toBe('department');
    expect(c.effects()).toEqual(['notifyCustomer:resolved']);
  });
});

describe('missed deadlines (3.1.3, 3.2.2, 3.2.3)', () => {
  it('a missed first response is recorded as breached and escalates along deadline_missed', () => {
    const c = new PureCase();
    expect(c.fire('firstResponse')).toBeUndefined();
    expect(c.state).toBe('escalated');
    expect(c.context.deadlines.firstResponse?.status).toBe('breached');
    expect(c.context.escalation).toMatchObject({
      trigger: 'deadline_missed',
      department: 'team_lead',
      clause: '3.1.3',
    });
  });

  it('never fires a deadline before its due time', () => {
    const c = new PureCase();
    expect(c.fire('firstResponse', -1)).toMatchObject({ code: 'TIMER_EARLY' });
    expect(c.state).toBe('received');
  });

  it('drops a timer of an arming that no longer exists (stale epoch)', () => {
    const c = new PureCase();
    const epoch = c.context.deadlines.firstResponse?.epoch as number;
    c.send({ type: 'RESPOND' });
    expect(c.send({ type: 'DEADLINE', name: 'firstResponse', epoch }, T0 + 16 * MIN)).toMatchObject({
      code: 'STALE_TIMER',
    });
  });

  it('a missed hand-off climbs the ladder one rung at a time, each with a new hand-off, then is only recorded at the top', () => {
    const c = new PureCase({ flags: ['legal_dispute'] });
    // legal is not on the ladder [team_lead, contract_management, management]: the first miss goes to its foot.
    const rungs = ['team_lead', 'contract_management', 'management'];
    for (const [i, department] of rungs.entries()) {
      expect(c.fire('handoff')).toBeUndefined();
      expect(c.context.escalation).toMatchObject({ department, level: i + 2, seq: i + 2, clause: '3.2.3' });
      expect(c.context.deadlines.handoff?.status).toBe('armed');
      expect(c.effects()).toEqual(['handOff', 'notifyCustomer:escalated']);
    }
    expect(c.fire('handoff')).toBeUndefined();
    expect(c.context.escalation).toMatchObject({ department: 'management', level: 4 });
    expect(c.context.deadlines.handoff?.status).toBe('breached');
    expect(c.effects()).toEqual([]);
  });

  it('a missed first response goes to the foot of the ladder, and its hand-off miss climbs from there', () => {
    const c = new PureCase();
    c.fire('firstResponse');
    expect(c.context.escalation).toMatchObject({ department: 'team_lead', level: 1 });
    c.fire('handoff');
    expect(c.context.escalation).toMatchObject({ department: 'contract_management', level: 2 });
  });

  it('a missed coordination escalates and the coordination clock is closed', () => {
    const c = new PureCase();
    c.send(VERIFY);
    c.send({ type: 'COORDINATE', department: 'finance', request: 'check' });
    expect(c.fire('coordination')).toBeUndefined();
    expect(c.state).toBe('escalated');
    expect(c.context.deadlines.coordination?.status).toBe('breached');
  });

  it('a missed follow-up is recorded and the case stays resolved (2.2.5)', () => {
    const c = new PureCase();
    c.send(VERIFY);
    c.send({ type: 'RESOLVE', resolution: 'ok' });
    expect(c.fire('followUp')).toBeUndefined();
    expect(c.state).toBe('resolved');
    expect(c.context.deadlines.followUp?.status).toBe('breached');
  });
});

describe('waiting on the customer (6.2)', () => {
  it('pauses every armed clock with its remaining time and resumes it exactly', () => {
    const c = new PureCase();
    c.send(VERIFY, T0 + MIN);
    c.send({ type: 'REQUEST_INFO', request: 'invoice number' }, T0 + 10 * MIN);
    expect(c.state).toBe('awaitingCustomer');
    expect(c.context.deadlines.initialNotice).toMatchObject({ status: 'paused', remainingMs: 230 * MIN });
    expect(c.context.deadlines.firstResponse?.status).toBe('met');
    expect(c.send({ type: 'CUSTOMER_REPLY' }, T0 + 24 * 60 * MIN)).toBeUndefined();
    expect(c.state).toBe('verified');
    expect(c.context.deadlines.initialNotice).toMatchObject({ status: 'armed', dueAt: T0 + 24 * 60 * MIN + 230 * MIN });
  });

  it('a paused clock cannot fire', () => {
    const c = new PureCase();
    c.send({ type: 'REQUEST_INFO', request: 'x' });
    expect(c.fire('initialNotice')).toMatchObject({ code: 'STALE_TIMER' });
  });

  it('returns to the state it left', () => {
    const c = new PureCase();
    c.send(VERIFY);
    c.send({ type: 'COORDINATE', department: 'finance', request: 'x' });
    c.send({ type: 'REQUEST_INFO', request: 'x' });
    c.send({ type: 'CUSTOMER_REPLY' });
    expect(c.state).toBe('coordinating');
  });
});

describe('after resolution (2.2.5)', () => {
  it('records the survey, meets the follow-up, closes, and reopens to the decision point', () => {
    const c = new PureCase();
    c.send(VERIFY);
    c.send({ type: 'RESOLVE', resolution: 'ok' });
    expect(c.send({ type: 'SURVEY_RESULT', score: 5 })).toBeUndefined();
    expect(c.context.deadlines.followUp?.status).toBe('met');
    expect(c.send({ type: 'CLOSE' })).toBeUndefined();
    expect(c.state).toBe('closed');
    expect(c.send({ type: 'RESOLVE', resolution: 'x' })).toMatchObject({ code: 'INVALID_TRANSITION' });
    expect(c.send({ type: 'REOPEN', reason: 'broken again' })).toBeUndefined();
    expect(c.state).toBe('verified');
    expect(c.context.deadlines.initialNotice?.status).toBe('armed');
  });

  it('closing before the follow-up cancels its clock', () => {
    const c = new PureCase();
    c.send(VERIFY);
    c.send({ type: 'RESOLVE', resolution: 'ok' });
    c.send({ type: 'CLOSE' });
    expect(c.context.deadlines.followUp?.status).toBe('cancelled');
  });
});

describe('outage windows in a firing (6.2)', () => {
  it('a window known to end later moves the due time once, not again when the moved time comes', () => {
    const c = new PureCase();
    const window = { id: 'o1', start: T0 + 10 * MIN, end: T0 + 40 * MIN, reason: 'system_failure' as const };
    // firstResponse PT15M from 09:00: due 09:15; the window 09:10–09:40 takes 5 of its minutes → due 09:45.
    expect(
      c.send({ type: 'DEADLINE', name: 'firstResponse', epoch: 1, outages: [window] }, T0 + 15 * MIN, SYSTEM),
    ).toBeUndefined();
    const moved = c.context.deadlines.firstResponse!;
    expect(moved.dueAt).toBe(T0 + 45 * MIN);
    expect(
      c.send({ type: 'DEADLINE', name: 'firstResponse', epoch: moved.epoch, outages: [window] }, T0 + 45 * MIN, SYSTEM),
    ).toBeUndefined();
    expect(c.context.deadlines.firstResponse?.status).toBe('breached');
    expect(c.state).toBe('escalated');
  });

  it('an open window holds every running clock with what it had when the window began', () => {
    const c = new PureCase();
    const window = { id: 'o2', start: T0 + 10 * MIN, reason: 'force_majeure' as const };
    expect(
      c.send({ type: 'DEADLINE', name: 'firstResponse', epoch: 1, outages: [window] }, T0 + 15 * MIN, SYSTEM),
    ).toBeUndefined();
    expect(c.context.deadlines.firstResponse).toMatchObject({ status: 'paused', remainingMs: 5 * MIN });
    expect(c.context.deadlines.initialNotice).toMatchObject({ status: 'paused', remainingMs: 4 * 60 * MIN - 10 * MIN });
    expect(c.context.holds).toMatchObject([{ outage: 'o2', reason: 'force_majeure', at: T0 + 10 * MIN }]);
    // The window ends at 10:00: both resume from then.
    expect(
      c.send({ type: 'OUTAGE_END', outage: { ...window, end: T0 + 60 * MIN } }, T0 + 70 * MIN, SYSTEM),
    ).toBeUndefined();
    expect(c.context.deadlines.firstResponse?.dueAt).toBe(T0 + 65 * MIN);
  });
});

describe('due dates moved earlier', () => {
  it('marks the warnings whose time has passed as sent instead of sending them in a burst', () => {
    const policy = testPolicy({}, 1, { clocks: true });
    const c = new PureCase({}, policy, T0);
    const soon = new Date(T0 + 5 * MIN).toISOString();
    expect(
      c.send(
        { type: 'MOVE_DUE', deadline: 'firstResponse', dueAt: soon, reason: 'callback promised', clause: '3.1.3' },
        T0 + MIN,
        { name: 's', role: 'supervisor' },
      ),
    ).toBeUndefined();
    // The 15 min deadline now due at +5 min: its 50 % point (7.5 min before due, at -2.5) has passed by +1 and
    // counts as sent; the 75 % point (3.75 min before due, at +1.25) is next.
    const clock = c.context.deadlines.firstResponse!;
    expect(clock.warned).toBe(1);
    expect(clock.warnAt).toBe(T0 + 5 * MIN - 225_000);
  });
});
