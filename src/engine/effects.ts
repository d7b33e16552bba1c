import type { NoticeKind, WarningNotice } from '../../machines/case.machine.ts';
import { nextDue } from '../../machines/clocks.ts';
import type { CaseContext } from '../../machines/types.ts';
import { localTime, type NoticeStatus, renderNotice } from '../notify/templates.ts';
import type { Policy } from '../policy/policy.ts';

// Step 4 of apply(): what must happen outside the case record, written to the outbox in the same commit.

export interface Delivery {
  readonly kind: 'deliver';
  /** Deterministic by meaning (`<case>.handoff.<seq>`, `<case>.notice.<version>`): the `webhook-id`, kept across retries. */
  readonly id: string;
  readonly caseId: string;
  readonly contractId: string;
  readonly policyVersion: number;
  readonly target:
    | { readonly kind: 'department'; readonly department: string }
    | { readonly kind: 'customer' }
    /** The customer-service team (`notices.owner`): deadline warnings while it owns the case. */
    | { readonly kind: 'owner' };
  readonly body: Record<string, unknown>;
}
/** A timer that may already be in BullMQ (due within the promotion horizon) and must be removed. */
export interface TimerCancel {
  readonly kind: 'timer.cancel';
  readonly caseId: string;
  readonly name: string;
  readonly epoch: number;
  readonly warning?: number;
}

/** What the outbox carries: deliveries and late cancels. (Timers are committed to the partition's `timers` set.) */
export type OutboxEntry = Delivery | TimerCancel;

/**
 * The outbox entry of a delivery whose record the commit wrote: what the dispatcher needs to queue its
 * notify job (the partition comes from the stream). Entries committed before records were written by the
 * commit carry the whole delivery instead, and the dispatcher writes their record.
 */
export interface DeliveryReference {
  readonly kind: 'deliver';
  readonly id: string;
  readonly caseId: string;
  /** The body's `type`: the notify job's name. */
  readonly type: string;
  readonly recorded: true;
}

/** What an outbox stream holds: a delivery's reference (its record written by the commit), a whole delivery
 *  committed before that (its record written by the dispatcher), or a late timer cancel. */
export type StreamEntry = OutboxEntry | DeliveryReference;

/**
 * The case's wake-up timer moved: if the old one is due within the promotion horizon it may already be
 * a BullMQ job, so it is cancelled there too (a missed cancel is still harmless: the epoch check drops it).
 */
export function timerCancels(
  before: CaseContext | undefined,
  after: CaseContext,
  at: number,
  horizonMs: number,
  fired?: { readonly name: string; readonly epoch: number; readonly warning?: number },
): TimerCancel[] {
  const was = before ? nextDue(before.deadlines) : undefined;
  if (!was || was.dueAt > at + horizonMs) return [];
  const now = nextDue(after.deadlines);
  if (now?.name === was.name && now.epoch === was.epoch && now.warning === was.warning) return [];
  // The job that is firing completes by itself.
  if (fired?.name === was.name && fired.epoch === was.epoch && fired.warning === was.warning) return [];
  return [
    {
      kind: 'timer.cancel',
      caseId: after.caseId,
      name: was.name,
      epoch: was.epoch,
      ...(was.warning === undefined ? {} : { warning: was.warning }),
    },
  ];
}

const iso = (ms: number) => new Date(ms).toISOString();

export function handoffDeliveryId(caseId: string, seq: number): string {
  return `${caseId}.handoff.${seq}`;
}

/**
 * 4.1 need-to-know, the same rule as the department's view of the case (src/privacy/projection.ts): only
 * the customer and request fields its policy entry lists, and the customer's pseudonymous id. A department
 * that lists none receives none (the policy requires a list from every department with a webhook).
 */
function projectPackage(policy: Policy, department: string, full: HandoffPackage): HandoffPackage {
  const allowed = new Set(policy.departments[department]?.fields ?? []);
  const customer = Object.fromEntries(
    Object.entries(full.customer).filter(([k]) => k === 'id' || allowed.has(`customer.${k}`)),
  ) as HandoffPackage['customer'];
  const request = Object.fromEntries(
    Object.entries(full.request).filter(([k]) => allowed.has(k) || k === 'category' || k === 'channel'),
  ) as HandoffPackage['request'];
  // 3.2.3: the preliminary judgment and the recommended escalation are always part of the package;
  // the field list narrows the customer's data and the request details.
  return { customer, request, preliminaryJudgment: full.preliminaryJudgment, recommendation: full.recommendation };
}

interface HandoffPackage {
  customer: Partial<CaseContext['open']['customer']>;
  request: Record<string, unknown>;
  preliminaryJudgment: string;
  recommendation: string;
}

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
  const push = (id: string, target: Delivery['target'], body: Record<string, unknown>) => {
    deliveries.push({ kind: 'deliver', id, ...base, target, body });
  };
  for (const action of actions) {
    if (action.type === 'handOff' && ctx.escalation) {
      push(
        handoffDeliveryId(ctx.caseId, ctx.escalation.seq),
        { kind: 'department', department: ctx.escalation.department },
        handoffBody(policy, ctx),
      );
    } else if (action.type === 'requestCoordination' && ctx.coordination) {
      push(
        `${ctx.caseId}.coordination.${version}`,
        { kind: 'department', department: ctx.coordination.department },
        {
          type: 'coordination_request',
          ...base,
          clause: '3.2.2',
          ask: ctx.coordination.request,
          // 4.1: the same need-to-know projection as a hand-off.
          request: projectPackage(policy, ctx.coordination.department, {
            customer: {},
            ...request(ctx),
            preliminaryJudgment: '',
            recommendation: '',
          }).request,
        },
      );
    } else if (action.type === 'notifyOwner') {
      const { name, warning } = action.params as WarningNotice;
      const clock = ctx.deadlines[name];
      if (!clock) continue;
      // The owner: the department a hand-off waits on, else the customer-service team.
      const department = name === 'handoff' ? ctx.escalation?.department : undefined;
      push(
        `${ctx.caseId}.warning.${name}.${clock.epoch}.${warning}`,
        department ? { kind: 'department', department } : { kind: 'owner' },
        {
          type: 'deadline_warning',
          ...base,
          clause: policy.deadlines[name]?.clause ?? '3.1.3',
          deadline: name,
          warning,
          fraction: policy.deadlines[name]?.warnAt[warning],
          dueAt: iso(clock.dueAt),
          owner: department ?? 'customer_service',
        },
      );
    } else if (action.type === 'notifyCustomer') {
      const kind = (action.params as { kind: NoticeKind }).kind;
      push(`${ctx.caseId}.notice.${version}`, { kind: 'customer' }, customerNotice(policy, ctx, kind));
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
    package: projectPackage(policy, e.department, {
      customer: ctx.open.customer,
      ...request(ctx),
      preliminaryJudgment: e.preliminaryJudgment,
      recommendation: e.recommendation,
    }),
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
  const locale = policy.notices?.customer?.locale ?? 'zh-CN';
  const expectedBy =
    'expectedBy' in notice && notice.expectedBy ? localTime(Date.parse(notice.expectedBy), policy.timezone) : '';
  const text = renderNotice(
    locale,
    notice.status as NoticeStatus,
    {
      caseId: ctx.caseId,
      department: 'handledBy' in notice ? notice.handledBy : '',
      expectedBy,
      contact: 'contact' in notice ? notice.contact : '',
      resolution: 'resolution' in notice ? notice.resolution : '',
    },
    policy.notices?.customer?.templates,
  );
  return {
    type: 'customer_notice',
    caseId: ctx.caseId,
    contractId: policy.contract.id,
    clause: notice.clause,
    locale,
    customer: { id: ctx.open.customer.id, channel: ctx.open.channel },
    notice: { ...notice, text },
  };
}
