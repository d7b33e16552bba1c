import { minorDigits } from '../domain/money.ts';
import { CASE_STATES, TRIGGERS } from '../domain/vocabulary.ts';
import type { Policy } from '../policy/policy.ts';
import { F } from './aggregate.ts';
import { BUCKET_BOUNDS_MS, boundOf, percentile } from './histogram.ts';
import { addDays, type DayRange, dayCount, dayStart } from './periods.ts';
import { REPORT_SCHEMA, type Report, type Turnaround } from './schema.ts';
import { suggest } from './suggestions.ts';

// The report a customer-service manager reads (3.3, 5.2), computed from a period's summed counters and the
// previous period's (for trends). Pure: the counters come from ReportStore.readDays.

export interface Figures {
  readonly counters: ReadonlyMap<string, number>;
  readonly terms: ReadonlyMap<string, number>;
}

export interface ReportInput {
  readonly policy: Policy;
  readonly kind: Report['period']['kind'];
  readonly range: DayRange;
  readonly previousRange: DayRange;
  readonly current: Figures;
  readonly previous: Figures;
  readonly generatedAt: number;
  readonly pendingFacts: number;
}

/** Themes listed in a report. */
export const THEMES_LISTED = 20;

const ratio = (part: number, whole: number) => (whole > 0 ? part / whole : null);
const byCount =
  <T extends { count: number }>(key: (t: T) => string) =>
  (a: T, b: T) =>
    b.count - a.count || key(a).localeCompare(key(b));

/** Counter access over one period's figures; counts never read below zero. */
class Counters {
  readonly #map: ReadonlyMap<string, number>;
  constructor(map: ReadonlyMap<string, number>) {
    this.#map = map;
  }
  get(field: string): number {
    return Math.max(0, this.#map.get(field) ?? 0);
  }
  /** Fields `<prefix><a>:<b>…` split after the prefix, with their values; `parts` filters by segment count. */
  matching(prefix: string, parts: number): [string[], number][] {
    const out: [string[], number][] = [];
    for (const [field, value] of this.#map) {
      if (!field.startsWith(prefix)) continue;
      const rest = field.slice(prefix.length).split(':');
      if (rest.length === parts) out.push([rest, Math.max(0, value)]);
    }
    return out;
  }
  sum(prefix: string, parts: number, last?: string): number {
    return this.matching(prefix, parts)
      .filter(([rest]) => last === undefined || rest.at(-1) === last)
      .reduce((a, [, v]) => a + v, 0);
  }
}

function turnaround(c: Counters, series: string): Turnaround {
  const counts = BUCKET_BOUNDS_MS.map((_, i) => c.get(F.turnBucket(series, i)));
  counts.push(c.get(F.turnBucket(series, BUCKET_BOUNDS_MS.length)));
  const count = c.get(F.turnCount(series));
  return {
    count,
    meanMs: count > 0 ? Math.round(c.get(F.turnSum(series)) / count) : null,
    p50Ms: percentile(counts, 0.5),
    p90Ms: percentile(counts, 0.9),
    p99Ms: percentile(counts, 0.99),
    histogram: counts.flatMap((n, i) => (n > 0 ? [{ leMs: boundOf(i), count: n }] : [])),
  };
}

function formatMinor(minor: number, currency: string): string {
  const digits = minorDigits(currency);
  const negative = minor < 0;
  const text = BigInt(Math.abs(minor))
    .toString()
    .padStart(digits + 1, '0');
  const whole = digits > 0 ? `${text.slice(0, -digits)}.${text.slice(-digits)}` : text;
  return negative ? `-${whole}` : whole;
}

function volume(c: Counters, p: Counters): Report['volume'] {
  const dimension = (dim: 'g' | 'h') => {
    const keys = new Set([...c.matching(`op:${dim}:`, 1), ...p.matching(`op:${dim}:`, 1)].map(([[k]]) => k as string));
    return [...keys].map((k) => ({ key: k, count: c.get(F.openedBy(dim, k)), previous: p.get(F.openedBy(dim, k)) }));
  };
  const states = new Set<string>(CASE_STATES);
  for (const [[s]] of [...c.matching('st:', 1), ...c.matching('in:', 1)]) states.add(s as string);
  return {
    opened: c.get(F.opened),
    previous: p.get(F.opened),
    byCategory: dimension('g')
      .sort(byCount((x) => x.key))
      .map((x) => ({ category: x.key, count: x.count, previous: x.previous })),
    byChannel: dimension('h')
      .sort(byCount((x) => x.key))
      .map((x) => ({ channel: x.key, count: x.count, previous: x.previous })),
    byState: [...states].map((state) => ({ state, current: c.get(F.state(state)), entered: c.get(F.entered(state)) })),
    events: c
      .matching('ev:', 1)
      .map(([[type], n]) => ({ type: type as string, count: n }))
      .sort((a, b) => a.type.localeCompare(b.type)),
  };
}

function deadlines(policy: Policy, c: Counters, p: Counters): Report['deadlines'] {
  const names = new Set(Object.keys(policy.deadlines));
  for (const [[name]] of c.matching('dl:', 2)) names.add(name as string);
  return [...names].map((name) => {
    const met = c.get(F.deadline(name, 'met'));
    const breached = c.get(F.deadline(name, 'breached'));
    return {
      name,
      clause: policy.deadlines[name]?.clause ?? '',
      met,
      breached,
      excused: c.get(F.deadline(name, 'excused')),
      cancelled: c.get(F.deadline(name, 'cancelled')),
      attainment: ratio(met, met + breached),
      previousAttainment: ratio(
        p.get(F.deadline(name, 'met')),
        p.get(F.deadline(name, 'met')) + p.get(F.deadline(name, 'breached')),
      ),
      turnaround: turnaround(c, name),
    };
  });
}

function breaches(c: Counters): Report['breaches'] {
  const rows = new Map<string, { deadline: string; clause: string; real: number; excused: number }>();
  for (const [prefix, field] of [
    ['bc:', 'real'],
    ['xc:', 'excused'],
  ] as const) {
    for (const [[deadline = '', clause = ''], n] of c.matching(prefix, 2)) {
      const key = `${deadline}:${clause}`;
      const row = rows.get(key) ?? { deadline, clause, real: 0, excused: 0 };
      row[field] += n;
      rows.set(key, row);
    }
  }
  return {
    real: c.sum('dl:', 2, 'breached'),
    excused: c.sum('dl:', 2, 'excused'),
    byDeadline: [...rows.values()]
      .filter((r) => r.real + r.excused > 0)
      .sort((a, b) => a.deadline.localeCompare(b.deadline) || a.clause.localeCompare(b.clause)),
  };
}

/** Turnaround per department of a deadline (`handoff`, `coordination`), with its real breaches. */
function perDepartment(c: Counters, deadline: string) {
  const departments = new Set<string>();
  for (const [[series]] of c.matching('t:', 2)) {
    if (series?.startsWith(`${deadline}@`)) departments.add(series.slice(deadline.length + 1));
  }
  for (const [[name, dept]] of c.matching('db:', 2)) if (name === deadline) departments.add(dept as string);
  return [...departments].sort().map((department) => ({
    department,
    breached: c.get(F.breachDept(deadline, department)),
    ...turnaround(c, `${deadline}@${department}`),
  }));
}

function escalations(c: Counters, p: Counters): Report['escalations'] {
  const opened = c.get(F.opened);
  const escalatedCases = c.sum('ec:', 1);
  const routes = c.matching('ho:', 2).filter(([, n]) => n > 0);
  return {
    escalatedCases,
    rate: ratio(escalatedCases, opened),
    previousRate: ratio(p.sum('ec:', 1), p.get(F.opened)),
    byTrigger: TRIGGERS.map((trigger) => ({
      trigger,
      cases: c.get(F.escalatedCase(trigger)),
      rate: ratio(c.get(F.escalatedCase(trigger)), opened),
      handoffs: routes.filter(([[t]]) => t === trigger).reduce((a, [, n]) => a + n, 0),
    })),
    handoffs: c.get(F.handoffs),
    byRoute: routes
      .map(([[trigger = '', department = ''], handoffs]) => ({ trigger, department, handoffs }))
      .sort(
        (a, b) =>
          b.handoffs - a.handoffs || a.trigger.localeCompare(b.trigger) || a.department.localeCompare(b.department),
      ),
    byLevel: c
      .matching('hl:', 1)
      .map(([[level], handoffs]) => ({ level: Number(level), handoffs }))
      .sort((a, b) => a.level - b.level),
    beyondAuthority: c
      .matching('ab:', 1)
      .map(([[category = ''], escalations]) => ({
        category,
        escalations,
        aboveLimit: c.get(F.authorityOver(category)),
      }))
      .filter((r) => r.escalations > 0)
      .sort((a, b) => b.escalations - a.escalations || a.category.localeCompare(b.category)),
    handoffTurnaround: perDepartment(c, 'handoff'),
  };
}

function adjustments(c: Counters): Report['adjustments'] {
  const totals = c
    .matching('adj:', 2)
    .filter(([[, kind]]) => kind === 'n')
    .map(([[currency = ''], count]) => ({
      currency,
      count,
      amount: formatMinor(c.get(F.adjustSum(currency)), currency),
    }))
    .sort((a, b) => a.currency.localeCompare(b.currency));
  const byRole = c
    .matching('adj:', 3)
    .filter(([[, , kind]]) => kind === 'n')
    .map(([[role = '', currency = ''], count]) => ({
      role,
      currency,
      count,
      amount: formatMinor(c.get(F.adjustRoleSum(role, currency)), currency),
    }))
    .sort((a, b) => a.role.localeCompare(b.role) || a.currency.localeCompare(b.currency));
  return { count: totals.reduce((a, t) => a + t.count, 0), totals, byRole };
}

function satisfaction(c: Counters, p: Counters): Report['satisfaction'] {
  const average = (k: Counters) => {
    let n = 0;
    let sum = 0;
    for (let score = 1; score <= 5; score++) {
      n += k.get(F.survey(score));
      sum += score * k.get(F.survey(score));
    }
    return n > 0 ? Math.round((sum / n) * 100) / 100 : null;
  };
  const distribution = [1, 2, 3, 4, 5].map((score) => ({ score, count: c.get(F.survey(score)) }));
  return {
    responses: distribution.reduce((a, d) => a + d.count, 0),
    average: average(c),
    previousAverage: average(p),
    distribution,
    comments: c.get(F.surveyComments),
  };
}

/**
 * A term is listed only when at least this many cases raised it in the period: a word that came up once —
 * a name, an address — never reaches a report (no personal data in any report).
 */
export const MIN_THEME_CASES = 2;

function themes(current: ReadonlyMap<string, number>, previous: ReadonlyMap<string, number>): Report['themes'] {
  return [...current]
    .filter(([, n]) => n >= MIN_THEME_CASES)
    .map(([term, count]) => ({ term, count }))
    .sort(byCount((t) => t.term))
    .slice(0, THEMES_LISTED)
    .map(({ term, count }) => {
      const before = Math.max(0, previous.get(term) ?? 0);
      const trend = before === 0 ? 'new' : count > before ? 'up' : count < before ? 'down' : 'same';
      return { term, count, previous: before, change: count - before, trend };
    });
}

export function buildReport(input: ReportInput): Report {
  const { policy, range } = input;
  const c = new Counters(input.current.counters);
  const p = new Counters(input.previous.counters);
  const tz = policy.timezone;
  const body: Omit<Report, 'suggestions'> = {
    schema: REPORT_SCHEMA,
    contract: { id: policy.contract.id, name: policy.contract.name, version: policy.contract.version },
    timezone: tz,
    period: {
      kind: input.kind,
      from: range.from,
      to: range.to,
      days: dayCount(range),
      start: new Date(dayStart(range.from, tz)).toISOString(),
      end: new Date(dayStart(addDays(range.to, 1), tz)).toISOString(),
    },
    previousPeriod: { from: input.previousRange.from, to: input.previousRange.to },
    generatedAt: new Date(input.generatedAt).toISOString(),
    pendingFacts: input.pendingFacts,
    volume: volume(c, p),
    deadlines: deadlines(policy, c, p),
    breaches: breaches(c),
    escalations: escalations(c, p),
    coordination: {
      requests: c.get(F.event('COORDINATE')),
      replies: c.get(F.event('DEPARTMENT_REPLY')),
      turnaround: perDepartment(c, 'coordination'),
    },
    adjustments: adjustments(c),
    reopens: {
      reopened: c.get(F.event('REOPEN')),
      resolved: c.get(F.entered('resolved')),
      rate: ratio(c.get(F.event('REOPEN')), c.get(F.entered('resolved'))),
    },
    satisfaction: satisfaction(c, p),
    themes: themes(input.current.terms, input.previous.terms),
  };
  return { ...body, suggestions: suggest(body, policy) };
}
