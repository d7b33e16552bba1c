import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Runtime, SYSTEM_ACTOR } from '../../src/runtime.ts';
import { type ApiServer, expectProblem, openOverHttp, sendOverHttp, startApi } from '../support/api.ts';
import { type AuditEntry, auditOf, readCase } from '../support/cases.ts';
import { metricsRuntime, receiverPolicy } from '../support/ops-runtime.ts';
import { openCase } from '../support/policy.ts';
import { parseExposition, promtool, type Sample, sampleValue } from '../support/prometheus.ts';
import { closeRuntime, VERIFY } from '../support/runtime.ts';
import { type SignedReceiver, startSignedReceiver } from '../support/signed-receiver.ts';
import { waitFor } from '../support/wait.ts';

// GET /metrics on a real runtime (real Redis, real BullMQ workers, a real webhook receiver): three cases
// driven through an accepted path, a refusal, a stale timer, a deadline missed by the clock and a
// hand-off ladder; every counter is compared with what the cases' audit trails say happened.

const PERSON = { id: 'cust-metrics-7f3a', name: '李四', phone: '+86 139 1234 5678', email: 'li.si@example.com' };
const SUBJECT = 'Refund for a cancelled visit';
const DESCRIPTION = 'The customer wants the visit fee back after cancelling in time.';

let receiver: SignedReceiver;
let rt: Runtime;
let api: ApiServer;
const ids: Record<'accepted' | 'missed' | 'legal', string> = { accepted: '', missed: '', legal: '' };
let exposition = '';
let samples: Sample[] = [];
let audits: AuditEntry[] = [];

const value = (name: string, labels: Record<string, string> = {}) => sampleValue(samples, name, labels);

beforeAll(async () => {
  receiver = await startSignedReceiver();
  // The first customer notice is answered 500, so one delivery fails once before it is delivered.
  receiver.answer((request, nth) =>
    request.path === '/notices/customer' && nth === 0 && receiver.to('/notices/customer').length === 1
      ? 500
      : request.verified
        ? 200
        : 401,
  );
  const secrets: Record<string, string> = {};
  rt = await metricsRuntime(receiverPolicy(receiver, secrets, { firstResponse: 'PT1S', handoff: 'PT1S' }), secrets);
  rt.startWorkers(['deadlines', 'dispatcher', 'notify']);
  api = await startApi(rt);
  const open = (extra: Record<string, unknown> = {}) =>
    openOverHttp(api, openCase({ customer: PERSON, subject: SUBJECT, description: DESCRIPTION, ...extra }));

  // Accepted: a response in time (meets firstResponse), a refusal, a stale timer, then a resolution.
  const accepted = await open();
  ids.accepted = accepted.id;
  await sendOverHttp(api, accepted.id, { type: 'RESPOND', message: 'We are on it.' }, { as: 'agent' });
  const refused = await api.request('POST', `/v1/cases/${accepted.id}/events`, {
    as: 'agent',
    json: { type: 'CLOSE' },
  });
  expectProblem(refused, 422);
  const epoch = (await readCase(rt, accepted.id)).context.deadlines.firstResponse?.epoch as number;
  const stale = await rt.engine.apply(accepted.id, { type: 'DEADLINE', name: 'firstResponse', epoch }, SYSTEM_ACTOR);
  expect(stale.outcome).toBe('stale');
  await sendOverHttp(api, accepted.id, VERIFY, { as: 'agent' });
  await sendOverHttp(api, accepted.id, { type: 'RESOLVE', resolution: 'Explained the refund rules.' }, { as: 'agent' });

  // Missed: nobody answers; firstResponse breaches (3.1.3) and every hand-off of the ladder is missed too.
  ids.missed = (await open()).id;
  // Escalated at intake (legal_dispute) and accepted by legal in time.
  const legal = await open({ flags: ['legal_dispute'] });
  ids.legal = legal.id;
  await sendOverHttp(api, legal.id, { type: 'HANDOFF_ACCEPT', department: 'legal' }, { as: 'legal' });

  await waitFor(
    async () => {
      const c = (await readCase(rt, ids.missed)).context;
      return c.escalation !== null && c.deadlines.handoff?.status === 'breached';
    },
    { timeoutMs: 20_000, what: 'the missed case to reach the top of the ladder with its hand-off breached' },
  );
  await waitFor(() => receiver.to('/notices/customer').some((r) => r.status === 200), {
    timeoutMs: 10_000,
    what: 'a customer notice delivered after the failed attempt',
  });
  audits = (await Promise.all(Object.values(ids).map((id) => auditOf(rt, id)))).flat();

  const res = await api.request('GET', '/metrics', { as: 'ops' });
  expect(res.status, res.text).toBe(200);
  expect(res.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  exposition = res.text;
  samples = parseExposition(exposition);
}, 60_000);

afterAll(async () => {
  await api?.close();
  if (rt) await closeRuntime(rt);
  await receiver?.down();
});

/** How often each key occurs. */
function tally<T>(items: readonly T[], key: (item: T) => string | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const k = key(item);
    if (k !== undefined) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

describe('GET /metrics', () => {
  it('is the Prometheus text format, and promtool check metrics accepts it', () => {
    const result = promtool(['check', 'metrics'], exposition);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
    expect(exposition).toContain('# TYPE intervene_events_applied_total counter');
    expect(exposition).toContain('# TYPE intervene_apply_duration_seconds histogram');
  });

  it('counts every accepted event by type, exactly as the audit trails record them', () => {
    const expected = tally(audits, (e) => e.event);
    expect(expected.get('OPEN')).toBe(3);
    for (const [event, count] of expected) {
      expect(value('intervene_events_applied_total', { event, outcome: 'applied' }), event).toBe(count);
    }
    const applied = samples.filter(
      (s) => s.name === 'intervene_events_applied_total' && s.labels.outcome === 'applied',
    );
    expect(applied.reduce((sum, s) => sum + s.value, 0)).toBe(audits.length);
  });

  it('counts the refusal and the stale timer with their outcome, and each call once in the latency histogram', () => {
    expect(value('intervene_events_applied_total', { event: 'CLOSE', outcome: 'refused' })).toBe(1);
    expect(value('intervene_events_applied_total', { event: 'DEADLINE', outcome: 'stale' })).toBe(1);
    expect(value('intervene_stale_timers_dropped_total')).toBe(1);
    const answered = value('intervene_events_applied_total') as number;
    expect(value('intervene_apply_duration_seconds_count')).toBe(answered);
    expect(value('intervene_apply_duration_seconds_bucket', { le: '+Inf' })).toBe(answered);
    expect(value('intervene_apply_duration_seconds_sum')).toBeGreaterThan(0);
  });

  it('counts state changes from → to as the audit trails record them (from="none" for an opening)', () => {
    const expected = tally(audits, (e) => (e.from === e.to ? undefined : `${e.from ?? 'none'}→${e.to}`));
    expect(expected.get('received→verified')).toBe(1);
    expect(expected.get('received→escalated')).toBe(1);
    const exported = samples.filter((s) => s.name === 'intervene_transitions_total' && s.value > 0);
    expect(new Map(exported.map((s) => [`${s.labels.from}→${s.labels.to}`, s.value]))).toEqual(expected);
  });

  it('counts each breach by deadline, one per firing, with its lateness observed by the deadline worker', () => {
    const firings = audits.filter((e) => e.event === 'DEADLINE');
    const byName = tally(firings, (e) => e.data?.name as string);
    expect(byName.get('firstResponse')).toBe(1);
    expect(byName.get('handoff')).toBeGreaterThanOrEqual(2);
    for (const [deadline, count] of byName) {
      expect(value('intervene_deadlines_breached_total', { deadline }), deadline).toBe(count);
      expect(value('intervene_deadline_firing_lateness_seconds_count', { deadline }), deadline).toBe(count);
    }
    // Every firing within a second of due (the tests of real-time precision are stricter).
    expect(value('intervene_deadline_firing_lateness_seconds_bucket', { le: '1' })).toBe(firings.length);
  });

  it('counts armings (one per epoch issued) and deadlines met, by deadline', async () => {
    const cases = await Promise.all(Object.values(ids).map((id) => readCase(rt, id)));
    const epochs = cases.reduce((sum, c) => sum + c.context.epoch, 0);
    expect(value('intervene_deadlines_armed_total')).toBe(epochs);
    const met = tally(
      cases.flatMap((c) => Object.entries(c.context.deadlines)),
      ([name, d]) => (d.status === 'met' ? name : undefined),
    );
    expect(met.get('firstResponse')).toBeGreaterThanOrEqual(1);
    expect(met.get('handoff')).toBe(1);
    for (const [deadline, count] of met) {
      expect(value('intervene_deadlines_met_total', { deadline }), deadline).toBeGreaterThanOrEqual(count);
    }
    // The policy's deadlines are exported from the start, at 0 until something happens.
    expect(value('intervene_deadlines_excused_total', { deadline: 'followUp' })).toBe(0);
  });

  it('counts hand-offs by department and rung: one per hand-off package', async () => {
    const missed = (await readCase(rt, ids.missed)).context.escalation;
    const legal = (await readCase(rt, ids.legal)).context.escalation;
    expect(legal).toMatchObject({ department: 'legal', level: 1, seq: 1 });
    expect(missed?.level).toBeGreaterThanOrEqual(2);
    expect(value('intervene_escalations_total')).toBe((missed?.seq ?? 0) + (legal?.seq ?? 0));
    expect(value('intervene_escalations_total', { department: 'legal', rung: '1', trigger: 'legal_dispute' })).toBe(1);
    expect(
      value('intervene_escalations_total', {
        department: missed?.department as string,
        rung: String(missed?.level),
        trigger: 'deadline_missed',
      }),
    ).toBe(1);
  });

  it('counts deliveries by outcome: the failed attempt and the deliveries', () => {
    expect(value('intervene_deliveries_total', { outcome: 'failed' })).toBeGreaterThanOrEqual(1);
    const delivered = receiver.deliveries.filter((r) => r.status === 200).length;
    expect(value('intervene_deliveries_total', { outcome: 'delivered' })).toBeGreaterThanOrEqual(1);
    expect(value('intervene_deliveries_total', { outcome: 'delivered' })).toBeLessThanOrEqual(delivered);
    expect(value('intervene_deliveries_total', { outcome: 'dead' })).toBe(0);
    expect(value('intervene_deliveries_dead')).toBe(0);
  });

  it('reads queue job counts, cases per state, timers and Redis at scrape time', () => {
    for (const queue of ['deadlines', 'notify', 'intake']) {
      for (const state of ['waiting', 'delayed', 'active', 'failed']) {
        expect(value('intervene_queue_jobs', { queue, state }), `${queue} ${state}`).toBeGreaterThanOrEqual(0);
      }
    }
    expect(value('intervene_cases', { state: 'escalated' })).toBe(2);
    expect(value('intervene_cases', { state: 'resolved' })).toBe(1);
    expect(value('intervene_cases', { state: 'received' })).toBe(0);
    // The resolved case waits for its follow-up (2.2.5): its timer is in Redis, not yet due.
    expect(value('intervene_timers_pending')).toBeGreaterThanOrEqual(1);
    expect(value('intervene_timers_overdue_seconds')).toBe(0);
    expect(value('intervene_redis_up')).toBe(1);
    expect(value('intervene_ready')).toBe(1);
    const rtt = value('intervene_redis_rtt_seconds') as number;
    expect(rtt).toBeGreaterThan(0);
    expect(rtt).toBeLessThan(1);
    expect(value('intervene_process_cpu_seconds_total')).toBeGreaterThan(0);
  });

  it('carries no case id and no personal data, in labels or anywhere else', () => {
    for (const id of Object.values(ids)) expect(exposition).not.toContain(id);
    expect(exposition).not.toMatch(/c[0-9a-f]{24}/);
    for (const text of [PERSON.id, PERSON.name, PERSON.phone, PERSON.email, SUBJECT, DESCRIPTION, 'refund']) {
      expect(exposition.toLowerCase()).not.toContain(text.toLowerCase());
    }
    // Every label value comes from a closed set or a name the policy defines.
    const policy = rt.policies.current('MC-2026-001');
    const allowed: Record<string, Set<string>> = {
      deadline: new Set(Object.keys(policy.deadlines)),
      department: new Set(Object.keys(policy.departments)),
    };
    for (const s of samples) {
      for (const [label, v] of Object.entries(s.labels)) {
        if (allowed[label]) expect(allowed[label].has(v), `${s.name} ${label}=${v}`).toBe(true);
        expect(v.length, `${s.name} ${label}=${v}`).toBeLessThanOrEqual(64);
      }
    }
  });

  it('needs an ops or auditor key: no key is 401, other roles 403', async () => {
    const anonymous = await api.request('GET', '/metrics', { as: null });
    expectProblem(anonymous, 401, 'UNAUTHENTICATED');
    for (const caller of ['service', 'agent', 'supervisor', 'legal'] as const) {
      expectProblem(await api.request('GET', '/metrics', { as: caller }), 403, 'FORBIDDEN');
    }
    const auditor = await api.request('GET', '/metrics', { as: 'auditor' });
    expect(auditor.status).toBe(200);
    expect(auditor.text).toContain('intervene_events_applied_total');
  });
});
