import type { CaseContext, DeadlineClock } from '../../machines/types.ts';
import { toMinorUnits } from '../domain/money.ts';
import { AMOUNT_BOUND_CATEGORIES } from '../domain/vocabulary.ts';
import type { Policy } from '../policy/policy.ts';
import { reportSettings } from '../policy/reports.ts';
import { localDay } from './periods.ts';
import { themeTerms } from './themes.ts';

// One compact "fact" per accepted event, written by the commit script to the partition's facts stream and
// folded into the report aggregates (3.3, 5.2). It carries only what reports count — never the customer,
// the texts or the case id (4.2): the themes of an opening travel as normalised terms with every part of
// the customer's name, phone, e-mail and id removed.

/** A deadline reaching a final status: met, breached, excused (6.2) or cancelled. */
export interface DeadlineFact {
  /** Deadline name. */
  readonly n: string;
  /** The new status. */
  readonly s: 'met' | 'breached' | 'excused' | 'cancelled';
  /** The deadline's clause. */
  readonly l: string;
  /** Met: ms from arming to meeting (wall clock, pauses included). */
  readonly ms?: number;
  /** Excused after a breach: the local day the breach was counted on, where it moves from real to excused. */
  readonly p?: string;
  /** `handoff`/`coordination`: the department the clock waited on. */
  readonly dep?: string;
}

/** A hand-off package produced (3.2.3): a first escalation, a re-route or a climb up the ladder. */
export interface EscalationFact {
  readonly tr: string;
  readonly dep: string;
  readonly lvl: number;
  readonly cl: string;
  /** 1 for the case's first escalation. */
  readonly first: 0 | 1;
}

export interface Fact {
  /** Contract id. */
  readonly c: string;
  /** Event type (`OPEN` for an opening, `DEADLINE_WARNING` for a warning timer). */
  readonly e: string;
  /** Local day of the event, in the policy's time zone. */
  readonly d: string;
  /** Local day the case was opened: the cohort its state counts belong to. */
  readonly o: string;
  /** Category and channel of the case. */
  readonly g: string;
  readonly h: string;
  /** State before (null for an opening) and after. */
  readonly f: string | null;
  readonly t: string;
  /** The clause the audit entry cites. */
  readonly l: string;
  /** The actor's role. */
  readonly r: string;
  readonly k?: readonly DeadlineFact[];
  readonly x?: EscalationFact;
  /** 2.2.4: an adjustment granted — amount in minor units and currency. */
  readonly a?: readonly [number, string];
  /** 2.2.5, 5.2: a survey score and whether it came with a comment. */
  readonly s?: readonly [number, 0 | 1];
  /** 3.3: theme terms of an opening. */
  readonly w?: readonly string[];
  /** 1.4: with a first escalation, the case claims an amount above `authority.amountLimit`. */
  readonly b?: 1;
}

/** The fields of an audit entry (engine.ts `auditEntry`) a fact reads. */
interface AuditFields {
  readonly at: string;
  readonly actor: { readonly role: string };
  readonly event: string;
  readonly from: string | null;
  readonly to: string;
  readonly clause: string;
  readonly data?: { readonly name?: unknown; readonly warning?: unknown };
}

const FINAL = new Set(['met', 'breached', 'excused', 'cancelled']);

function deadlineFacts(policy: Policy, before: CaseContext | undefined, after: CaseContext, tz: string) {
  const out: DeadlineFact[] = [];
  for (const [name, clock] of Object.entries(after.deadlines)) {
    const was: DeadlineClock | undefined = before?.deadlines[name];
    if (was?.status === clock.status && was?.epoch === clock.epoch) continue;
    if (!FINAL.has(clock.status)) continue;
    const s = clock.status as DeadlineFact['s'];
    const l = policy.deadlines[name]?.clause ?? '3.1.3';
    const dep =
      name === 'handoff'
        ? (before?.escalation?.department ?? after.escalation?.department)
        : name === 'coordination'
          ? (before?.coordination?.department ?? after.coordination?.department)
          : undefined;
    const ms = s === 'met' && clock.at !== undefined ? Math.max(0, clock.at - clock.armedAt) : undefined;
    // 6.2: a breach excused after the fact leaves the real breaches of the day it was counted on.
    const p = s === 'excused' && was?.status === 'breached' && was.at !== undefined ? localDay(was.at, tz) : undefined;
    out.push({
      n: name,
      s,
      l,
      ...(ms !== undefined ? { ms } : {}),
      ...(p !== undefined ? { p } : {}),
      ...(dep !== undefined ? { dep } : {}),
    });
  }
  return out;
}

/**
 * 3.2.3: a missed hand-off that climbs the ladder is re-armed for the next rung in the same event, so its
 * clock never shows `breached`; the firing plus the new hand-off say it was missed, by the rung it left.
 */
function climbedMiss(policy: Policy, before: CaseContext | undefined, after: CaseContext, a: AuditFields) {
  const name = a.data?.name;
  if (a.event !== 'DEADLINE' || typeof name !== 'string' || a.data?.warning !== undefined) return undefined;
  if (!before?.escalation || after.escalation?.seq === before.escalation.seq) return undefined;
  const fact: DeadlineFact = { n: name, s: 'breached', l: policy.deadlines[name]?.clause ?? '3.2.3' };
  return name === 'handoff' ? { ...fact, dep: before.escalation.department } : fact;
}

function aboveLimit(policy: Policy, open: CaseContext['open']): boolean {
  const limit = policy.authority.amountLimit;
  if (!open.amount || !AMOUNT_BOUND_CATEGORIES.includes(open.category)) return false;
  return open.amount.currency !== limit.currency || toMinorUnits(open.amount) > toMinorUnits(limit);
}

/**
 * The report fact of one accepted event, from the case before and after it and its audit entry; pure.
 * `undefined` when the policy turns reports off (`reports.enabled: false`).
 */
export function reportFact(
  policy: Policy,
  before: CaseContext | undefined,
  after: CaseContext,
  audit: object,
): Fact | undefined {
  if (!reportSettings(policy).enabled) return undefined;
  const a = audit as AuditFields;
  const tz = policy.timezone;
  const at = Date.parse(a.at);
  const open = after.open;
  const k = deadlineFacts(policy, before, after, tz);
  const climbed = k.some((d) => d.n === a.data?.name) ? undefined : climbedMiss(policy, before, after, a);
  if (climbed) k.push(climbed);
  const esc = after.escalation;
  const x: EscalationFact | undefined =
    esc && esc.seq !== before?.escalation?.seq
      ? { tr: esc.trigger, dep: esc.department, lvl: esc.level, cl: esc.clause, first: before?.escalation ? 0 : 1 }
      : undefined;
  const adjustment = a.event === 'RESOLVE' ? after.resolution?.adjustment : undefined;
  const survey = a.event === 'SURVEY_RESULT' ? after.survey : undefined;
  return {
    c: open.contractId,
    // A warning timer is a DEADLINE event too; reports count it apart from the deadlines that fired.
    e: a.event === 'DEADLINE' && a.data?.warning !== undefined ? 'DEADLINE_WARNING' : a.event,
    d: localDay(Number.isNaN(at) ? after.updatedAt : at, tz),
    o: localDay(after.createdAt, tz),
    g: open.category,
    h: open.channel,
    f: a.from,
    t: a.to,
    l: a.clause,
    r: a.actor.role,
    ...(k.length > 0 ? { k } : {}),
    ...(x ? { x } : {}),
    ...(adjustment ? { a: [Number(toMinorUnits(adjustment)), adjustment.currency] as const } : {}),
    ...(survey ? { s: [survey.score, survey.comment ? 1 : 0] as const } : {}),
    ...(before === undefined ? { w: themeTerms(open) } : {}),
    ...(x?.first && aboveLimit(policy, open) ? { b: 1 as const } : {}),
  };
}
