import { AMOUNT_BOUND_CATEGORIES } from '../domain/vocabulary.ts';
import type { Fact } from './facts.ts';
import { bucketOf } from './histogram.ts';
import { addDays } from './periods.ts';

// Facts folded into per-day counters (pure). A day's counters are a flat map `field → count`; the report
// adds the days of a period up. Every figure is an integer increment, so folds commute and add across
// partitions and days.

/** The counter fields, named once: the fold writes them, the report reads them. */
export const F = {
  /** Cases opened (cohort of their opening day), by category and channel. */
  opened: 'op',
  openedBy: (dim: 'g' | 'h', value: string) => `op:${dim}:${value}`,
  /** Accepted events by type. */
  event: (type: string) => `ev:${type}`,
  /** Transitions into a state on the day. */
  entered: (state: string) => `in:${state}`,
  /** Cases opened on the day by their current state (moved as they change state). */
  state: (state: string) => `st:${state}`,
  /** Deadline outcomes on the day: met, breached (real), excused, cancelled. */
  deadline: (name: string, status: string) => `dl:${name}:${status}`,
  /** Real and excused breaches by deadline and clause. */
  breachClause: (name: string, clause: string) => `bc:${name}:${clause}`,
  excusedClause: (name: string, clause: string) => `xc:${name}:${clause}`,
  /** Real breaches of `handoff`/`coordination` by the department they waited on. */
  breachDept: (name: string, dept: string) => `db:${name}:${dept}`,
  /** Turnaround series (`<deadline>` or `<deadline>@<department>`): count, sum (ms), histogram buckets. */
  turnCount: (series: string) => `t:${series}:c`,
  turnSum: (series: string) => `t:${series}:s`,
  turnBucket: (series: string, bucket: number) => `t:${series}:b${bucket}`,
  /** Hand-offs produced on the day, by trigger and department (the route), and by rung. */
  handoffs: 'ho',
  route: (trigger: string, dept: string) => `ho:${trigger}:${dept}`,
  level: (level: number) => `hl:${level}`,
  /** Cases escalated, by first trigger, counted on their opening day (cohort). */
  escalatedCase: (trigger: string) => `ec:${trigger}`,
  /** First escalations of amount-bound categories beyond authority, and those above the amount limit. */
  authority: (category: string) => `ab:${category}`,
  authorityOver: (category: string) => `ab:${category}:over`,
  /** Adjustments granted (2.2.4): count and total in minor units, per currency and per role. */
  adjustCount: (currency: string) => `adj:${currency}:n`,
  adjustSum: (currency: string) => `adj:${currency}:m`,
  adjustRoleCount: (role: string, currency: string) => `adj:${role}:${currency}:n`,
  adjustRoleSum: (role: string, currency: string) => `adj:${role}:${currency}:m`,
  /** Survey results (2.2.5, 5.2) by score, and how many came with a comment. */
  survey: (score: number) => `sv:${score}`,
  surveyComments: 'sv:c',
} as const;

export interface Increments {
  /** `contract|day` → field → increment. */
  readonly counters: Map<string, Map<string, number>>;
  /** `contract|day` → theme term → cases. */
  readonly terms: Map<string, Map<string, number>>;
}

export const dayKey = (contract: string, day: string) => `${contract}|${day}`;

export function splitDayKey(key: string): { contract: string; day: string } {
  const bar = key.lastIndexOf('|');
  return { contract: key.slice(0, bar), day: key.slice(bar + 1) };
}

function add(map: Map<string, Map<string, number>>, key: string, field: string, by = 1): void {
  if (by === 0) return;
  let fields = map.get(key);
  if (!fields) {
    fields = new Map();
    map.set(key, fields);
  }
  fields.set(field, (fields.get(field) ?? 0) + by);
}

function turnaround(inc: (field: string, by?: number) => void, series: string, ms: number): void {
  inc(F.turnCount(series));
  inc(F.turnSum(series), ms);
  inc(F.turnBucket(series, bucketOf(ms)));
}

/**
 * Folds facts into counter increments. `retentionDays(contract)` bounds how far back a fact may change a
 * day: a late change to a cohort or breach day older than that (counted from the fact's own day) is dropped
 * rather than recreating an expired day half-empty.
 */
export function aggregate(facts: Iterable<Fact>, retentionDays: (contract: string) => number = () => 400): Increments {
  const counters = new Map<string, Map<string, number>>();
  const terms = new Map<string, Map<string, number>>();
  const oldest = new Map<string, string>();
  for (const fact of facts) {
    const factDay = dayKey(fact.c, fact.d);
    const first = oldest.get(factDay) ?? addDays(fact.d, -retentionDays(fact.c));
    oldest.set(factDay, first);
    const keep = (day: string) => day >= first;
    const at =
      (day: string) =>
      (field: string, by = 1) => {
        if (keep(day)) add(counters, dayKey(fact.c, day), field, by);
      };
    const onDay = at(fact.d);
    const cohort = at(fact.o);
    onDay(F.event(fact.e));
    if (fact.f !== fact.t) {
      onDay(F.entered(fact.t));
      cohort(F.state(fact.t));
      if (fact.f !== null) cohort(F.state(fact.f), -1);
    }
    if (fact.e === 'OPEN') {
      cohort(F.opened);
      cohort(F.openedBy('g', fact.g));
      cohort(F.openedBy('h', fact.h));
      for (const term of fact.w ?? []) if (keep(fact.o)) add(terms, dayKey(fact.c, fact.o), term);
    }
    for (const k of fact.k ?? []) {
      if (k.s === 'excused' && k.p !== undefined) {
        // 6.2: the breach moves, on the day it was counted, from real to excused.
        const then = at(k.p);
        then(F.deadline(k.n, 'breached'), -1);
        then(F.breachClause(k.n, k.l), -1);
        if (k.dep) then(F.breachDept(k.n, k.dep), -1);
        then(F.deadline(k.n, 'excused'));
        then(F.excusedClause(k.n, k.l));
        continue;
      }
      onDay(F.deadline(k.n, k.s));
      if (k.s === 'breached') {
        onDay(F.breachClause(k.n, k.l));
        if (k.dep) onDay(F.breachDept(k.n, k.dep));
      }
      if (k.s === 'excused') onDay(F.excusedClause(k.n, k.l));
      if (k.s === 'met' && k.ms !== undefined) {
        turnaround(onDay, k.n, k.ms);
        if (k.dep) turnaround(onDay, `${k.n}@${k.dep}`, k.ms);
      }
    }
    if (fact.x) {
      const x = fact.x;
      onDay(F.handoffs);
      onDay(F.route(x.tr, x.dep));
      onDay(F.level(x.lvl));
      if (x.first) {
        cohort(F.escalatedCase(x.tr));
        if (x.tr === 'beyond_authority' && AMOUNT_BOUND_CATEGORIES.includes(fact.g)) {
          onDay(F.authority(fact.g));
          if (fact.b) onDay(F.authorityOver(fact.g));
        }
      }
    }
    if (fact.a) {
      const [minor, currency] = fact.a;
      onDay(F.adjustCount(currency));
      onDay(F.adjustSum(currency), minor);
      onDay(F.adjustRoleCount(fact.r, currency));
      onDay(F.adjustRoleSum(fact.r, currency), minor);
    }
    if (fact.s) {
      onDay(F.survey(fact.s[0]));
      onDay(F.surveyComments, fact.s[1]);
    }
  }
  return { counters, terms };
}
