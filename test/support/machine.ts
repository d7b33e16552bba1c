import { initialTransition, transition } from 'xstate';
import { type CaseMachine, createCaseMachine } from '../../machines/case.machine.ts';
import { explainRefusal } from '../../machines/refusals.ts';
import { pureInitialTransition, pureTransition } from '../../machines/transition.ts';
import type { Actor, CaseContext, MachineEvent, Refusal } from '../../machines/types.ts';
import type { CaseEvent, OpenCase } from '../../src/domain/events.ts';
import type { Policy } from '../../src/policy/policy.ts';
import { openCase, testPolicy } from './policy.ts';

/** What an executable action means, without the actor scope it ran in. */
const essentials = (actions: readonly { type: string; params?: unknown }[]) =>
  actions.map((a) => ({ type: a.type, params: a.params }));

const machines = new WeakMap<Policy, CaseMachine>();
function machineOf(policy: Policy): CaseMachine {
  let machine = machines.get(policy);
  if (!machine) {
    machine = createCaseMachine(policy);
    machines.set(policy, machine);
  }
  return machine;
}

export const T0 = Date.parse('2026-11-25T09:00:00+08:00');
export const AGENT: Actor = { name: 'agent-li', role: 'agent' };
export const SYSTEM: Actor = { name: 'timers', role: 'system' };

export type Snap = ReturnType<typeof initialTransition<CaseMachine>>[0];

/** The machine on a pure, fake clock: what the engine does, minus Redis. */
export class PureCase {
  readonly policy: Policy;
  readonly machine: CaseMachine;
  snapshot: Snap;
  actions: { type: string; params?: unknown }[];

  constructor(open: Partial<OpenCase> = {}, policy: Policy = testPolicy(), at = T0) {
    this.policy = policy;
    // One machine per policy, shared by every case under it, as the engine does.
    this.machine = machineOf(policy);
    const [snapshot, actions] = initialTransition(this.machine, {
      caseId: 'c-test',
      open: openCase(open as Record<string, unknown>) as OpenCase,
      at,
    });
    this.snapshot = snapshot;
    this.actions = actions as { type: string; params?: unknown }[];
    const input = { caseId: 'c-test', open: openCase(open as Record<string, unknown>) as OpenCase, at };
    const [mine, myActions] = pureInitialTransition(this.machine, input);
    if (
      JSON.stringify([mine.value, mine.context, essentials(myActions)]) !==
      JSON.stringify([snapshot.value, snapshot.context, essentials(actions as never)])
    ) {
      throw new Error("pureInitialTransition differs from XState's initialTransition");
    }
  }

  get state(): string {
    return String(this.snapshot.value);
  }

  get context(): CaseContext {
    return this.snapshot.context;
  }

  /** Sends an event at a time (default: one minute after the last change); returns the refusal, if any. */
  send(event: CaseEvent, at = this.context.updatedAt + 60_000, actor: Actor = AGENT): Refusal | undefined {
    const machineEvent = { ...event, at, actor } as MachineEvent;
    // Round-trip through JSON, as the store does, so every step also proves the snapshot restores.
    const restored = this.machine.resolveState(
      JSON.parse(JSON.stringify({ value: this.snapshot.value, context: this.context })),
    );
    const [next, actions] = transition(this.machine, restored, machineEvent);
    // The engine's transition (machines/transition.ts) must be XState's, step for step.
    const [mine, myActions] = pureTransition(this.machine, restored, machineEvent);
    if (
      JSON.stringify([mine.value, mine.context, essentials(myActions)]) !==
        JSON.stringify([next.value, next.context, essentials(actions as never)]) ||
      (mine.context === restored.context) !== (next.context === restored.context)
    ) {
      throw new Error(`pureTransition differs from XState's transition on ${event.type} in ${this.state}`);
    }
    if (next.context === restored.context) {
      return explainRefusal(this.machine, this.policy, this.state, this.context, machineEvent);
    }
    this.snapshot = next;
    this.actions = actions as { type: string; params?: unknown }[];
    return undefined;
  }

  /** Fires a deadline at its due time (or `late` ms after). */
  fire(name: string, late = 0): Refusal | undefined {
    const clock = this.context.deadlines[name];
    if (!clock) throw new Error(`deadline ${name} was never armed`);
    return this.send({ type: 'DEADLINE', name, epoch: clock.epoch }, clock.dueAt + late, SYSTEM);
  }

  effects(): string[] {
    return this.actions.map((a) =>
      a.type === 'notifyCustomer' ? `notifyCustomer:${(a.params as { kind: string }).kind}` : a.type,
    );
  }
}

export const VERIFY = { type: 'VERIFY', identityVerified: true, serviceUsageConfirmed: true } as const;

/** Events worth trying from a snapshot: the generator of model-based paths and property tests. */
export function candidateEvents(context: CaseContext): CaseEvent[] {
  const events: CaseEvent[] = [
    { type: 'RESPOND' },
    VERIFY,
    { type: 'RESOLVE', resolution: 'answered' },
    { type: 'RESOLVE', resolution: 'waived', adjustment: { amount: '120.00', currency: 'CNY' } },
    { type: 'RESOLVE', resolution: 'waived', adjustment: { amount: '900.00', currency: 'CNY' } },
    { type: 'COORDINATE', department: 'finance', request: 'check the invoice' },
    { type: 'DEPARTMENT_REPLY', department: 'finance', reply: 'invoice corrected' },
    {
      type: 'ESCALATE',
      reason: 'beyond CS',
      preliminaryJudgment: 'needs contract terms',
      recommendation: 'core_term_change',
    },
    { type: 'FLAG', flag: 'legal_dispute' },
    { type: 'REQUEST_INFO', request: 'send the invoice number' },
    { type: 'CUSTOMER_REPLY' },
    { type: 'ESCALATION_RESOLVE', outcome: 'settled' },
    { type: 'CLOSE' },
    { type: 'REOPEN', reason: 'not fixed' },
    { type: 'SURVEY_RESULT', score: 4 },
    { type: 'PAUSE', reason: 'customer_caused', note: 'documents missing' },
    { type: 'RESUME' },
  ];
  if (context.escalation) events.push({ type: 'HANDOFF_ACCEPT', department: context.escalation.department });
  for (const [name, clock] of Object.entries(context.deadlines)) {
    if (clock.status === 'armed') events.push({ type: 'DEADLINE', name, epoch: clock.epoch });
    if (clock.status === 'armed' && clock.warnAt !== undefined) {
      events.push({ type: 'DEADLINE', name, epoch: clock.epoch, warning: clock.warned ?? 0 });
    }
  }
  return events;
}

/** The time an event happens at in generated paths: deadlines at their due time, others a minute on. */
export function timeFor(context: CaseContext, event: CaseEvent): number {
  if (event.type === 'DEADLINE') {
    const clock = context.deadlines[event.name];
    return (event.warning === undefined ? clock?.dueAt : clock?.warnAt) ?? context.updatedAt;
  }
  return context.updatedAt + 60_000;
}
