import type { JobType, Queue } from 'bullmq';
import { createCaseMachine } from '../../machines/case.machine.ts';
import type { DeadlineClock } from '../../machines/types.ts';
import type { AuditEntry } from '../engine/audit.ts';
import { handoffDeliveryId } from '../engine/effects.ts';
import type { Engine } from '../engine/engine.ts';
import { type DeadDelivery, listDead } from '../notify/dead-letters.ts';
import type { Policy } from '../policy/policy.ts';
import type { StoredCase } from '../store/case-store.ts';
import { parseTimerJobId } from '../store/indexes.ts';
import { type MachineGraph, machineGraph } from './diagram.ts';

// The read side of the ops pages. Every read is bounded: the per-partition sorted sets are read with
// LIMIT (at most `limit` members per partition) and only the cases named there are loaded; nothing
// scans all cases.

export interface DeliveryState {
  readonly id: string;
  /** `notice` (to the customer), `coordination` or `handoff` (to a department), `warning` (to the deadline's owner). */
  readonly kind: 'notice' | 'coordination' | 'handoff' | 'warning';
  readonly status: string;
  readonly lastError?: string;
  readonly deliveredAt?: string;
}

export interface AtRiskRow {
  readonly caseId: string;
  readonly contractId: string;
  readonly state: string;
  readonly category: string;
  readonly channel: string;
  readonly deadline: string;
  readonly clause: string | null;
  readonly dueAt: number;
  readonly armedAt: number | null;
}

export interface BreachRow {
  readonly caseId: string;
  readonly contractId: string;
  readonly state: string;
  readonly deadline: string;
  readonly clause: string | null;
  readonly at: number;
  readonly escalatedTo: string | null;
  readonly level: number | null;
}

export interface EscalationRow {
  readonly caseId: string;
  readonly contractId: string;
  readonly trigger: string;
  readonly department: string;
  readonly departmentName: string;
  readonly level: number;
  readonly handoff: string;
  readonly clause: string;
  readonly at: number;
}

export interface QueueHealth {
  readonly name: string;
  readonly paused: boolean;
  readonly counts: Readonly<Record<string, number>>;
}

export interface Summary {
  readonly now: number;
  readonly states: readonly { readonly state: string; readonly count: number }[];
  readonly byContract: readonly {
    readonly contractId: string;
    readonly state: string;
    readonly count: number;
    readonly exact: boolean;
  }[];
  readonly atRisk: readonly AtRiskRow[];
  readonly breaches: readonly BreachRow[];
  readonly escalations: readonly EscalationRow[];
  readonly dead: { readonly total: number; readonly items: readonly DeadDelivery[] };
  readonly queues: readonly QueueHealth[];
  readonly staleTimersDropped: number;
  readonly limits: { readonly list: number; readonly sample: number };
}

export interface CaseDetail {
  readonly stored: StoredCase;
  readonly policy: Policy;
  readonly graph: MachineGraph;
  /** The newest entries, oldest first, as the store keeps them (project them before showing them). */
  readonly audit: readonly AuditEntry[];
  readonly auditTotal: number;
  /** Deliveries by audit version. */
  readonly deliveries: ReadonlyMap<number, readonly DeliveryState[]>;
}

export interface OpsReadOptions {
  readonly engine: Engine;
  /** Every BullMQ queue of the service, by name. */
  readonly queues: ReadonlyMap<string, Queue>;
  /** Rows per list panel (default 20). */
  readonly listLimit?: number;
  /** Cases per state read to count by contract (default 100). */
  readonly sampleLimit?: number;
  /** Audit entries shown on a case page (default 200, the newest). */
  readonly auditLimit?: number;
}

/** The audit effect of a new hand-off package, `handoff:<department>@<level>` (not the `handoff` deadline's `handoff:armed`). */
export const HANDOFF_EFFECT = /^handoff:(.+)@(\d+)$/;

/** Pages of wake-up timers read at most to find the soonest due deadlines (see `atRisk`). */
const AT_RISK_PAGES = 5;

const QUEUE_STATES: JobType[] = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'failed',
  'completed',
];
const TIMELINE_DELIVERIES = ['notice', 'coordination'] as const;

export class OpsReader {
  readonly #engine: Engine;
  readonly #queues: ReadonlyMap<string, Queue>;
  readonly #graphs = new Map<string, MachineGraph>();
  readonly listLimit: number;
  readonly sampleLimit: number;
  readonly auditLimit: number;

  constructor(opts: OpsReadOptions) {
    this.#engine = opts.engine;
    this.#queues = opts.queues;
    this.listLimit = opts.listLimit ?? 20;
    this.sampleLimit = opts.sampleLimit ?? 100;
    this.auditLimit = opts.auditLimit ?? 200;
  }

  get #store() {
    return this.#engine.store;
  }

  /** The machine graph of a policy version (cached): its states are what the counts run over. */
  graph(policy: Policy): MachineGraph {
    const id = `${policy.contract.id}@${policy.contract.version}`;
    let graph = this.#graphs.get(id);
    if (!graph) {
      graph = machineGraph(createCaseMachine(policy));
      this.#graphs.set(id, graph);
    }
    return graph;
  }

  /** Every state of every loaded policy's machine, in definition order. */
  states(): string[] {
    const states = new Set<string>();
    for (const p of this.#engine.policies.all()) for (const s of this.graph(p).states) states.add(s.id);
    return [...states];
  }

  async summary(now = Date.now()): Promise<Summary> {
    const states = await this.stateCounts();
    const [byContract, atRisk, breaches, escalations, dead, queues, stale] = await Promise.all([
      this.byContract(states),
      this.atRisk(),
      this.breaches(),
      this.escalations(),
      this.deadLetters(),
      this.queueHealth(),
      this.#store.redis.hget(this.#store.keys.stats(), 'stale_timers_dropped'),
    ]);
    return {
      now,
      states,
      byContract,
      atRisk,
      breaches,
      escalations,
      dead,
      queues,
      staleTimersDropped: Number(stale ?? 0),
      limits: { list: this.listLimit, sample: this.sampleLimit },
    };
  }

  /** ZCARD of each state index in every partition, in one round trip. */
  async stateCounts(): Promise<{ state: string; count: number }[]> {
    const states = this.states();
    const { keys, redis } = this.#store;
    const pipe = redis.pipeline();
    for (const state of states) for (let p = 0; p < keys.partitions; p++) pipe.zcard(`${keys.tag(p)}:state:${state}`);
    const replies = (await pipe.exec()) ?? [];
    return states.map((state, i) => {
      let count = 0;
      for (let p = 0; p < keys.partitions; p++) {
        const [error, n] = replies[i * keys.partitions + p] ?? [];
        if (error) throw error;
        count += Number(n);
      }
      return { state, count };
    });
  }

  /**
   * Open cases by contract and state. With one contract loaded that is the state counts; otherwise the
   * newest `sampleLimit` cases of each state are read (no per-contract index exists), exact when the
   * state holds no more than that.
   */
  async byContract(states: readonly { state: string; count: number }[]): Promise<Summary['byContract']> {
    const open = states.filter((s) => s.state !== 'closed' && s.count > 0);
    const contracts = [...new Set(this.#engine.policies.all().map((p) => p.contract.id))];
    if (contracts.length === 1) {
      return open.map((s) => ({ contractId: contracts[0] as string, state: s.state, count: s.count, exact: true }));
    }
    const rows: { contractId: string; state: string; count: number; exact: boolean }[] = [];
    for (const s of open) {
      const page = await this.#store.page(`state:${s.state}`, 'desc', this.sampleLimit);
      const cases = await this.#loadMany(page.map((r) => r.id));
      const counts = new Map<string, number>();
      for (const c of cases) counts.set(c.context.open.contractId, (counts.get(c.context.open.contractId) ?? 0) + 1);
      const exact = s.count <= this.sampleLimit;
      for (const [contractId, count] of [...counts].sort((a, b) => a[0].localeCompare(b[0]))) {
        rows.push({ contractId, state: s.state, count, exact });
      }
    }
    return rows;
  }

  /**
   * The cases whose armed deadlines fall due soonest. The `timers` sets hold one wake-up per case, at
   * or before its earliest due time (a warning wakes it earlier), so wake-ups are read in order, a
   * page at a time, until the next one is later than the `listLimit`-th due time found: no case not
   * read can be due sooner. At most `AT_RISK_PAGES` pages are read.
   */
  async atRisk(): Promise<AtRiskRow[]> {
    const rows = new Map<string, AtRiskRow | null>();
    let cursor: { score: number; id: string } | undefined;
    for (let round = 0; round < AT_RISK_PAGES; round++) {
      const page = await this.#store.page('timers', 'asc', this.listLimit, cursor);
      const fresh = [...new Set(page.map((t) => parseTimerJobId(t.id).caseId))].filter((id) => !rows.has(id));
      const found = await Promise.all(fresh.map((id) => this.#engine.get(id)));
      fresh.forEach((id, i) => {
        rows.set(id, found[i] ? atRiskRow(found[i].stored, found[i].policy) : null);
      });
      cursor = page.at(-1);
      const dues = [...rows.values()].flatMap((r) => (r ? [r.dueAt] : [])).sort((x, y) => x - y);
      const nth = dues[this.listLimit - 1];
      if (!cursor || page.length < this.listLimit || (nth !== undefined && cursor.score >= nth)) break;
    }
    return [...rows.values()]
      .filter((r): r is AtRiskRow => r !== null)
      .sort((x, y) => x.dueAt - y.dueAt || x.caseId.localeCompare(y.caseId))
      .slice(0, this.listLimit);
  }

  /** Breached deadlines of the newest cases in the `breached` index, newest breach first. */
  async breaches(): Promise<BreachRow[]> {
    const page = await this.#store.page('breached', 'desc', this.listLimit);
    const found = await Promise.all(page.map((r) => this.#engine.get(r.id)));
    const rows: BreachRow[] = [];
    for (const f of found) {
      if (!f) continue;
      const c = f.stored.context;
      for (const [name, clock] of Object.entries(c.deadlines)) {
        if (clock.status !== 'breached') continue;
        rows.push({
          caseId: c.caseId,
          contractId: f.policy.contract.id,
          state: f.stored.state,
          deadline: name,
          clause: f.policy.deadlines[name]?.clause ?? null,
          at: clock.at ?? clock.dueAt,
          escalatedTo: c.escalation?.department ?? null,
          level: c.escalation?.level ?? null,
        });
      }
    }
    return rows.sort((a, b) => b.at - a.at).slice(0, this.listLimit);
  }

  /** Cases now escalated (open hand-offs), newest escalation first. */
  async escalations(): Promise<EscalationRow[]> {
    const page = await this.#store.page('state:escalated', 'desc', this.listLimit);
    const found = await Promise.all(page.map((r) => this.#engine.get(r.id)));
    const rows: EscalationRow[] = [];
    for (const f of found) {
      const e = f?.stored.context.escalation;
      if (!f || !e) continue;
      rows.push({
        caseId: f.stored.context.caseId,
        contractId: f.policy.contract.id,
        trigger: e.trigger,
        department: e.department,
        departmentName: f.policy.departments[e.department]?.name ?? e.department,
        level: e.level,
        handoff: e.status,
        clause: e.clause,
        at: e.at,
      });
    }
    return rows.sort((a, b) => b.at - a.at);
  }

  async deadLetters(): Promise<Summary['dead']> {
    const { redis, keys } = this.#store;
    const [items, total] = await Promise.all([
      listDead(redis, keys, this.listLimit),
      redis.zcard(`${keys.prefix}deliveries:dead`),
    ]);
    return { total, items };
  }

  async queueHealth(): Promise<QueueHealth[]> {
    return Promise.all(
      [...this.#queues].map(async ([name, queue]) => ({
        name,
        paused: await queue.isPaused(),
        counts: await queue.getJobCounts(...QUEUE_STATES),
      })),
    );
  }

  /** A case, its newest audit entries and the deliveries they produced; undefined when it does not exist. */
  async caseDetail(caseId: string): Promise<CaseDetail | undefined> {
    const found = await this.#engine.get(caseId);
    if (!found) return undefined;
    const { redis, keys } = this.#store;
    const k = keys.forCase(caseId);
    // Through the store, which opens what it sealed; one case's trail is small.
    const all = (await this.#store.history(caseId)) as AuditEntry[];
    const audit = all.slice(-this.auditLimit);
    const total = all.length;
    const wanted: { v: number; id: string; kind: DeliveryState['kind'] }[] = [];
    for (const e of audit) {
      for (const kind of TIMELINE_DELIVERIES) wanted.push({ v: e.v, id: `${caseId}.${kind}.${e.v}`, kind });
      // A warning before a deadline (docs/clocks.md): delivery `<case>.warning.<deadline>.<epoch>.<n>`.
      const d = e.data;
      if (e.event === 'DEADLINE' && d?.warning !== undefined) {
        wanted.push({ v: e.v, id: `${caseId}.warning.${d.name}.${d.epoch}.${d.warning}`, kind: 'warning' });
      }
    }
    // 3.2.3: every new hand-off package (escalation seq) is recorded as a `handoff:<dept>@<level>` effect.
    const handoffs = audit.filter((e) => e.effects?.some((x) => HANDOFF_EFFECT.test(x)));
    const lastSeq = found.stored.context.escalation?.seq ?? 0;
    handoffs.forEach((e, i) => {
      const seq = lastSeq - (handoffs.length - 1 - i);
      if (seq > 0) wanted.push({ v: e.v, id: handoffDeliveryId(caseId, seq), kind: 'handoff' });
    });
    const pipe = redis.pipeline();
    for (const w of wanted) pipe.hmget(k.delivery(w.id), 'status', 'lastError', 'deliveredAt');
    const replies = (await pipe.exec()) ?? [];
    const deliveries = new Map<number, DeliveryState[]>();
    wanted.forEach((w, i) => {
      const [status, lastError, deliveredAt] = (replies[i]?.[1] as (string | null)[] | undefined) ?? [];
      if (!status) return;
      const list = deliveries.get(w.v) ?? [];
      list.push({
        id: w.id,
        kind: w.kind,
        status,
        ...(lastError ? { lastError } : {}),
        ...(deliveredAt ? { deliveredAt } : {}),
      });
      deliveries.set(w.v, list);
    });
    return { ...found, graph: this.graph(found.policy), audit, auditTotal: total, deliveries };
  }

  async #loadMany(ids: readonly string[]): Promise<StoredCase[]> {
    const found = await Promise.all(ids.map((id) => this.#store.load(id)));
    return found.flatMap((f) => (f.stored ? [f.stored] : []));
  }
}

/** A case's earliest armed deadline, as an at-risk row (no personal data: ids, names and times only). */
function atRiskRow(stored: StoredCase, policy: Policy): AtRiskRow | null {
  let soonest: [string, DeadlineClock] | undefined;
  for (const [name, clock] of Object.entries(stored.context.deadlines)) {
    if (clock.status === 'armed' && (!soonest || clock.dueAt < soonest[1].dueAt)) soonest = [name, clock];
  }
  if (!soonest) return null;
  const [name, clock] = soonest;
  return {
    caseId: stored.context.caseId,
    contractId: policy.contract.id,
    state: stored.state,
    category: stored.context.open.category,
    channel: stored.context.open.channel,
    deadline: name,
    clause: policy.deadlines[name]?.clause ?? null,
    dueAt: clock.dueAt,
    armedAt: clock.armedAt,
  };
}
