import type { NoticeKind } from '../../machines/case.machine.ts';
import { nextDue } from '../../machines/clocks.ts';
import type { CaseContext } from '../../machines/types.ts';
import type { Policy } from '../policy/policy.ts';

// Step 4 of apply(): what must happen outside the case record, written to the outbox in the same commit.

export interface TimerArm {
  readonly kind: 'timer.arm';
  readonly caseId: string;
  readonly name: string;
  readonly epoch: number;
  readonly dueAt: number;
}
export interface TimerCancel {
  readonly kind: 'timer.cancel';
  readonly caseId: string;
  readonly name: string;
  readonly epoch: number;
}
export interface Delivery {
  readonly kind: 'deliver';
  /** Deterministic (case, version, index): the `webhook-id`, kept across retries. */
  readonly id: string;
  readonly caseId: string;
  readonly contractId: string;
  readonly policyVersion: number;
  readonly target: { readonly kind: 'department'; readonly department: string } | { readonly kind: 'customer' };
  readonly body: Record<string, unknown>;
}
export type OutboxEntry = TimerArm | TimerCancel | Delivery;

/** BullMQ forbids ':' and all-digit custom ids: case id, deadline and epoch joined with '.'. */
export function timerJobId(caseId: string, name: string, epoch: number): string {
  return `${caseId}.${name}.${epoch}`;
}

/** One wake-up timer per case, for its earliest armed deadline (DESIGN.md: the memory budget). */
export function timerEffects(caseId: string, before: CaseContext | undefined, after: CaseContext): OutboxEntry[] {
  const was = before ? nextDue(before.deadlines) : undefined;
  const now = nextDue(after.deadlines);
  if (was?.name === now?.name && was?.epoch === now?.epoch) return [];
  const entries: OutboxEntry[] = [];
  if (was) entries.push({ kind: 'timer.cancel', caseId, name: was.name, epoch: was.epoch });
  if (now) entries.push({ kind: 'timer.arm', caseId, name: now.name, epoch: now.epoch, dueAt: now.dueAt });
  return entries;
}

const iso = (ms: number) => new Date(ms).toISOString();

export interface EffectAction {
  readonly type: string;
  readonly params?: unknown;
}

export function deliveryEffects(
  policy: Policy,
  ctx: CaseContext,
  version: number,
  actions: readonly EffectAction[],
): Delivery[] {
  const base = { caseId: ctx.caseId, contractId: policy.contract.id, policyVersion: policy.contract.version };
  const deliveries: Delivery[] = [];
  const push = (target: Delivery['target'], body: Record<string, unknown>) => {
    deliveries.push({ kind: 'deliver', id: `${ctx.caseId}.${version}.${deliveries.length}`, ...base, target, body });
  };
  for (const action of actions) {
    if (action.type === 'handOff' && ctx.escalation) {
      push({ kind: 'department', department: ctx.escalation.department }, handoffBody(policy, ctx));
    } else if (action.type === 'requestCoordination' && ctx.coordination) {
      push(
        { kind: 'department', department: ctx.coordination.department },
        { type: 'coordination_request', ...base, clause: '3.2.2', ask: ctx.coordination.request, ...request(ctx) },
      );
    } else if (action.type === 'notifyCustomer') {
      const kind = (action.params as { kind: NoticeKind }).kind;
      push({ kind: 'customer' }, customerNotice(policy, ctx, kind));
    }
  }
  return deliveries;
}

function request(ctx: CaseContext) {
  const { category, channel, subject, description, amount, externalRef } = ctx.open;
  return {
    request: {
      category,
      channel,
      subject,
      description,
      ...(amount ? { amount } : {}),
      ...(externalRef ? { externalRef } : {}),
    },
  };
}

/** 3.2.3: customer information, request details, preliminary judgment and recommended escalation. */
function handoffBody(policy: Policy, ctx: CaseContext): Record<string, unknown> {
  const e = ctx.escalation as NonNullable<CaseContext['escalation']>;
  const handoff = ctx.deadlines.handoff;
  return {
    type: 'handoff',
    caseId: ctx.caseId,
    contractId: policy.contract.id,
    policyVersion: policy.contract.version,
    clause: e.clause === '1' ? '3.2.3' : e.clause,
    department: e.department,
    trigger: e.trigger,
    level: e.level,
    reason: e.reason,
    ...(handoff?.status === 'armed' ? { acceptBy: iso(handoff.dueAt) } : {}),
    package: {
      customer: ctx.open.customer,
      ...request(ctx),
      preliminaryJudgment: e.preliminaryJudgment,
      recommendation: e.recommendation,
    },
  };
}

/** 3.2.1 / 3.2.3: the customer is told it was received, is being handled, and when or whom to contact. */
function customerNotice(policy: Policy, ctx: CaseContext, kind: NoticeKind): Record<string, unknown> {
  const department = (id: string) => policy.departments[id]?.name ?? id;
  const notice =
    kind === 'escalated' && ctx.escalation
      ? {
          status: 'escalated',
          clause: '3.2.3',
          received: true,
          handledBy: department(ctx.escalation.department),
          ...(ctx.deadlines.handoff?.status === 'armed' ? { expectedBy: iso(ctx.deadlines.handoff.dueAt) } : {}),
          contact: department(ctx.escalation.department),
        }
      : kind === 'coordinating' && ctx.coordination
        ? {
            status: 'coordinating',
            clause: '3.2.2',
            received: true,
            handledBy: department(ctx.coordination.department),
            ...(ctx.deadlines.coordination?.status === 'armed'
              ? { expectedBy: iso(ctx.deadlines.coordination.dueAt) }
              : {}),
          }
        : { status: 'resolved', clause: '3.2.1', resolution: ctx.resolution?.text ?? '' };
  return {
    type: 'customer_notice',
    caseId: ctx.caseId,
    contractId: policy.contract.id,
    clause: notice.clause,
    locale: policy.notices?.customer?.locale ?? 'zh-CN',
    customer: { id: ctx.open.customer.id, channel: ctx.open.channel },
    notice,
  };
}
