import type { Policy } from '../policy/policy.ts';
import type { StoredCase } from '../store/case-store.ts';

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** The case as every read shows it (VOCABULARY.md). */
export function caseView(stored: StoredCase, policy: Policy) {
  const c = stored.context;
  return {
    id: c.caseId,
    contractId: policy.contract.id,
    policyVersion: stored.policyVersion,
    state: stored.state,
    version: stored.version,
    category: c.open.category,
    channel: c.open.channel,
    customer: c.open.customer,
    subject: c.open.subject,
    ...(c.open.amount ? { amount: c.open.amount } : {}),
    ...(c.open.externalRef ? { externalRef: c.open.externalRef } : {}),
    flags: c.flags,
    deadlines: Object.entries(c.deadlines).map(([name, d]) => ({
      name,
      status: d.status,
      dueAt: d.status === 'paused' ? null : iso(d.dueAt),
      ...(d.remainingMs !== undefined && d.status === 'paused' ? { remainingMs: d.remainingMs } : {}),
      clause: policy.deadlines[name]?.clause ?? null,
      epoch: d.epoch,
      ...(d.calendar ? { calendar: d.calendar } : {}),
    })),
    // 6.2: why the clocks stand still, if they do.
    pauses: (c.holds ?? []).map((h) => ({
      reason: h.reason,
      clause: h.clause,
      since: iso(h.at),
      ...(h.outage ? { outage: h.outage } : {}),
    })),
    escalation: c.escalation && {
      trigger: c.escalation.trigger,
      department: c.escalation.department,
      level: c.escalation.level,
      handoff: c.escalation.status,
      clause: c.escalation.clause,
      at: iso(c.escalation.at),
    },
    coordination: c.coordination && {
      department: c.coordination.department,
      replied: c.coordination.reply !== undefined,
    },
    resolution: c.resolution && {
      by: c.resolution.by,
      ...(c.resolution.adjustment ? { adjustment: c.resolution.adjustment } : {}),
      at: iso(c.resolution.at),
    },
    survey: c.survey && { score: c.survey.score, at: iso(c.survey.at) },
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
  };
}

export type CaseView = ReturnType<typeof caseView>;
