import { type ClockStep, clockSteps } from '../../machines/steps.ts';
import type { CaseContext } from '../../machines/types.ts';
import { isoInZone } from '../domain/calendar.ts';
import { deliveryEffects, type EffectAction } from '../engine/effects.ts';
import type { Policy } from '../policy/policy.ts';
import { type Cause, isoDuration, type Snapshot, type TimelineEntry, type TimelineKind } from './timeline.ts';

// Writes the timeline: each step of the case, compared with the case before it, told as entries.

type Entry = Omit<TimelineEntry, 'at'>;

/** Within one step: the cause, then what the timer did, the state, the escalation, the clocks, the deliveries. */
const RANK: Record<TimelineKind, number> = {
  opened: 0,
  event: 0,
  refused: 0,
  warning: 1,
  breached: 1,
  excused: 1,
  state: 2,
  escalated: 3,
  met: 4,
  cancelled: 4,
  paused: 4,
  resumed: 4,
  moved: 4,
  armed: 4,
  handoff: 5,
  notice: 5,
};

const percent = (f: number) => `${Math.round(f * 1000) / 10} %`;

export class TimelineWriter {
  readonly entries: TimelineEntry[] = [];
  readonly #policy: Policy;

  constructor(policy: Policy) {
    this.#policy = policy;
  }

  when(ms: number): string {
    return isoInZone(ms, this.#policy.timezone);
  }

  /** Records a refused event: nothing changed. */
  refused(at: number, cause: Extract<Cause, { kind: 'event' }>, code: string, clause: string, message: string): void {
    this.entries.push({
      at: this.when(at),
      kind: 'refused',
      clause,
      detail: `${cause.summary} by ${cause.by}: ${code}: ${message}`,
      event: cause.type,
      by: cause.by,
      code,
    });
  }

  /** Records one accepted step: everything that changed between two snapshots of the case. */
  step(
    at: number,
    cause: Cause,
    before: Snapshot | undefined,
    after: Snapshot,
    actions: readonly EffectAction[],
  ): void {
    const time = this.when(at);
    const step = [
      ...this.#causeEntries(cause, after),
      ...this.#caseEntries(cause, before, after),
      ...clockSteps(before?.context, after.context, this.#policy).map((s) => this.#clockEntry(s, cause)),
      ...this.#deliveryEntries(after.context, actions),
    ];
    // The fields every entry has come first, in the same order (JSON readers see them so).
    const entries = step.map(({ kind, deadline, clause, detail, ...rest }) => ({
      at: time,
      kind,
      ...(deadline ? { deadline } : {}),
      clause,
      detail,
      ...rest,
    }));
    entries.sort((a, b) => RANK[a.kind] - RANK[b.kind]);
    this.entries.push(...entries);
  }

  #causeEntries(cause: Cause, after: Snapshot): Entry[] {
    if (cause.kind === 'opened') {
      const { channel, category } = after.context.open;
      const { id, version } = this.#policy.contract;
      return [
        {
          kind: 'opened',
          clause: after.state === 'escalated' ? '1' : '2.1',
          detail: `${channel}/${category} case for ${id} v${version}, state ${after.state}`,
          to: after.state,
        },
      ];
    }
    if (cause.kind !== 'event') return [];
    const detail = `${cause.summary} by ${cause.by}`;
    return [{ kind: 'event', clause: cause.clause, detail, event: cause.type, by: cause.by }];
  }

  /** The state and the escalation: a new hand-off (first, re-routed or a rung of the ladder). */
  #caseEntries(cause: Cause, before: Snapshot | undefined, after: Snapshot): Entry[] {
    const entries: Entry[] = [];
    if (before && before.state !== after.state) {
      const clause = this.#stateClause(cause, after);
      entries.push({
        kind: 'state',
        clause,
        detail: `${before.state} → ${after.state}`,
        from: before.state,
        to: after.state,
      });
    }
    const e = after.context.escalation;
    if (e && e.seq !== before?.context.escalation?.seq) {
      entries.push({
        kind: 'escalated',
        clause: e.clause,
        detail: `to ${e.department}, rung ${e.level} (${e.trigger})`,
        department: e.department,
        rung: e.level,
        trigger: e.trigger,
      });
    }
    return entries;
  }

  /** What the engine would write to its outbox for this step (src/engine/effects.ts), told as entries. */
  #deliveryEntries(ctx: CaseContext, actions: readonly EffectAction[]): Entry[] {
    const entries: Entry[] = [];
    for (const d of deliveryEffects(this.#policy, ctx, ctx.accepted, actions)) {
      const target = d.target.kind === 'department' ? d.target.department : d.target.kind;
      const body = d.body as { type?: string; clause?: string; notice?: { status?: string; expectedBy?: string } };
      const clause = body.clause ?? '3.2.3';
      if (body.type === 'handoff') {
        const due = ctx.deadlines.handoff;
        const by = due?.status === 'armed' ? `, accept by ${this.when(due.dueAt)}` : '';
        entries.push({ kind: 'handoff', clause, detail: `package to ${target}${by}`, target });
      } else if (body.type === 'customer_notice') {
        const expectedBy = body.notice?.expectedBy;
        const expected = expectedBy ? `, expected by ${this.when(Date.parse(expectedBy))}` : '';
        entries.push({ kind: 'notice', clause, detail: `customer told: ${body.notice?.status}${expected}`, target });
      } else if (body.type === 'coordination_request') {
        entries.push({ kind: 'notice', clause, detail: `coordination request to ${target}`, target });
      }
      // Warnings to the owner are the `warning` entries themselves.
    }
    return entries;
  }

  #stateClause(cause: Cause, after: Snapshot): string {
    if (cause.kind === 'event') return cause.clause;
    if (cause.kind === 'outage') return '6.2';
    return after.context.escalation?.clause ?? '3.1.3';
  }

  #clockEntry(s: ClockStep, cause: Cause): Entry {
    const rule = this.#policy.deadlines[s.deadline];
    const business = rule?.clock === 'business';
    const span = (ms: number) => isoDuration(ms, !business);
    const clock = business ? `working time on ${s.calendar ?? rule?.calendar}` : 'calendar time';
    const due = s.dueAt === undefined ? '' : this.when(s.dueAt);
    const base = {
      deadline: s.deadline,
      clause: s.clause,
      epoch: s.epoch,
      ...(s.dueAt === undefined ? {} : { dueAt: due }),
      ...(s.calendar ? { calendar: s.calendar } : {}),
      ...(s.remainingMs === undefined ? {} : { remaining: span(s.remainingMs) }),
      ...(s.reason ? { reason: s.reason } : {}),
    };
    switch (s.step) {
      case 'armed':
        return s.remainingMs !== undefined
          ? {
              ...base,
              kind: 'armed',
              detail: `held from the start (${s.reason ?? '6.2'}): ${span(s.remainingMs)} left, ${clock}`,
            }
          : { ...base, kind: 'armed', detail: `due ${due} (${rule?.within ?? '?'} ${clock})` };
      case 'warning': {
        const fraction = rule?.warnAt[s.warning ?? 0] ?? 0;
        return {
          ...base,
          kind: 'warning',
          fraction,
          detail: `${percent(fraction)} of ${rule?.within} gone (${clock}), due ${due}`,
        };
      }
      case 'paused':
        return {
          ...base,
          kind: 'paused',
          detail: `${s.reason ?? 'held'}: ${span(s.remainingMs ?? 0)} left (${clock})`,
        };
      case 'resumed':
        return { ...base, kind: 'resumed', detail: `${s.reason ?? 'hold'} ended, due ${due}` };
      case 'moved': {
        if (cause.kind === 'event' && cause.reason !== undefined) {
          const reason = cause.reason;
          return { ...base, kind: 'moved', clause: cause.clause, reason, detail: `by hand to ${due}: ${reason}` };
        }
        if (cause.kind === 'timer' && cause.outages.length > 0) {
          const reason = `outage ${cause.outages.join(', ')}`;
          return { ...base, kind: 'moved', clause: '6.2', reason, detail: `${reason} not counted: due ${due}` };
        }
        return { ...base, kind: 'moved', detail: `due ${due}` };
      }
      case 'met':
        return { ...base, kind: 'met', detail: `met, was due ${due}` };
      case 'breached':
        return {
          ...base,
          kind: 'breached',
          detail: `missed, was due ${due}${s.lateMs ? ` (recorded ${span(s.lateMs)} late)` : ''}`,
        };
      case 'excused':
        return { ...base, kind: 'excused', detail: `breach excused by ${s.reason ?? 'an outage'}` };
      case 'cancelled':
        return { ...base, kind: 'cancelled', detail: `no longer owed, was due ${due}` };
    }
  }
}
