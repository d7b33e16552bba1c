import { compareMoney, type Money } from '../src/domain/money.ts';
import { AMOUNT_BOUND_CATEGORIES, type Role, TRIGGERS, type Trigger } from '../src/domain/vocabulary.ts';
import type { CaseContext, CasePolicy, MachineEvent, Refusal } from './types.ts';

// The authority rules of articles 1 and 2, as pure functions returning the reason for a refusal.
// The machine's guards and the engine's explanation of a refusal use the same functions.

/** 2.3.x: the clause that forbids CS to resolve a case carrying this trigger. */
export const FLAG_CLAUSE: Record<Trigger, string> = {
  legal_dispute: '2.3.4',
  core_term_change: '2.3.1',
  major_breach: '2.3.3',
  customer_requests_management: '1',
  beyond_authority: '2.3.2',
  deadline_missed: '3.1.3',
};

/**
 * 1.4: "金额在[…]以下" — in the agreement's language (and PRC Civil Code art. 1259) "以下" includes
 * the stated figure, so an amount equal to the limit is within authority.
 */
export function withinLimit(policy: CasePolicy, amount: Money): boolean {
  const limit = policy.authority.amountLimit;
  return amount.currency === limit.currency && compareMoney(amount, limit) <= 0;
}

/** Triggers that hold from intake: those the caller set and those the authority matrix implies. */
export function intakeFlags(policy: CasePolicy, ctx: Pick<CaseContext, 'open'>): Trigger[] {
  const flags = new Set<Trigger>(ctx.open.flags ?? []);
  const { category, amount } = ctx.open;
  if (!policy.authority.categories.includes(category)) flags.add('beyond_authority'); // 1.5, 2.3.2
  if (AMOUNT_BOUND_CATEGORIES.includes(category) && amount && !withinLimit(policy, amount)) {
    flags.add('beyond_authority'); // 1.4
  }
  return TRIGGERS.filter((t) => flags.has(t));
}

/** The most severe trigger decides the route. */
export function leadingTrigger(flags: readonly Trigger[]): Trigger | undefined {
  return TRIGGERS.find((t) => flags.includes(t));
}

type Ev<T extends MachineEvent['type']> = Extract<MachineEvent, { type: T }>;

export function resolveRefusal(policy: CasePolicy, ctx: CaseContext, event: Ev<'RESOLVE'>): Refusal | undefined {
  const flag = leadingTrigger(ctx.flags);
  if (flag) {
    return {
      code: 'ESCALATION_REQUIRED',
      message: `the case is flagged ${flag}: customer service may not resolve it, only escalate`,
      clause: FLAG_CLAUSE[flag],
    };
  }
  if (!policy.authority.categories.includes(ctx.open.category)) {
    return {
      code: 'CATEGORY_NOT_AUTHORIZED',
      message: `category ${ctx.open.category} is not among the categories the contract authorizes`,
      clause: '2.3.2',
    };
  }
  const limit = policy.authority.amountLimit;
  if (AMOUNT_BOUND_CATEGORIES.includes(ctx.open.category) && ctx.open.amount && !withinLimit(policy, ctx.open.amount)) {
    return {
      code: 'AUTHORITY_EXCEEDED',
      message: `claimed ${ctx.open.amount.amount} ${ctx.open.amount.currency} is above the limit of ${limit.amount} ${limit.currency}`,
      clause: '1.4',
    };
  }
  const adjustment = event.adjustment;
  if (adjustment && adjustment.currency !== limit.currency) {
    return {
      code: 'CURRENCY_MISMATCH',
      message: `adjustment.currency ${adjustment.currency} differs from the limit's currency ${limit.currency}`,
      clause: '2.2.4',
    };
  }
  if (adjustment && !withinLimit(policy, adjustment)) {
    return {
      code: 'AUTHORITY_EXCEEDED',
      message: `adjustment ${adjustment.amount} ${adjustment.currency} is above the limit of ${limit.amount} ${limit.currency}`,
      clause: '2.2.4',
    };
  }
  return undefined;
}

export function coordinateRefusal(policy: CasePolicy, event: Ev<'COORDINATE'>): Refusal | undefined {
  if (event.department in policy.departments) return undefined;
  return {
    code: 'UNKNOWN_DEPARTMENT',
    message: `department ${event.department} is not defined by contract ${policy.contract.id}`,
    clause: '3.2.2',
  };
}

export function departmentReplyRefusal(ctx: CaseContext, event: Ev<'DEPARTMENT_REPLY'>): Refusal | undefined {
  if (ctx.coordination?.department === event.department) return undefined;
  return {
    code: 'WRONG_DEPARTMENT',
    message: `the case is coordinating with ${ctx.coordination?.department ?? 'no department'}, not ${event.department}`,
    clause: '3.2.2',
  };
}

/** ESCALATE names its recommended route: a trigger of clause 1 or a department of the contract. */
export function escalationTarget(policy: CasePolicy, recommendation: string) {
  if ((TRIGGERS as readonly string[]).includes(recommendation)) {
    const trigger = recommendation as Trigger;
    return { trigger, department: policy.escalation.routes[trigger] };
  }
  if (recommendation in policy.departments) {
    return { trigger: 'beyond_authority' as const, department: recommendation };
  }
  return undefined;
}

export function escalateRefusal(policy: CasePolicy, event: Ev<'ESCALATE'>): Refusal | undefined {
  if (escalationTarget(policy, event.recommendation)) return undefined;
  return {
    code: 'UNKNOWN_ROUTE',
    message: `recommendation ${event.recommendation} is neither a trigger nor a department of contract ${policy.contract.id}`,
    clause: '3.2.3',
  };
}

export function handoffRefusal(ctx: CaseContext, event: Ev<'HANDOFF_ACCEPT'>): Refusal | undefined {
  const escalation = ctx.escalation;
  if (escalation?.status !== 'pending') {
    return { code: 'HANDOFF_NOT_PENDING', message: 'the hand-off was already accepted', clause: '3.2.3' };
  }
  if (escalation.department !== event.department) {
    return {
      code: 'WRONG_DEPARTMENT',
      message: `the case is handed to ${escalation.department}, not ${event.department}`,
      clause: '3.2.3',
    };
  }
  return undefined;
}

/** A timer fires only for the arming it belongs to, and never before its due time; a warning only once. */
export function deadlineRefusal(ctx: CaseContext, event: Ev<'DEADLINE'>): Refusal | undefined {
  const clock = ctx.deadlines[event.name];
  const warning = event.warning;
  if (
    clock?.status !== 'armed' ||
    clock.epoch !== event.epoch ||
    (warning !== undefined && (clock.warnAt === undefined || (clock.warned ?? 0) !== warning))
  ) {
    return {
      code: 'STALE_TIMER',
      message: `deadline ${event.name} epoch ${event.epoch}${warning === undefined ? '' : ` warning ${warning}`} is no longer armed`,
      clause: '3.1.3',
    };
  }
  const due = warning === undefined ? clock.dueAt : (clock.warnAt as number);
  if (event.at < due) {
    return {
      code: 'TIMER_EARLY',
      message: `deadline ${event.name}${warning === undefined ? '' : ` warning ${warning}`} is due at ${new Date(due).toISOString()}`,
      clause: '3.1.3',
    };
  }
  return undefined;
}

/** 6.2: only the reasons the clause allows, by the roles the policy allows, and not twice for one reason. */
export function pauseRefusal(policy: CasePolicy, ctx: CaseContext, event: Ev<'PAUSE'>): Refusal | undefined {
  const roles = policy.pauses?.[event.reason] ?? [];
  if (!roles.includes(event.actor.role as Role)) {
    return {
      code: 'PAUSE_NOT_ALLOWED',
      message: `role ${event.actor.role} may not pause the clocks for ${event.reason}; the contract allows ${roles.join(', ') || 'no role'}`,
      clause: '6.2',
    };
  }
  if (ctx.holds?.some((h) => h.reason === event.reason && h.outage === undefined)) {
    return { code: 'ALREADY_PAUSED', message: `the clocks are already paused for ${event.reason}`, clause: '6.2' };
  }
  return undefined;
}

/** Ends the pauses made with PAUSE; the role must be one that may pause for each of their reasons. */
export function resumeRefusal(policy: CasePolicy, ctx: CaseContext, event: Ev<'RESUME'>): Refusal | undefined {
  const manual = (ctx.holds ?? []).filter((h) => h.reason !== 'waiting_on_customer' && h.outage === undefined);
  if (manual.length === 0) {
    const why = ctx.holds?.[0];
    return {
      code: 'NOT_PAUSED',
      message: why
        ? `the clocks stand still for ${why.outage ? `outage ${why.outage}` : why.reason}, which RESUME does not end`
        : 'the clocks are not paused',
      clause: '6.2',
    };
  }
  const role = event.actor.role as Role;
  const denied = manual.find((h) => !(policy.pauses?.[h.reason] ?? []).includes(role));
  if (denied) {
    return {
      code: 'PAUSE_NOT_ALLOWED',
      message: `role ${role} may not end a pause for ${denied.reason}`,
      clause: '6.2',
    };
  }
  return undefined;
}

/** A due date moves only by a permitted role, to a future time, on a running deadline. */
export function moveDueRefusal(policy: CasePolicy, ctx: CaseContext, event: Ev<'MOVE_DUE'>): Refusal | undefined {
  const roles = policy.dueDateOverride?.roles ?? [];
  if (!roles.includes(event.actor.role as Role)) {
    return {
      code: 'OVERRIDE_NOT_ALLOWED',
      message: `role ${event.actor.role} may not move a due date; the contract allows ${roles.join(', ') || 'no role'}`,
      clause: '6.1',
    };
  }
  const clock = ctx.deadlines[event.deadline];
  if (clock?.status !== 'armed' && clock?.status !== 'paused') {
    return {
      code: 'DEADLINE_NOT_RUNNING',
      message: `deadline ${event.deadline} is ${clock ? clock.status : 'not armed on this case'}`,
      clause: event.clause,
    };
  }
  if (Date.parse(event.dueAt) <= event.at) {
    return { code: 'DUE_IN_PAST', message: `dueAt ${event.dueAt} is not in the future`, clause: event.clause };
  }
  return undefined;
}
