import type { Policy } from '../policy/policy.ts';
import { reportSettings } from '../policy/reports.ts';
import type { Report, Suggestion } from './schema.ts';

// 3.3 "propose improvements": suggestions derived from a report's figures. Each names the rule that
// produced it (id and the rule in words) and the clause it serves, so a reader can check the reasoning.

type Body = Omit<Report, 'suggestions'>;

const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
const quote = (term: string) => `“${term}”`;

/** The least evidence a rule needs before it speaks. */
export const MIN = { concluded: 10, authority: 5, theme: 5, responses: 5, resolved: 10, excused: 3, opened: 20 };

const DEADLINE_ADVICE: Record<string, [string, string]> = {
  firstResponse: [
    'first responses were on time',
    'staff the busiest intake hours, or let agents send a holding reply first',
  ],
  initialNotice: [
    'customers were told the plan or escalation status in time',
    'tell the customer the plan as soon as it is known, before working the case',
  ],
  handoff: ['hand-offs were accepted in time', 'agree a receiving rota or a deputy with the departments'],
  coordination: ['coordination requests were answered in time', 'agree response times with the departments'],
  followUp: ['follow-ups were done in time', 'schedule the follow-up call when resolving the case'],
};

const CATEGORY_LABEL: Record<string, string> = { fee_waiver: 'fee waivers', small_claim: 'small claims' };

export function suggest(report: Body, policy: Policy): Suggestion[] {
  const targets = reportSettings(policy).targets;
  const out: Suggestion[] = [];
  const departmentName = (id: string) => policy.departments[id]?.name ?? id;

  for (const d of report.deadlines) {
    const concluded = d.met + d.breached;
    if (concluded < MIN.concluded || d.attainment === null || d.attainment >= targets.attainment) continue;
    const [what, advice] = DEADLINE_ADVICE[d.name] ?? [`${d.name} was met`, 'review how this deadline is worked'];
    out.push({
      rule: 'deadline-attainment',
      when: `a deadline met in less than ${pct(targets.attainment)} of at least ${MIN.concluded} concluded cases`,
      clause: d.clause,
      text: `${what} in ${pct(d.attainment)} of ${concluded} cases (target ${pct(targets.attainment)}, clause ${d.clause}): ${advice}.`,
      figures: {
        deadline: d.name,
        met: d.met,
        breached: d.breached,
        attainment: d.attainment,
        target: targets.attainment,
      },
    });
  }

  const limit = policy.authority.amountLimit;
  const route = policy.escalation.routes.beyond_authority;
  for (const r of report.escalations.beyondAuthority) {
    if (r.escalations < MIN.authority) continue;
    const label = CATEGORY_LABEL[r.category] ?? `${r.category} cases`;
    const what =
      r.aboveLimit * 2 >= r.escalations
        ? `${label} above the limit were escalated ${r.escalations} times`
        : `${label} beyond customer service's authority were escalated ${r.escalations} times (${r.aboveLimit} above the limit)`;
    out.push({
      rule: 'beyond-authority',
      when: `at least ${MIN.authority} ${r.category} cases escalated as beyond authority in the period`,
      clause: '2.2.4',
      text: `${what}: consider raising the 2.2.4 limit (now ${limit.amount} ${limit.currency}) or routing them directly to the department that decides them (now ${departmentName(route)}).`,
      figures: {
        category: r.category,
        escalations: r.escalations,
        aboveLimit: r.aboveLimit,
        limit: `${limit.amount} ${limit.currency}`,
      },
    });
  }

  for (const [rows, deadline, clause, what] of [
    [report.escalations.handoffTurnaround, 'handoff', '3.2.3', 'hand-offs pass the acceptance time'],
    [report.coordination.turnaround, 'coordination', '3.2.2', 'coordination requests pass the reply time'],
  ] as const) {
    for (const r of rows) {
      const total = r.count + r.breached;
      if (r.breached < 2 || r.breached / total < 0.1) continue;
      out.push({
        rule: `${deadline}-breaches`,
        when: `a department letting at least 2 and at least 10% of its ${deadline === 'handoff' ? 'hand-offs' : 'coordination requests'} pass their deadline`,
        clause,
        text: `${departmentName(r.department)} let ${r.breached} of ${total} ${what} (clause ${clause}): agree a receiving rota or a deputy with ${departmentName(r.department)}.`,
        figures: { department: r.department, breached: r.breached, total },
      });
    }
  }

  const rising = report.themes
    .filter((t) => t.count >= MIN.theme && (t.trend === 'new' || t.count >= 1.5 * t.previous))
    .slice(0, 3);
  for (const t of rising) {
    out.push({
      rule: 'rising-theme',
      when: `a theme in at least ${MIN.theme} cases, new or up by half on the previous period`,
      clause: '3.3',
      text: `${quote(t.term)} came up in ${t.count} cases, ${t.previous === 0 ? 'new this period' : `up from ${t.previous}`}: look for a common cause and fix it at the source.`,
      figures: { term: t.term, count: t.count, previous: t.previous },
    });
  }
  const top = report.themes[0];
  if (top && top.count >= MIN.theme && report.volume.opened > 0 && !rising.includes(top)) {
    const share = top.count / report.volume.opened;
    if (share >= 0.2) {
      out.push({
        rule: 'dominant-theme',
        when: `one theme in at least 20% of the period's cases (and at least ${MIN.theme})`,
        clause: '3.3',
        text: `${quote(top.term)} came up in ${pct(share)} of the period's cases: publish an answer customers can find by themselves.`,
        figures: { term: top.term, count: top.count, opened: report.volume.opened },
      });
    }
  }

  const s = report.satisfaction;
  if (s.responses >= MIN.responses && s.average !== null && s.average < targets.satisfaction) {
    out.push({
      rule: 'low-satisfaction',
      when: `average survey score below ${targets.satisfaction} over at least ${MIN.responses} responses`,
      clause: '5.2',
      text: `satisfaction averaged ${s.average} over ${s.responses} responses (target ${targets.satisfaction}); ${s.comments} came with a comment: read them and act on the most common complaint.`,
      figures: { average: s.average, responses: s.responses, comments: s.comments, target: targets.satisfaction },
    });
  }

  const r = report.reopens;
  if (r.resolved >= MIN.resolved && r.rate !== null && r.rate > targets.reopenRate) {
    out.push({
      rule: 'reopen-rate',
      when: `more than ${pct(targets.reopenRate)} of at least ${MIN.resolved} resolutions reopened`,
      clause: '3.2.1',
      text: `${pct(r.rate)} of resolutions were reopened (${r.reopened} of ${r.resolved}; target at most ${pct(targets.reopenRate)}): confirm the result with the customer before closing.`,
      figures: { reopened: r.reopened, resolved: r.resolved, rate: r.rate, target: targets.reopenRate },
    });
  }

  if (report.breaches.excused >= MIN.excused) {
    out.push({
      rule: 'excused-breaches',
      when: `at least ${MIN.excused} breaches excused by declared outages`,
      clause: '6.2',
      text: `${report.breaches.excused} missed deadlines were excused by declared outages (6.2): review the reliability of the systems customer service depends on.`,
      figures: { excused: report.breaches.excused, real: report.breaches.real },
    });
  }

  const e = report.escalations;
  if (
    report.volume.opened >= MIN.opened &&
    e.rate !== null &&
    e.previousRate !== null &&
    e.rate - e.previousRate >= 0.1
  ) {
    out.push({
      rule: 'escalation-rate-rise',
      when: `the share of escalated cases up by 10 points or more on the previous period (at least ${MIN.opened} cases)`,
      clause: '3.2.3',
      text: `the escalation rate rose from ${pct(e.previousRate)} to ${pct(e.rate)}: check which triggers grew (see escalations by trigger).`,
      figures: { rate: e.rate, previousRate: e.previousRate, opened: report.volume.opened },
    });
  }
  return out;
}
