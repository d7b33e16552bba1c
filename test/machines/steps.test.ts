import { describe, expect, it } from 'vitest';
import { type ClockStep, clockSteps } from '../../machines/steps.ts';
import type { CaseContext } from '../../machines/types.ts';
import { AGENT, PureCase, T0, VERIFY } from '../support/machine.ts';
import { testPolicy } from '../support/policy.ts';

// clockSteps reads what happened to each deadline off the clock table before and after one step.

const MIN = 60_000;
const policy = testPolicy({}, 1, { clocks: true });
const SUPERVISOR = { name: 'lead', role: 'supervisor' } as const;

/** Sends an event and returns the steps it made, as [deadline, step] pairs plus the full steps. */
function stepsOf(c: PureCase, send: () => unknown) {
  const before: CaseContext = c.context;
  const refusal = send();
  expect(refusal).toBeUndefined();
  const steps = clockSteps(before, c.context, policy);
  return { pairs: steps.map((s) => [s.deadline, s.step]), steps };
}

describe('clockSteps', () => {
  it('reports the deadlines armed at intake with their due times and calendar', () => {
    const c = new PureCase({}, policy, T0);
    const steps = clockSteps(undefined, c.context, policy);
    expect(steps).toEqual<ClockStep[]>([
      { deadline: 'firstResponse', step: 'armed', at: T0, clause: '3.1.3', epoch: 1, dueAt: T0 + 15 * MIN },
      {
        deadline: 'initialNotice',
        step: 'armed',
        at: T0,
        clause: '3.1.3',
        epoch: 2,
        calendar: 'cs_hours@1',
        dueAt: c.context.deadlines.initialNotice?.dueAt as number,
      },
    ]);
  });

  it('reports a warning, then met', () => {
    const c = new PureCase({}, policy, T0);
    const clock = c.context.deadlines.firstResponse;
    const warning = stepsOf(c, () =>
      c.send({ type: 'DEADLINE', name: 'firstResponse', epoch: 1, warning: 0 }, clock?.warnAt as number),
    );
    expect(warning.steps).toEqual([
      expect.objectContaining({ deadline: 'firstResponse', step: 'warning', warning: 0 }),
    ]);
    expect(stepsOf(c, () => c.send({ type: 'RESPOND' })).pairs).toEqual([['firstResponse', 'met']]);
  });

  it('reports a pause with what is left and its reason, and the resume with the new due time (6.2)', () => {
    const c = new PureCase({}, policy, T0);
    c.send(VERIFY, T0 + MIN);
    const paused = stepsOf(c, () =>
      c.send({ type: 'PAUSE', reason: 'customer_caused', note: 'x' }, T0 + 2 * MIN, AGENT),
    );
    expect(paused.steps.map((s) => [s.deadline, s.step, s.reason, s.clause, s.dueAt])).toEqual([
      ['firstResponse', 'paused', 'customer_caused', '6.2', undefined],
      ['initialNotice', 'paused', 'customer_caused', '6.2', undefined],
    ]);
    expect(paused.steps[0]?.remainingMs).toBe(13 * MIN);
    const resumed = stepsOf(c, () => c.send({ type: 'RESUME' }, T0 + 60 * MIN, AGENT));
    expect(resumed.steps.map((s) => [s.deadline, s.step, s.reason])).toEqual([
      ['firstResponse', 'resumed', 'customer_caused'],
      ['initialNotice', 'resumed', 'customer_caused'],
    ]);
    expect(resumed.steps[0]?.dueAt).toBe(T0 + 73 * MIN);
  });

  it('reports a due date moved by hand', () => {
    const c = new PureCase({}, policy, T0);
    const dueAt = new Date(T0 + 30 * MIN).toISOString();
    const moved = stepsOf(c, () =>
      c.send(
        { type: 'MOVE_DUE', deadline: 'firstResponse', dueAt, reason: 'asked', clause: '6.1' },
        T0 + MIN,
        SUPERVISOR,
      ),
    );
    expect(moved.steps).toEqual([
      expect.objectContaining({ deadline: 'firstResponse', step: 'moved', dueAt: T0 + 30 * MIN }),
    ]);
  });

  it('reports the breach hidden in a climb of the ladder before the new rung’s arming', () => {
    const c = new PureCase({ flags: ['legal_dispute'] }, policy, T0);
    const handoff = c.context.deadlines.handoff;
    const climbed = stepsOf(c, () => c.fire('handoff'));
    expect(climbed.steps.map((s) => [s.deadline, s.step, s.epoch])).toEqual([
      ['handoff', 'breached', handoff?.epoch],
      ['handoff', 'armed', (handoff?.epoch as number) + 1],
    ]);
    expect(climbed.steps[0]?.dueAt).toBe(handoff?.dueAt);
  });

  it('reports a cancelled clock, and a breach turned into excused by an outage (6.2)', () => {
    const c = new PureCase({}, policy, T0);
    const breach = stepsOf(c, () => c.fire('firstResponse'));
    expect(breach.pairs).toEqual([
      ['firstResponse', 'breached'],
      ['initialNotice', 'met'],
      ['handoff', 'armed'],
    ]);
    const outage = { id: 'o1', start: T0 + 5 * MIN, end: T0 + 30 * MIN, reason: 'system_failure' as const };
    const excused = stepsOf(c, () =>
      c.send({ type: 'EXCUSE', outage }, T0 + 40 * MIN, { name: 'ops', role: 'system' }),
    );
    expect(excused.steps).toEqual([
      expect.objectContaining({ deadline: 'firstResponse', step: 'excused', reason: 'outage o1', clause: '6.2' }),
    ]);
    const closed = new PureCase({}, policy, T0);
    closed.send(VERIFY);
    closed.send({ type: 'COORDINATE', department: 'finance', request: 'x' });
    const escalated = stepsOf(closed, () => closed.send({ type: 'FLAG', flag: 'legal_dispute' }));
    expect(escalated.pairs).toContainEqual(['coordination', 'cancelled']);
  });
});

describe('clockSteps on a re-route', () => {
  it('reports the cancelled hand-off before the new department’s arming (2.3.4)', () => {
    const c = new PureCase({}, policy, T0);
    c.fire('firstResponse');
    const handoff = c.context.deadlines.handoff;
    const rerouted = stepsOf(c, () => c.send({ type: 'FLAG', flag: 'legal_dispute' }, T0 + 20 * MIN));
    expect(rerouted.steps.map((s) => [s.deadline, s.step, s.epoch])).toEqual([
      ['handoff', 'cancelled', handoff?.epoch],
      ['handoff', 'armed', (handoff?.epoch as number) + 1],
    ]);
  });
});
