import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { type CaseMachine, createCaseMachine } from '../../machines/case.machine.ts';
import { clauseOf } from '../../machines/clauses.ts';
import { elapsedOf } from '../../machines/clocks.ts';
import { explainRefusal } from '../../machines/refusals.ts';
import { deadlineRefusal } from '../../machines/rules.ts';
import { pureInitialTransition, pureTransition } from '../../machines/transition.ts';
import type { Actor, CaseContext, MachineEvent } from '../../machines/types.ts';
import type { OutageStore } from '../deadlines/outages.ts';
import { Conflict, DomainError, EventRefused, Forbidden, NotFound, ValidationError } from '../domain/errors.ts';
import type { CaseEvent, OpenCase, OutageSpan } from '../domain/events.ts';
import { BASE_CATEGORIES } from '../domain/vocabulary.ts';
import type { Policy } from '../policy/policy.ts';
import type { PolicyRegistry } from '../policy/registry.ts';
import { reportFact } from '../reports/facts.ts';
import { CaseStore, type StoredCase } from '../store/case-store.ts';
import { indexOps } from '../store/indexes.ts';
import type { PolicyStore } from '../store/policy-store.ts';
import { auditEntry } from './audit.ts';
import { authorize, authorizeOpen } from './authorize.ts';
import { deliveryEffects, type OutboxEntry, type StreamEntry, timerCancels } from './effects.ts';

export interface ApplyOptions {
  /** Every write carries one: a replay returns the first result and changes nothing (invariant 4). */
  readonly idempotencyKey?: string;
  /** `If-Match`: the version the caller last saw. */
  readonly expectedVersion?: number;
}

export interface ApplyResult {
  readonly caseId: string;
  readonly version: number;
  readonly state: string;
  /** `stale`: a timer of an arming that no longer exists, dropped and counted (invariant 5). */
  readonly outcome: 'applied' | 'replayed' | 'stale' | 'early';
  readonly dueAt?: number;
  /** The case as committed (on `applied`, non-enumerable), so a caller can answer without reading it back. */
  readonly committed?: { readonly stored: StoredCase; readonly policy: Policy; readonly before?: StoredCase };
}

export interface CommittedEntries {
  readonly partition: number;
  readonly entries: readonly { readonly id: string; readonly entry: StreamEntry }[];
  /** Entries of this partition may have been committed without this process knowing their ids. */
  readonly orphaned?: boolean;
}

/** What one `open` or `apply` did, for metrics and tracing: called once per call that got an answer. */
export interface AppliedInfo {
  readonly caseId: string;
  readonly contractId: string;
  readonly event: string;
  readonly outcome: ApplyResult['outcome'] | 'refused';
  readonly from: string | null;
  readonly to: string | null;
  /** The context before and after an accepted event (absent when nothing was committed). */
  readonly before?: CaseContext;
  readonly after?: CaseContext;
  readonly at: number;
  readonly durationMs: number;
}

export interface EngineObserver {
  applied(info: AppliedInfo): void;
}

export interface EngineOptions {
  readonly store: CaseStore;
  readonly policies: PolicyRegistry;
  readonly policyStore?: PolicyStore;
  readonly clock?: () => number;
  readonly log?: Logger;
  /** Called after each commit with its outbox entries: the dispatcher's fast path. */
  readonly onCommitted?: (committed: CommittedEntries) => void;
  readonly maxAttempts?: number;
  /** Timers due within this much may already be BullMQ jobs (see TimerPromoter); default: all. */
  readonly timerHorizonMs?: number;
  /** Told of every answered open/apply (metrics). Must not throw or block. */
  readonly observer?: EngineObserver;
  /** 6.2: outage windows a firing deadline must not count. */
  readonly outages?: OutageStore;
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** The one write path (DESIGN.md): load, authorize, transition, derive effects, commit. */
export class Engine {
  readonly store: CaseStore;
  readonly policies: PolicyRegistry;
  readonly #policyStore: PolicyStore | undefined;
  readonly #clock: () => number;
  readonly #log: Logger | undefined;
  readonly #onCommitted: ((committed: CommittedEntries) => void) | undefined;
  readonly #maxAttempts: number;
  readonly #timerHorizonMs: number;
  readonly #observer: EngineObserver | undefined;
  readonly #outages: OutageStore | undefined;
  readonly #machines = new Map<string, CaseMachine>();
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(opts: EngineOptions) {
    this.store = opts.store;
    this.policies = opts.policies;
    this.#policyStore = opts.policyStore;
    this.#clock = opts.clock ?? Date.now;
    this.#log = opts.log;
    this.#onCommitted = opts.onCommitted;
    this.#maxAttempts = opts.maxAttempts ?? 50;
    this.#timerHorizonMs = opts.timerHorizonMs ?? Number.POSITIVE_INFINITY;
    this.#observer = opts.observer;
    this.#outages = opts.outages;
  }

  /** Opens a case (2.1). The case id derives from the idempotency key, so a retried open finds its first answer. */
  async open(input: OpenCase, actor: Actor, opts: ApplyOptions = {}): Promise<ApplyResult> {
    return this.#observed('OPEN', input.contractId, undefined, () => this.#open(input, actor, opts));
  }

  async #open(input: OpenCase, actor: Actor, opts: ApplyOptions): Promise<ApplyResult> {
    authorizeOpen(actor);
    const policy = this.#currentPolicy(input.contractId);
    validateIntake(policy, input);
    const key = this.#scopedKey(actor, opts.idempotencyKey);
    const caseId = `c${key.slice(0, 24)}`;
    const bodyHash = sha(JSON.stringify(input)).slice(0, 32);
    return this.#serialize(caseId, async () => {
      const { stored } = await this.store.load(caseId);
      if (stored) return replayedOpen(stored, bodyHash);
      const at = this.#clock();
      const machine = this.#machine(policy);
      const [snapshot, actions] = pureInitialTransition(machine, { caseId, open: input, at });
      const context = snapshot.context;
      const state = String(snapshot.value);
      const outbox = deliveryEffects(policy, context, 1, actions);
      const audit = auditEntry(1, at, actor, 'OPEN', undefined, state, state === 'escalated' ? '1' : '2.1', context);
      const opened = { hash: bodyHash, state };
      const result = await this.#commit({
        caseId,
        state,
        policy,
        context,
        key,
        bodyHash,
        audit,
        outbox,
        actor,
        opened,
      });
      if (result !== 'stale-version') return result;
      // Opened meanwhile (a twin request, or this commit re-sent after a reconnect): answer as a replay.
      const again = (await this.store.load(caseId)).stored;
      if (!again) throw new Conflict('VERSION_CONFLICT', `case ${caseId} could not be opened`);
      return replayedOpen(again, bodyHash);
    });
  }

  /** Applies one event to one case. Refusals write nothing and name their clause. */
  async apply(caseId: string, event: CaseEvent, actor: Actor, opts: ApplyOptions = {}): Promise<ApplyResult> {
    return this.#observed(event.type, undefined, caseId, () => this.#apply(caseId, event, actor, opts));
  }

  /** Tells the observer what a call did; an observer's failure never changes the answer. */
  async #observed(
    event: string,
    contractId: string | undefined,
    caseId: string | undefined,
    work: () => Promise<ApplyResult>,
  ): Promise<ApplyResult> {
    const observer = this.#observer;
    if (!observer) return work();
    const started = performance.now();
    const tell = (info: Omit<AppliedInfo, 'at' | 'durationMs' | 'event'>) => {
      try {
        observer.applied({ ...info, event, at: this.#clock(), durationMs: performance.now() - started });
      } catch (error) {
        this.#log?.warn({ err: error }, 'engine observer failed');
      }
    };
    try {
      const result = await work();
      const committed = result.committed;
      tell({
        caseId: result.caseId,
        contractId: committed?.stored.context.open.contractId ?? contractId ?? '',
        outcome: result.outcome,
        from: committed ? (committed.before?.state ?? null) : result.state,
        to: result.state,
        ...(committed?.before ? { before: committed.before.context } : {}),
        ...(committed ? { after: committed.stored.context } : {}),
      });
      return result;
    } catch (error) {
      if (error instanceof EventRefused) {
        tell({ caseId: caseId ?? '', contractId: contractId ?? '', outcome: 'refused', from: null, to: null });
      }
      throw error;
    }
  }

  async #apply(caseId: string, event: CaseEvent, actor: Actor, opts: ApplyOptions): Promise<ApplyResult> {
    const key = this.#scopedKey(actor, opts.idempotencyKey);
    const bodyHash = sha(JSON.stringify([caseId, event])).slice(0, 32);
    return this.#serialize(caseId, async () => {
      const fast = await this.#decideOnLastCommitted(caseId, event, actor, opts, key, bodyHash);
      if (fast !== undefined) return fast;
      for (let attempt = 1; ; attempt++) {
        const { stored, replay } = await this.store.load(caseId, key);
        if (replay !== undefined) return this.#replayed(replay, bodyHash);
        if (!stored) throw new NotFound(`case ${caseId} does not exist`);
        if (opts.expectedVersion !== undefined && opts.expectedVersion !== stored.version) {
          throw new Conflict(
            'PRECONDITION_FAILED',
            `case ${caseId} is at version ${stored.version}, not ${opts.expectedVersion}`,
          );
        }
        const outcome = await this.#decide(caseId, stored, event, actor, key, bodyHash);
        if (outcome !== 'stale-version' && outcome !== 'unsure') return outcome;
        if (attempt >= this.#maxAttempts) {
          throw new Conflict('VERSION_CONFLICT', `case ${caseId} kept changing; gave up after ${attempt} attempts`);
        }
        // Another process won the race: reload and decide again, with a little jitter past the first retries.
        if (attempt > 2) await new Promise((r) => setTimeout(r, Math.random() * attempt * 2));
      }
    });
  }

  /**
   * Decides on the case as this process last committed it, without reading it first. Only an answer the
   * commit script gave is kept: a commit (fenced by its idempotency check, then the version and the
   * record's fingerprint), a replay or an idempotency conflict. Anything else (a stale record, a refusal,
   * a timer that looks stale or early) may come from a case another process has moved since: `undefined`,
   * decide again on the case as read.
   */
  async #decideOnLastCommitted(
    caseId: string,
    event: CaseEvent,
    actor: Actor,
    opts: ApplyOptions,
    key: string,
    bodyHash: string,
  ): Promise<ApplyResult | undefined> {
    const known = this.store.lastCommitted(caseId);
    if (!known || (opts.expectedVersion !== undefined && opts.expectedVersion !== known.version)) return undefined;
    try {
      const outcome = await this.#decide(caseId, known, event, actor, key, bodyHash, true);
      return outcome === 'stale-version' || outcome === 'unsure' ? undefined : outcome;
    } catch (error) {
      // The script's own answer stands; a refusal taken on the remembered case does not.
      if (error instanceof Conflict && error.code === 'IDEMPOTENCY_CONFLICT') throw error;
      if (error instanceof DomainError) return undefined;
      throw error;
    }
  }

  /** The case with the policy version it is pinned to. */
  async get(caseId: string): Promise<{ stored: StoredCase; policy: Policy } | undefined> {
    const { stored } = await this.store.load(caseId);
    if (!stored) return undefined;
    return { stored, policy: await this.#policy(stored.context.open.contractId, stored.policyVersion) };
  }

  async #decide(
    caseId: string,
    stored: StoredCase,
    event: CaseEvent,
    actor: Actor,
    key: string,
    bodyHash: string,
    tentative = false,
  ): Promise<ApplyResult | 'stale-version' | 'unsure'> {
    const at = this.#clock();
    const before = stored.context;
    if (event.type === 'MIGRATE') return this.#migrate(caseId, stored, event, actor, at, key, bodyHash);
    const policy = await this.#policy(stored.context.open.contractId, stored.policyVersion);
    // 6.2: a deadline (not a warning) falling due, and a pause freezing what is left, learn of the outage
    // windows over the running clocks' time, so that time is not counted as used.
    let outages: readonly OutageSpan[] = [];
    const live = event.type === 'DEADLINE' && before.deadlines[event.name]?.epoch === event.epoch;
    const pausing = event.type === 'REQUEST_INFO' || event.type === 'PAUSE';
    if (this.#outages && ((live && event.type === 'DEADLINE' && event.warning === undefined) || pausing)) {
      const since = Math.min(
        ...Object.values(before.deadlines).flatMap((c) => (c.status === 'armed' ? [c.since ?? c.armedAt] : [])),
      );
      if (Number.isFinite(since)) {
        outages = await this.#outages.overlapping(before.open.contractId, before.open.channel, since, at);
      }
    }
    if (outages.length > 0 && event.type === 'DEADLINE') event = { ...event, outages };
    const machineEvent = {
      ...event,
      at,
      actor,
      ...(outages.length > 0 && pausing ? { outages } : {}),
    } as MachineEvent;
    authorize(actor, machineEvent, before);
    const base = { caseId, version: stored.version, state: stored.state };
    if (machineEvent.type === 'DEADLINE') {
      const refusal = deadlineRefusal(before, machineEvent);
      if (refusal && tentative) return 'unsure';
      if (refusal?.code === 'STALE_TIMER') {
        await this.store.redis.hincrby(this.store.keys.stats(), 'stale_timers_dropped', 1);
        this.#log?.info({ caseId, deadline: machineEvent.name, epoch: machineEvent.epoch }, 'stale timer dropped');
        return { ...base, outcome: 'stale' };
      }
      if (refusal) {
        const clock = before.deadlines[machineEvent.name];
        const due = machineEvent.warning === undefined ? clock?.dueAt : clock?.warnAt;
        return { ...base, outcome: 'early', dueAt: due ?? at };
      }
    }
    const machine = this.#machine(policy);
    const snapshot = machine.resolveState({ value: stored.state, context: before });
    const [next, actions] = pureTransition(machine, snapshot, machineEvent);
    if (next.context === before) {
      const refusal = explainRefusal(machine, policy, stored.state, before, machineEvent);
      throw new EventRefused(refusal.code, refusal.message, refusal.clause);
    }
    const state = String(next.value);
    const version = stored.version + 1;
    const fired = machineEvent.type === 'DEADLINE' ? machineEvent : undefined;
    const outbox = [
      ...deliveryEffects(policy, next.context, version, actions),
      ...timerCancels(before, next.context, at, this.#timerHorizonMs, fired),
    ];
    const audit = auditEntry(
      version,
      at,
      actor,
      event.type,
      stored.state,
      state,
      clauseOf(policy, machineEvent),
      next.context,
      event,
      before,
    );
    return this.#commit({
      caseId,
      before: stored,
      state,
      policy,
      context: next.context,
      key,
      bodyHash,
      audit,
      outbox,
      actor,
      tentative,
    });
  }

  /**
   * Applies another policy version to an open case, on purpose and with a reason (e.g. a corrected
   * calendar): each running deadline keeps the time it has run and gets the rest of the new duration.
   */
  async migrate(caseId: string, policyVersion: number, reason: string, actor: Actor, opts: ApplyOptions = {}) {
    if (actor.role !== 'ops' && actor.role !== 'supervisor') {
      throw new Forbidden(`role ${actor.role} may not migrate cases to another policy version`, '6.1');
    }
    return this.apply(caseId, { type: 'MIGRATE', policyVersion, reason, elapsed: {} }, actor, opts);
  }

  async #migrate(
    caseId: string,
    stored: StoredCase,
    event: Extract<CaseEvent, { type: 'MIGRATE' }>,
    actor: Actor,
    at: number,
    key: string,
    bodyHash: string,
  ): Promise<ApplyResult | 'stale-version'> {
    const contractId = stored.context.open.contractId;
    const from = await this.#policy(contractId, stored.policyVersion);
    const to = await this.#policy(contractId, event.policyVersion);
    if (stored.state === 'closed') {
      throw new EventRefused('CASE_CLOSED', `case ${caseId} is closed: there is nothing to migrate`, '6.1');
    }
    if (to.contract.version === from.contract.version) {
      throw new EventRefused('SAME_VERSION', `case ${caseId} is already on version ${from.contract.version}`, '6.1');
    }
    const elapsed = elapsedOf(from, stored.context, at);
    const full = { ...event, elapsed };
    const machine = this.#machine(to);
    const snapshot = machine.resolveState({ value: stored.state, context: stored.context });
    const [next] = pureTransition(machine, snapshot, { ...full, at, actor } as MachineEvent);
    const state = String(next.value);
    const version = stored.version + 1;
    const audit = auditEntry(
      version,
      at,
      actor,
      'MIGRATE',
      stored.state,
      state,
      '6.1',
      next.context,
      full,
      stored.context,
    );
    return this.#commit({
      caseId,
      before: stored,
      state,
      policy: to,
      context: next.context,
      key,
      bodyHash,
      audit,
      outbox: timerCancels(stored.context, next.context, at, this.#timerHorizonMs),
      actor,
    });
  }

  async #commit(c: {
    caseId: string;
    before?: StoredCase;
    state: string;
    policy: Policy;
    context: CaseContext;
    key: string;
    bodyHash: string;
    audit: object;
    outbox: OutboxEntry[];
    actor: Actor;
    opened?: StoredCase['opened'];
    /** Decided on the case as this process last committed it (#decideOnLastCommitted). */
    tentative?: boolean;
  }): Promise<ApplyResult | 'stale-version'> {
    const { caseId, before, state, context, outbox } = c;
    const version = (before?.version ?? 0) + 1;
    const result: ApplyResult = { caseId, version, state, outcome: 'applied' };
    const committed = await this.store.commit({
      caseId,
      expectedVersion: before?.version ?? 0,
      fingerprint: before && this.store.fingerprintOf(before),
      state,
      indexes: indexOps(before, { state, context }),
      policyVersion: c.policy.contract.version,
      context,
      idempotencyKey: c.key,
      // An open needs no record of its own: its case id derives from the key.
      remember: before !== undefined,
      ...((c.opened ?? before?.opened)
        ? { opened: (c.opened ?? before?.opened) as NonNullable<StoredCase['opened']> }
        : {}),
      bodyHash: c.bodyHash,
      audit: c.audit,
      result,
      outbox,
      // 3.3: the event's report fact, appended to the partition's facts stream in the same commit.
      fact: reportFact(c.policy, before?.context, context, c.audit),
    });
    switch (committed.kind) {
      case 'stale':
        return 'stale-version';
      case 'conflict':
        throw new Conflict('IDEMPOTENCY_CONFLICT', 'this idempotency key was used with a different request');
      case 'replay':
        // The same request was committed by an earlier run of this script (a re-sent command, or a twin
        // request): its outbox entries may be waiting for the sweep, so ask for them now. Not when the
        // decision was taken on the remembered case: there a replay is usually a retried request, which the
        // read path answers without a sweep (a reply lost to a reconnect leaves its entries to the periodic
        // sweep, within its grace period).
        if (!c.tentative)
          this.#onCommitted?.({ partition: this.store.partitionOf(caseId), entries: [], orphaned: true });
        return { ...(committed.result as ApplyResult), outcome: 'replayed' };
      case 'ok': {
        const stored: StoredCase = {
          version,
          state,
          policyVersion: c.policy.contract.version,
          context,
          ...((c.opened ?? before?.opened)
            ? { opened: (c.opened ?? before?.opened) as NonNullable<StoredCase['opened']> }
            : {}),
        };
        // The entries as the outbox holds them: a delivery is a reference to the record this commit wrote,
        // sealed under the commit's data key, so a later erasure (which replaces the key) makes the payload
        // unreadable however late the dispatch or the send runs.
        const entries = committed.outboxIds.map((id, i) => ({ id, entry: committed.outbox[i] as StreamEntry }));
        if (entries.length > 0) this.#onCommitted?.({ partition: this.store.partitionOf(caseId), entries });
        if (before?.state !== state) {
          this.#log?.info(
            { caseId, actor: c.actor.name, from: before?.state ?? null, to: state, version },
            'case transition',
          );
        }
        // Non-enumerable: in-process only, never serialized (e.g. into a job's stored return value).
        return Object.defineProperty({ ...result }, 'committed', {
          value: { stored, policy: c.policy, ...(before ? { before } : {}) },
          enumerable: false,
        });
      }
    }
  }

  #replayed(record: string, bodyHash: string): ApplyResult {
    const replay = CaseStore.replayOf(record, bodyHash);
    if (replay.kind === 'conflict') {
      throw new Conflict('IDEMPOTENCY_CONFLICT', 'this idempotency key was used with a different request');
    }
    return { ...(replay.result as ApplyResult), outcome: 'replayed' };
  }

  /** Idempotency keys are scoped to the caller; a missing key gets a fresh one (no replay possible). */
  #scopedKey(actor: Actor, key: string | undefined): string {
    return sha(`${actor.name}\n${key ?? randomUUID()}`).slice(0, 32);
  }

  #currentPolicy(contractId: string): Policy {
    try {
      return this.policies.current(contractId);
    } catch {
      throw new ValidationError('unknown contract', [
        { path: 'contractId', message: `no policy is loaded for contract ${contractId}` },
      ]);
    }
  }

  async #policy(contractId: string, version: number): Promise<Policy> {
    const known = this.policies.find(contractId, version);
    if (known) return known;
    const pinned = await this.#policyStore?.load(contractId, version);
    if (!pinned) throw new NotFound(`policy ${contractId} version ${version} is neither loaded nor pinned in Redis`);
    this.policies.add(pinned);
    return pinned;
  }

  #machine(policy: Policy): CaseMachine {
    const id = `${policy.contract.id}@${policy.contract.version}`;
    let machine = this.#machines.get(id);
    if (!machine) {
      machine = createCaseMachine(policy);
      this.#machines.set(id, machine);
    }
    return machine;
  }

  /** One decision at a time per case in this process; other processes are fenced by the version check. */
  #serialize<T>(caseId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(caseId) ?? Promise.resolve();
    const run = previous.then(work, work);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(caseId, tail);
    void tail.then(() => {
      if (this.#queues.get(caseId) === tail) this.#queues.delete(caseId);
    });
    return run;
  }
}

/** A retried open: the same body answers the first result; another body under the key is a conflict. */
function replayedOpen(stored: StoredCase, bodyHash: string): ApplyResult {
  if (stored.opened?.hash !== bodyHash) {
    throw new Conflict('IDEMPOTENCY_CONFLICT', 'this idempotency key was used with a different request');
  }
  return { caseId: stored.context.caseId, version: 1, state: stored.opened.state, outcome: 'replayed' };
}

/** 3.1.1, 3.1.2: channel and category must be ones the contract knows. */
function validateIntake(policy: Policy, input: OpenCase): void {
  const errors = [];
  if (!policy.channels.includes(input.channel)) {
    errors.push({ path: 'channel', message: `must be one of ${policy.channels.join(', ')} (3.1.1)` });
  }
  const categories = new Set<string>([...BASE_CATEGORIES, ...policy.authority.categories]);
  if (!categories.has(input.category)) {
    errors.push({ path: 'category', message: `must be one of ${[...categories].join(', ')} (1.1–1.5)` });
  }
  if (errors.length > 0) throw new ValidationError('invalid case', errors);
}
