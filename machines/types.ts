import type { CalendarSpec } from '../src/domain/calendar.ts';
import type { CaseEvent, OpenCase, OutageSpan } from '../src/domain/events.ts';
import type { Money } from '../src/domain/money.ts';
import type { CaseState, DeadlineStatus, PauseReason, Role, Trigger } from '../src/domain/vocabulary.ts';

export interface DeadlineRule {
  readonly withinMs: number;
  readonly clause: string;
  readonly clock?: 'calendar' | 'business';
  readonly calendar?: string;
  /** Fractions of `withinMs` at which the owner is warned. */
  readonly warnAt?: readonly number[];
}

/** What the machine needs of a contract policy. The policy module produces a superset. */
export interface CasePolicy {
  readonly contract: { readonly id: string; readonly version: number };
  readonly authority: { readonly categories: readonly string[]; readonly amountLimit: Money };
  readonly deadlines: Readonly<Record<string, DeadlineRule>>;
  readonly calendars?: Readonly<Record<string, CalendarSpec>>;
  readonly departments: Readonly<Record<string, unknown>>;
  readonly escalation: { readonly routes: Readonly<Record<Trigger, string>>; readonly ladder?: readonly string[] };
  readonly pauses?: Readonly<Partial<Record<PauseReason, readonly Role[]>>>;
  readonly dueDateOverride?: { readonly roles: readonly Role[] };
}

/** An outage window declared by ops (6.2); `end` absent while it lasts. Times in ms since epoch. */
export type OutageWindow = OutageSpan;

/** Why the clocks stand still (6.2): who, why, the clause and when. */
export interface Hold {
  readonly reason: PauseReason;
  readonly clause: string;
  readonly by: string;
  readonly role: Role | 'system';
  readonly at: number;
  readonly note?: string;
  /** The outage that holds the case. */
  readonly outage?: string;
}

export interface Actor {
  readonly name: string;
  readonly role: Role | 'system';
  readonly department?: string;
}

/** Every event reaches the machine stamped with its time (ms since epoch) and who sent it. */
export type MachineEvent = CaseEvent & {
  readonly at: number;
  readonly actor: Actor;
  /** Outage windows in the case's scope over its clocks' running time, given by the engine (6.2). */
  readonly outages?: readonly OutageSpan[];
};

export interface DeadlineClock {
  readonly status: DeadlineStatus;
  /** The arming this clock belongs to; a timer carrying another epoch is stale. */
  readonly epoch: number;
  readonly armedAt: number;
  readonly dueAt: number;
  /** When the clock last started running (armed, resumed or moved): outages are counted from here. */
  readonly since?: number;
  /** Frozen remaining time while paused (6.2), in the deadline's clock (working time on a business clock). */
  readonly remainingMs?: number;
  /** When the status last changed (met, breached, paused, cancelled). */
  readonly at?: number;
  /** `<calendar>@<version>` of a business clock: the calendar version it was armed under. */
  readonly calendar?: string;
  /** Warnings already sent for this arming. */
  readonly warned?: number;
  /** When the next warning is due (armed clocks with warnings left). */
  readonly warnAt?: number;
  /** Breached: how late the firing was recorded (ms after due). */
  readonly lateMs?: number;
  /** Excused: the outage that excused the breach (6.2). */
  readonly excusedBy?: string;
}

export interface Escalation {
  readonly trigger: Trigger;
  readonly department: string;
  /** Rung of the escalation ladder, 1 for the first hand-off. */
  readonly level: number;
  /** Counts every hand-off package produced for this case; identifies the delivery. */
  readonly seq: number;
  readonly status: 'pending' | 'accepted' | 'resolved';
  readonly reason: string;
  readonly preliminaryJudgment: string;
  readonly recommendation: string;
  /** The clause that decided the escalation (1, 3.2.3, 3.1.3, ...). */
  readonly clause: string;
  readonly at: number;
}

export interface CaseContext {
  readonly caseId: string;
  readonly open: OpenCase;
  readonly flags: readonly Trigger[];
  readonly deadlines: Readonly<Record<string, DeadlineClock>>;
  /** Last timer epoch issued for this case. */
  readonly epoch: number;
  readonly responded: boolean;
  readonly verified: boolean;
  readonly escalation: Escalation | null;
  readonly coordination: {
    readonly department: string;
    readonly request: string;
    readonly reply?: string;
    readonly at: number;
  } | null;
  readonly resolution: {
    readonly by: 'cs' | 'department';
    readonly text: string;
    readonly adjustment?: Money;
    readonly at: number;
  } | null;
  readonly survey: { readonly score: number; readonly comment?: string; readonly at: number } | null;
  readonly resumeTo: 'received' | 'verified' | 'coordinating' | null;
  /** 6.2: why the clocks stand still; absent or empty when they run. */
  readonly holds?: readonly Hold[];
  /** Accepted events, the opening included: equals the stored version. */
  readonly accepted: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface CaseInput {
  readonly caseId: string;
  readonly open: OpenCase;
  readonly at: number;
}

export interface Refusal {
  readonly code: string;
  readonly message: string;
  readonly clause: string;
}

export type { CaseState };
