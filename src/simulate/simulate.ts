import type { SnapshotFrom } from 'xstate';
import { type CaseMachine, createCaseMachine } from '../../machines/case.machine.ts';
import { clauseOf } from '../../machines/clauses.ts';
import { nextDue } from '../../machines/clocks.ts';
import { explainRefusal } from '../../machines/refusals.ts';
import { pureInitialTransition, pureTransition } from '../../machines/transition.ts';
import type { Actor, MachineEvent } from '../../machines/types.ts';
import { Forbidden } from '../domain/errors.ts';
import type { CaseEvent, OutageSpan, PublicEvent } from '../domain/events.ts';
import { authorize } from '../engine/authorize.ts';
import type { EffectAction } from '../engine/effects.ts';
import type { Policy } from '../policy/policy.ts';
import { TimelineWriter } from './entries.ts';
import type { Script, ScriptOutage, ScriptStep } from './script.ts';
import { type Cause, isoDuration, type Snapshot, type Timeline } from './timeline.ts';

// The what-if simulator: one scripted case through the very machine the engine runs, on a simulated
// clock and without Redis. Like the engine it authorizes each event, transitions the pure machine,
// derives the effects, and fires the case's single wake-up (nextDue) when it falls due, as the
// system's DEADLINE event with the outage windows over the clock's running time.

const SYSTEM: Actor = { name: 'intervene-timers', role: 'system' };
const CASE_ID = 'simulated';
/** A runaway guard: no policy needs this many timer firings in one run. */
const MAX_FIRINGS = 100_000;

type Snap = SnapshotFrom<CaseMachine>;

/** What ops do about a window, when (6.2): declare it, end it. Each is the engine's outage job. */
interface OutageNews {
  readonly at: number;
  readonly outage: ScriptOutage;
  readonly events: readonly ('OUTAGE_END' | 'EXCUSE')[];
}

/** Runs a script against a policy and returns the timeline. Pure: the same inputs give the same timeline. */
export function simulate(policy: Policy, script: Script): Timeline {
  return new Run(policy, script).run();
}

class Run {
  readonly #policy: Policy;
  readonly #script: Script;
  readonly #machine: CaseMachine;
  readonly #writer: TimelineWriter;
  readonly #news: OutageNews[];
  #snapshot: Snap;
  #now: number;

  constructor(policy: Policy, script: Script) {
    this.#policy = policy;
    this.#script = script;
    this.#machine = createCaseMachine(policy);
    this.#writer = new TimelineWriter(policy);
    this.#news = outageNews(script.outages);
    this.#now = script.start;
    const [snapshot, actions] = pureInitialTransition(this.#machine, {
      caseId: CASE_ID,
      open: script.open,
      at: script.start,
    });
    this.#snapshot = snapshot;
    this.#writer.step(script.start, { kind: 'opened' }, undefined, this.#view(), actions as EffectAction[]);
  }

  run(): Timeline {
    for (const step of this.#script.events) {
      this.#advance(step.at);
      this.#now = step.at;
      this.#send(step);
    }
    this.#advance(this.#script.until);
    return this.#timeline();
  }

  /** Everything that falls due up to `to`, in order: ops' outage news first at a tie, then the wake-up. */
  #advance(to: number): void {
    for (let firings = 0; ; firings++) {
      if (firings > MAX_FIRINGS) throw new Error(`simulator: more than ${MAX_FIRINGS} timer firings; the run stops`);
      const news = this.#news[0];
      const wake = nextDue(this.#snapshot.context.deadlines);
      const wakeAt = wake ? Math.max(wake.dueAt, this.#now) : Number.POSITIVE_INFINITY;
      if (news && news.at <= to && news.at <= wakeAt) {
        this.#news.shift();
        this.#now = Math.max(this.#now, news.at);
        for (const type of news.events) this.#outageEvent(type, news.outage);
        continue;
      }
      if (!wake || wakeAt > to) return;
      this.#now = wakeAt;
      this.#fire(wake);
    }
  }

  /** The case's wake-up fires: a warning, or the deadline itself with the outage windows over its running time. */
  #fire(wake: NonNullable<ReturnType<typeof nextDue>>): void {
    const at = this.#now;
    const clock = this.#snapshot.context.deadlines[wake.name];
    const warning = wake.warning === undefined ? {} : { warning: wake.warning };
    // 6.2: as the engine does, a deadline (not a warning) falling due learns of the windows over its running time.
    const outages =
      wake.warning === undefined && clock ? this.#outagesOver(clock.since ?? clock.armedAt, at) : ([] as OutageSpan[]);
    const event: CaseEvent = {
      type: 'DEADLINE',
      name: wake.name,
      epoch: wake.epoch,
      ...warning,
      ...(outages.length > 0 ? { outages } : {}),
    };
    const result = this.#transition(event, SYSTEM, at);
    if (!result.accepted) {
      // The wake-up is the machine's own nextDue at or after its due time: a refusal is a bug, not a scenario.
      throw new Error(`simulator: the machine refused its own timer ${wake.name}: ${result.refusal.code}`);
    }
    this.#writer.step(
      at,
      { kind: 'timer', outages: outages.map((o) => o.id) },
      result.before,
      this.#view(),
      result.actions,
    );
  }

  /** OUTAGE_END and EXCUSE, as the engine's outage jobs send them; a case they do not concern is left alone. */
  #outageEvent(type: 'OUTAGE_END' | 'EXCUSE', outage: ScriptOutage): void {
    const at = this.#now;
    const result = this.#transition({ type, outage: known(outage, at) }, SYSTEM, at);
    if (result.accepted)
      this.#writer.step(at, { kind: 'outage', outage: outage.id }, result.before, this.#view(), result.actions);
  }

  /** A scripted event: authorized and decided as the engine would; a refusal is recorded and the run goes on. */
  #send(step: ScriptStep): void {
    const at = step.at;
    const { name, role, department } = step.actor;
    const label = department ? `${role} ${department}` : role;
    const by = name === role ? label : `${name} (${label})`;
    const machineEvent = { ...step.event, at, actor: step.actor } as MachineEvent;
    const cause: Extract<Cause, { kind: 'event' }> = {
      kind: 'event',
      type: step.event.type,
      by,
      summary: summary(step.event),
      clause: clauseOf(this.#policy, machineEvent),
      ...(step.event.type === 'MOVE_DUE' ? { reason: step.event.reason } : {}),
    };
    try {
      authorize(step.actor, machineEvent, this.#snapshot.context);
    } catch (error) {
      if (!(error instanceof Forbidden)) throw error;
      this.#writer.refused(at, cause, error.code, error.clause ?? '6.1', error.message);
      return;
    }
    const result = this.#transition(step.event, step.actor, at);
    if (!result.accepted) {
      const { code, clause, message } = result.refusal;
      this.#writer.refused(at, cause, code, clause, message);
      return;
    }
    this.#writer.step(at, cause, result.before, this.#view(), result.actions);
  }

  /** One pure transition from the case as the store would hold it (a JSON round trip), as `engine.apply` does. */
  #transition(event: CaseEvent, actor: Actor, at: number) {
    const before = this.#view();
    const machineEvent = { ...event, at, actor } as MachineEvent;
    const restored = this.#machine.resolveState(
      JSON.parse(JSON.stringify({ value: before.state, context: before.context })),
    );
    const [next, actions] = pureTransition(this.#machine, restored, machineEvent);
    if (next.context === restored.context) {
      const refusal = explainRefusal(this.#machine, this.#policy, before.state, before.context, machineEvent);
      return { accepted: false as const, refusal };
    }
    this.#snapshot = next;
    return { accepted: true as const, before, actions: actions as EffectAction[] };
  }

  /** The windows known at `to` that overlap [from, to], as the engine's outage store answers (OutageStore.overlapping). */
  #outagesOver(from: number, to: number): OutageSpan[] {
    return this.#script.outages
      .filter((o) => o.declared <= to)
      .map((o) => known(o, to))
      .filter((o) => o.start <= to && (o.end === undefined || o.end > from));
  }

  #view(): Snapshot {
    return { state: String(this.#snapshot.value), context: this.#snapshot.context };
  }

  #timeline(): Timeline {
    const ctx = this.#snapshot.context;
    const when = (ms: number) => this.#writer.when(ms);
    const business = (name: string) => this.#policy.deadlines[name]?.clock === 'business';
    return {
      contract: { id: this.#policy.contract.id, version: this.#policy.contract.version },
      timezone: this.#policy.timezone,
      start: when(this.#script.start),
      until: when(this.#script.until),
      entries: this.#writer.entries,
      final: {
        state: String(this.#snapshot.value),
        deadlines: Object.entries(ctx.deadlines).map(([name, d]) => ({
          name,
          status: d.status,
          ...(d.status === 'paused'
            ? { remaining: isoDuration(d.remainingMs ?? 0, !business(name)) }
            : { dueAt: when(d.dueAt) }),
        })),
        escalation: ctx.escalation && {
          department: ctx.escalation.department,
          rung: ctx.escalation.level,
          status: ctx.escalation.status,
        },
      },
    };
  }
}

/** A window as the engine knows it at `at`: its end only once ops have ended it. */
function known(o: ScriptOutage, at: number): OutageSpan {
  return { id: o.id, start: o.start, ...(o.end !== undefined && o.end <= at ? { end: o.end } : {}), reason: o.reason };
}

/**
 * When ops act on each window: a declaration after the window began excuses the breaches it explains;
 * ending it resumes the cases it holds, then excuses (the engine's `end` and `excuse` outage jobs).
 */
function outageNews(outages: readonly ScriptOutage[]): OutageNews[] {
  const news: OutageNews[] = [];
  for (const o of outages) {
    if (o.declared > o.start) news.push({ at: o.declared, outage: o, events: ['EXCUSE'] });
    if (o.end !== undefined && o.end >= o.declared)
      news.push({ at: o.end, outage: o, events: ['OUTAGE_END', 'EXCUSE'] });
  }
  return news.sort((a, b) => a.at - b.at);
}

/** The event in a few words: its type and the fields that say what it does (never its free text). */
function summary(event: PublicEvent): string {
  switch (event.type) {
    case 'PAUSE':
      return `PAUSE ${event.reason}`;
    case 'MOVE_DUE':
      return `MOVE_DUE ${event.deadline} to ${event.dueAt}`;
    case 'FLAG':
      return `FLAG ${event.flag}`;
    case 'ESCALATE':
      return `ESCALATE to ${event.recommendation}`;
    case 'COORDINATE':
    case 'DEPARTMENT_REPLY':
    case 'HANDOFF_ACCEPT':
      return `${event.type} ${event.department}`;
    case 'RESOLVE':
      return event.adjustment ? `RESOLVE with ${event.adjustment.amount} ${event.adjustment.currency}` : 'RESOLVE';
    case 'SURVEY_RESULT':
      return `SURVEY_RESULT ${event.score}`;
    default:
      return event.type;
  }
}
