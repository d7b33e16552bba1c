import type { CasePolicy, MachineEvent } from './types.ts';

// The clause of the agreement that grounds each accepted event (5.1): the audit trail cites it.
const EVENT_CLAUSE: Record<string, string> = {
  RESPOND: '3.1.3',
  VERIFY: '2.2.2',
  RESOLVE: '3.2.1',
  COORDINATE: '3.2.2',
  DEPARTMENT_REPLY: '3.2.2',
  ESCALATE: '3.2.3',
  FLAG: '1',
  HANDOFF_ACCEPT: '3.2.3',
  ESCALATION_RESOLVE: '3.2.3',
  REQUEST_INFO: '6.2',
  CUSTOMER_REPLY: '6.2',
  CLOSE: '3.2.1',
  REOPEN: '3.1.3',
  SURVEY_RESULT: '2.2.5',
  PAUSE: '6.2',
  RESUME: '6.2',
  OUTAGE_END: '6.2',
  EXCUSE: '6.2',
  MIGRATE: '6.1',
};

export function clauseOf(policy: CasePolicy, event: MachineEvent): string {
  if (event.type === 'DEADLINE') return policy.deadlines[event.name]?.clause ?? '3.1.3';
  if (event.type === 'RESOLVE' && event.adjustment) return '2.2.4';
  if (event.type === 'MOVE_DUE') return event.clause;
  return EVENT_CLAUSE[event.type] ?? '5.1';
}

/** Why an event is not allowed in a state at all: the step of article 3 it skips. */
export const OUT_OF_ORDER_CLAUSE: Record<string, string> = {
  RESOLVE: '3.2',
  COORDINATE: '3.2',
  DEPARTMENT_REPLY: '3.2.2',
  HANDOFF_ACCEPT: '3.2.3',
  ESCALATION_RESOLVE: '3.2.3',
  ESCALATE: '2.2.6',
  SURVEY_RESULT: '2.2.5',
};
