import type { Actor, CaseContext, MachineEvent } from '../../machines/types.ts';
import { Forbidden } from '../domain/errors.ts';

// 2.3.2 / 6.1: who may send which event. Every action records who acted and in what role.
const CS_EVENTS = [
  'RESPOND',
  'VERIFY',
  'RESOLVE',
  'COORDINATE',
  'ESCALATE',
  'FLAG',
  'REQUEST_INFO',
  'CUSTOMER_REPLY',
  'CLOSE',
  'REOPEN',
  'SURVEY_RESULT',
  'PAUSE',
  'RESUME',
  'MOVE_DUE',
];
const DEPARTMENT_EVENTS = ['DEPARTMENT_REPLY', 'HANDOFF_ACCEPT', 'ESCALATION_RESOLVE', 'FLAG'];

const ALLOWED: Record<Actor['role'], ReadonlySet<string>> = {
  service: new Set([...CS_EVENTS, ...DEPARTMENT_EVENTS]),
  agent: new Set(CS_EVENTS),
  supervisor: new Set(CS_EVENTS),
  department: new Set(DEPARTMENT_EVENTS),
  // 6.2: ops declare force majeure and system failures; the policy's `pauses` narrows every role further.
  ops: new Set(['PAUSE', 'RESUME', 'MOVE_DUE']),
  auditor: new Set(),
  system: new Set(['DEADLINE', 'OUTAGE_END', 'EXCUSE']),
};

export const OPENING_ROLES: ReadonlySet<Actor['role']> = new Set(['service', 'agent', 'supervisor']);

export function authorizeOpen(actor: Actor): void {
  if (!OPENING_ROLES.has(actor.role)) {
    throw new Forbidden(`role ${actor.role} may not open cases`, '2.1');
  }
}

export function authorize(actor: Actor, event: MachineEvent, context: CaseContext): void {
  if (!ALLOWED[actor.role].has(event.type)) {
    const clause =
      event.type === 'DEADLINE' ? '3.1.3' : event.type === 'PAUSE' || event.type === 'RESUME' ? '6.2' : '6.1';
    throw new Forbidden(`role ${actor.role} may not send ${event.type}`, clause);
  }
  if (actor.role !== 'department') return;
  // 4.1: a department acts only on what is routed to it, and only in its own name.
  const own = actor.department;
  if ('department' in event && event.department !== own) {
    throw new Forbidden(`department ${own} may not act as ${event.department}`, '4.1');
  }
  const escalation = context.escalation;
  const routedHere =
    (escalation?.department === own && escalation?.status !== 'resolved') || context.coordination?.department === own;
  if (!routedHere) throw new Forbidden(`the case is not routed to department ${own}`, '4.1');
}
