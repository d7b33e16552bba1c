import type { CaseMachine } from './case.machine.ts';
import { OUT_OF_ORDER_CLAUSE } from './clauses.ts';
import {
  coordinateRefusal,
  deadlineRefusal,
  departmentReplyRefusal,
  escalateRefusal,
  handoffRefusal,
  moveDueRefusal,
  pauseRefusal,
  resolveRefusal,
  resumeRefusal,
} from './rules.ts';
import type { CaseContext, CasePolicy, MachineEvent, Refusal } from './types.ts';

/** The events each state handles, read from the machine definition itself. */
export function eventsHandledIn(machine: CaseMachine, state: string): string[] {
  const node = machine.states[state as keyof typeof machine.states];
  return node ? Object.keys(node.on) : [];
}

/** Explains, with its clause, why the machine did not accept `event` in `state`. */
export function explainRefusal(
  machine: CaseMachine,
  policy: CasePolicy,
  state: string,
  context: CaseContext,
  event: MachineEvent,
): Refusal {
  // A timer's own rule comes first: a paused or replaced clock makes any firing stale, whatever the state.
  const timer = event.type === 'DEADLINE' ? deadlineRefusal(context, event) : undefined;
  if (timer) return timer;
  if (!eventsHandledIn(machine, state).includes(event.type)) {
    return {
      code: 'INVALID_TRANSITION',
      message: `${event.type} is not allowed while the case is ${state}`,
      clause: OUT_OF_ORDER_CLAUSE[event.type] ?? '3.2',
    };
  }
  const reason = (() => {
    switch (event.type) {
      case 'RESOLVE':
        return resolveRefusal(policy, context, event);
      case 'COORDINATE':
        return coordinateRefusal(policy, event);
      case 'DEPARTMENT_REPLY':
        return departmentReplyRefusal(context, event);
      case 'ESCALATE':
        return escalateRefusal(policy, event);
      case 'HANDOFF_ACCEPT':
        return handoffRefusal(context, event);
      case 'DEADLINE':
        return deadlineRefusal(context, event);
      case 'PAUSE':
        return pauseRefusal(policy, context, event);
      case 'RESUME':
        return resumeRefusal(policy, context, event);
      case 'MOVE_DUE':
        return moveDueRefusal(policy, context, event);
      default:
        return undefined;
    }
  })();
  return reason ?? { code: 'INVALID_TRANSITION', message: `${event.type} is not allowed now`, clause: '5.1' };
}
