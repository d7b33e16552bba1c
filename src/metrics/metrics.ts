import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { CASE_STATES } from '../domain/vocabulary.ts';
import type { AppliedInfo, EngineObserver } from '../engine/engine.ts';
import { type DeadlineChange, deadlineChanges, handoffOf } from './changes.ts';

// The service's Prometheus metrics (docs/ops.md lists each one). One registry per runtime, never
// prom-client's global one, so several runtimes can live in one process (tests). Labels take values
// from closed sets (event types, states, outcomes) or names a policy defines (deadlines, departments):
// never a case id, a customer or anything else unbounded (DESIGN.md invariant 10).

export type DeliveryOutcome = 'delivered' | 'failed' | 'dead' | 'no_endpoint';
export const QUEUE_STATES = ['waiting', 'delayed', 'active', 'failed'] as const;

/** What a scrape reads from Redis and the queues (see scrape.ts). */
export interface ScrapeState {
  readonly redisUp: boolean;
  readonly redisRttMs?: number;
  readonly ready: boolean;
  readonly queues?: readonly { readonly queue: string; readonly counts: Readonly<Record<string, number>> }[];
  readonly cases?: Readonly<Record<string, number>>;
  readonly timersPending?: number;
  readonly timersOverdueMs?: number;
  readonly deadDeliveries?: number;
}

const ms = (value: number) => value / 1000;
/** A label value that is not from the expected closed shape is reported as `other`, never passed through. */
const bounded = (value: string, shape: RegExp) => (shape.test(value) ? value : 'other');
const EVENT = /^[A-Z][A-Z_]{0,31}$/;
const NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

export class Metrics {
  readonly registry = new Registry();
  readonly #events: Counter<'event' | 'outcome'>;
  readonly #transitions: Counter<'from' | 'to'>;
  readonly #applyDuration: Histogram<'event'>;
  readonly #deadlines: Record<DeadlineChange, Counter<'deadline'>>;
  readonly #lateness: Histogram<'deadline'>;
  readonly #stale: Counter;
  readonly #escalations: Counter<'department' | 'rung' | 'trigger'>;
  readonly #deliveries: Counter<'outcome'>;
  readonly #queueJobs: Gauge<'queue' | 'state'>;
  readonly #redisUp: Gauge;
  readonly #redisRtt: Gauge;
  readonly #ready: Gauge;
  readonly #cases: Gauge<'state'>;
  readonly #timersPending: Gauge;
  readonly #timersOverdue: Gauge;
  readonly #dead: Gauge;

  constructor(opts: { processMetrics?: boolean; deadlines?: readonly string[] } = {}) {
    const registers = [this.registry];
    this.#events = new Counter({
      name: 'intervene_events_applied_total',
      help: 'Opens and events answered by the engine, by event type and outcome (applied, replayed, refused, stale, early)',
      labelNames: ['event', 'outcome'],
      registers,
    });
    this.#transitions = new Counter({
      name: 'intervene_transitions_total',
      help: 'Case state changes, from state to state (from="none" for an opening)',
      labelNames: ['from', 'to'],
      registers,
    });
    this.#applyDuration = new Histogram({
      name: 'intervene_apply_duration_seconds',
      help: 'Time engine.open/apply took, from call to answer (load, decide, commit), by event type',
      labelNames: ['event'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    const deadlineCounter = (change: DeadlineChange, help: string) =>
      new Counter({ name: `intervene_deadlines_${change}_total`, help, labelNames: ['deadline'], registers });
    this.#deadlines = {
      armed: deadlineCounter('armed', 'Deadline clocks armed (a new epoch; a resume is counted apart), by deadline'),
      paused: deadlineCounter('paused', 'Deadline clocks paused (6.2), by deadline'),
      resumed: deadlineCounter('resumed', 'Paused deadline clocks running again with the time they had left (6.2)'),
      met: deadlineCounter('met', 'Deadlines met in time, by deadline'),
      breached: deadlineCounter('breached', 'Deadlines missed (a firing recorded a breach), by deadline'),
      excused: deadlineCounter('excused', 'Breaches excused by a declared outage or force majeure (6.2), by deadline'),
      cancelled: deadlineCounter('cancelled', 'Deadlines that lapsed without being met or missed, by deadline'),
    };
    this.#lateness = new Histogram({
      name: 'intervene_deadline_firing_lateness_seconds',
      help: 'How long after its due time a deadline timer fired (applied firings only), by deadline',
      labelNames: ['deadline'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.#stale = new Counter({
      name: 'intervene_stale_timers_dropped_total',
      help: 'Deadline timers dropped because their arming no longer exists (invariant 5): harmless, counted',
      registers,
    });
    this.#escalations = new Counter({
      name: 'intervene_escalations_total',
      help: 'Hand-offs to a department (3.2.3), by department routed to, rung of the ladder and trigger',
      labelNames: ['department', 'rung', 'trigger'],
      registers,
    });
    this.#deliveries = new Counter({
      name: 'intervene_deliveries_total',
      help: 'Webhook delivery attempts by outcome: delivered, failed (retried), dead (out of attempts), no_endpoint',
      labelNames: ['outcome'],
      registers,
    });
    this.#queueJobs = new Gauge({
      name: 'intervene_queue_jobs',
      help: 'Jobs in each BullMQ queue by state, read at scrape time (the same for every process on one Redis)',
      labelNames: ['queue', 'state'],
      registers,
    });
    this.#redisUp = new Gauge({
      name: 'intervene_redis_up',
      help: '1 when Redis answered PING at scrape time, else 0',
      registers,
    });
    this.#redisRtt = new Gauge({
      name: 'intervene_redis_rtt_seconds',
      help: 'Round-trip time of a PING to Redis at scrape time',
      registers,
    });
    this.#ready = new Gauge({
      name: 'intervene_ready',
      help: '1 when this process is ready (Redis reachable, queue connections and workers ready), as /readyz',
      registers,
    });
    this.#cases = new Gauge({
      name: 'intervene_cases',
      help: 'Cases in each state, from the state indexes at scrape time (all processes report the same)',
      labelNames: ['state'],
      registers,
    });
    this.#timersPending = new Gauge({
      name: 'intervene_timers_pending',
      help: 'Armed wake-up timers not yet promoted into the deadlines queue (one per case with an armed deadline)',
      registers,
    });
    this.#timersOverdue = new Gauge({
      name: 'intervene_timers_overdue_seconds',
      help: 'How far past due the oldest unpromoted timer is (0 when none): above a few seconds no promoter runs',
      registers,
    });
    this.#dead = new Gauge({
      name: 'intervene_deliveries_dead',
      help: 'Dead-lettered deliveries waiting for `intervene deliveries redrive`',
      registers,
    });
    // Known label values start at 0, so rate() and increase() see the first increment.
    for (const deadline of new Set(opts.deadlines ?? [])) {
      for (const counter of Object.values(this.#deadlines)) counter.labels(deadline).inc(0);
    }
    for (const outcome of ['delivered', 'failed', 'dead', 'no_endpoint'] as const)
      this.#deliveries.labels(outcome).inc(0);
    this.#stale.inc(0);
    if (opts.processMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix: 'intervene_' });
      // Gauges named like counters (`_total`): promtool's lint rejects them, and they say little.
      for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
        this.registry.removeSingleMetric(`intervene_nodejs_${name}`);
      }
    }
  }

  /** The engine's observer hook: one call per answered open/apply. */
  readonly observer: EngineObserver = {
    applied: (info: AppliedInfo) => {
      const event = bounded(info.event, EVENT);
      this.#events.labels(event, info.outcome).inc();
      this.#applyDuration.labels(event).observe(ms(info.durationMs));
      if (info.outcome === 'stale') this.#stale.inc();
      if (info.outcome !== 'applied' || !info.after) return;
      if (info.to !== null && info.from !== info.to) this.#transitions.labels(info.from ?? 'none', info.to).inc();
      for (const { deadline, change } of deadlineChanges(info.event, info.before, info.after)) {
        this.#deadlines[change].labels(bounded(deadline, NAME)).inc();
      }
      const handoff = handoffOf(info.before, info.after);
      if (handoff) {
        this.#escalations
          .labels(bounded(handoff.department, NAME), String(handoff.rung), bounded(handoff.trigger, NAME))
          .inc();
      }
    },
  };

  /** The deadline worker's hook: a firing the engine applied, and how late after due it ran. */
  readonly deadlineFired = (fired: { readonly name: string; readonly dueAt: number; readonly firedAt: number }) => {
    this.#lateness.labels(bounded(fired.name, NAME)).observe(Math.max(0, ms(fired.firedAt - fired.dueAt)));
  };

  /** The notify worker's hook: what one delivery attempt came to. */
  readonly delivery = (outcome: DeliveryOutcome) => {
    this.#deliveries.labels(outcome).inc();
  };

  /** Sets the gauges read at scrape time. What could not be read is NaN (or left out), never a made-up 0. */
  setScrape(state: ScrapeState): void {
    this.#redisUp.set(state.redisUp ? 1 : 0);
    this.#ready.set(state.ready ? 1 : 0);
    const optional = [
      [this.#redisRtt, state.redisRttMs === undefined ? undefined : ms(state.redisRttMs)],
      [this.#timersPending, state.timersPending],
      [this.#timersOverdue, state.timersOverdueMs === undefined ? undefined : ms(state.timersOverdueMs)],
      [this.#dead, state.deadDeliveries],
    ] as const;
    for (const [gauge, value] of optional) gauge.set(value ?? Number.NaN);
    this.#queueJobs.reset();
    for (const { queue, counts } of state.queues ?? []) {
      for (const s of QUEUE_STATES) this.#queueJobs.labels(queue, s).set(counts[s] ?? 0);
    }
    this.#cases.reset();
    if (state.cases) for (const s of CASE_STATES) this.#cases.labels(s).set(state.cases[s] ?? 0);
  }

  /** The text exposition format (`Content-Type`: `contentType`). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.registry.clear();
  }
}
