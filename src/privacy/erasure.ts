import type { Logger } from 'pino';
import type { CaseContext } from '../../machines/types.ts';
import { Recurring } from '../domain/recurring.ts';
import type { Policy } from '../policy/policy.ts';
import type { CaseStore, StoredCase } from '../store/case-store.ts';
import type { IndexOp } from '../store/indexes.ts';
import type { AccessActor, AccessLog } from './access-log.ts';
import { CASE_TREE } from './classification.ts';
import { merge, split } from './split.ts';

// 4.2: a data subject's erasure request, and the retention job for closed cases. Personal fields are
// replaced by ERASED and the case gets a new data key, so every copy sealed under the old one (audit
// entries, outbox and delivery payloads, HTTP replays) becomes unreadable at once. Case ids, states,
// clocks, clauses and the audit trail's actions remain: the anonymised trail and the statistics.

export const ERASED = '[erased]';

export type ErasureBasis = 'request' | 'retention';

/** The context with every personal field (per the classification) replaced by ERASED. */
export function erasedContext(context: CaseContext): CaseContext {
  const { clear, secret } = split(context, CASE_TREE);
  return merge(clear, blank(secret)) as CaseContext;
}

function blank(value: unknown): unknown {
  if (value === undefined) return undefined;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, blank(v)]));
  }
  return ERASED;
}

export const isErased = (context: CaseContext) => context.open.customer.id === ERASED;

export interface ErasureOptions {
  readonly store: CaseStore;
  readonly access: AccessLog;
  /** The policy a case is pinned to (for its retention period). */
  readonly policyOf: (stored: StoredCase) => Promise<Policy>;
  /** Blanks the bodies of the customer's intake jobs still waiting (src/intake/intake-queue.ts); returns how many. */
  readonly intake?: (customerId: string, caseIds: readonly string[]) => Promise<number>;
  readonly log?: Logger;
  readonly clock?: () => number;
}

export const RETENTION_ACTOR = { name: 'intervene-retention', role: 'system' } as const;

export class Erasure {
  readonly #opts: ErasureOptions;
  readonly #clock: () => number;

  constructor(opts: ErasureOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? Date.now;
  }

  /** The cases opened for a customer id that still hold its personal data. */
  async casesOf(customerId: string): Promise<{ ref: string; caseIds: string[] }> {
    const { store } = this.#opts;
    const ref = await store.codec.customerRef(customerId);
    const pipe = store.redis.pipeline();
    for (let p = 0; p < store.keys.partitions; p++) pipe.zrange(`${store.keys.tag(p)}:cust:${ref}`, '0', '-1');
    const ids = ((await pipe.exec()) ?? []).flatMap(([error, rows]) => {
      if (error) throw error;
      return rows as string[];
    });
    return { ref, caseIds: ids.sort() };
  }

  /** DELETE /v1/customers/{id}/personal-data: erases the customer's personal data from every case. */
  async customer(
    customerId: string,
    actor: AccessActor,
    via: string,
  ): Promise<{ caseIds: string[]; intakeJobs: number }> {
    // Waiting intake jobs first, then the cases again: a case a worker opened meanwhile is among them,
    // and the jobs waiting for it are blanked in the next turn, until no new case appears.
    let { ref, caseIds } = await this.casesOf(customerId);
    let intakeJobs = 0;
    for (let turn = 0; this.#opts.intake && turn < 10; turn++) {
      const seen = new Set(caseIds);
      intakeJobs += await this.#opts.intake(customerId, caseIds);
      ({ ref, caseIds } = await this.casesOf(customerId));
      if (caseIds.every((id) => seen.has(id))) break;
    }
    const erased: string[] = [];
    for (const caseId of caseIds) {
      if (await this.case(caseId, actor, 'request', ref)) erased.push(caseId);
    }
    const at = new Date(this.#clock()).toISOString();
    await this.#opts.access.record(
      ...caseIds.map((caseId) => ({ at, actor, action: 'erase', caseId, customer: ref, withinAuthority: true, via })),
      ...(caseIds.length === 0 ? [{ at, actor, action: 'erase', customer: ref, withinAuthority: true, via }] : []),
    );
    this.#opts.log?.info(
      { customer: ref, cases: caseIds.length, intakeJobs, by: actor.name },
      'personal data erased on request',
    );
    return { caseIds: erased, intakeJobs };
  }

  /**
   * Erases one case's personal data: a commit fenced by the version like any other (a writer that read
   * the case before sees a stale version and reloads the erased one). Returns false if already erased.
   */
  async case(caseId: string, actor: AccessActor, basis: ErasureBasis, customerRef?: string): Promise<boolean> {
    const { store } = this.#opts;
    for (let attempt = 1; attempt <= 50; attempt++) {
      const { stored } = await store.load(caseId);
      if (!stored) return false;
      const at = this.#clock();
      if (isErased(stored.context)) {
        if (customerRef) await store.redis.zrem(store.keys.forCase(caseId).index(`cust:${customerRef}`), caseId);
        return false;
      }
      const ref = customerRef ?? (await store.codec.customerRef(stored.context.open.customer.id));
      const indexes: IndexOp[] = [
        { index: 'closed-at', score: null },
        { index: `cust:${ref}`, score: null },
      ];
      const context = { ...erasedContext(stored.context), accepted: stored.context.accepted + 1, updatedAt: at };
      // A new data key: what was sealed under the old one, anywhere, cannot be opened any more.
      store.codec.shred(caseId, stored.version);
      const outcome = await store.commit(this.#request(stored, context, at, actor, basis, indexes));
      if (outcome.kind === 'ok') return true;
    }
    throw new Error(`case ${caseId} kept changing; its erasure gave up after 50 attempts`);
  }

  #request(
    stored: StoredCase,
    context: CaseContext,
    at: number,
    actor: AccessActor,
    basis: ErasureBasis,
    indexes: IndexOp[],
  ) {
    const version = stored.version + 1;
    const caseId = context.caseId;
    return {
      caseId,
      expectedVersion: stored.version,
      fingerprint: this.#opts.store.fingerprintOf(stored),
      state: stored.state,
      indexes,
      policyVersion: stored.policyVersion,
      context,
      // The opening body's hash goes too: a retried open after erasure is a conflict, not a replay.
      ...(stored.opened ? { opened: { ...stored.opened, hash: ERASED } } : {}),
      idempotencyKey: `erase.${caseId}.${version}`,
      remember: false,
      bodyHash: 'erase',
      audit: {
        v: version,
        at: new Date(at).toISOString(),
        actor: { name: actor.name, role: actor.role, ...(actor.department ? { department: actor.department } : {}) },
        event: 'PERSONAL_DATA_ERASED',
        from: stored.state,
        to: stored.state,
        clause: '4.2',
        data: { basis },
      },
      result: { caseId, version, state: stored.state, outcome: 'applied' },
      outbox: [],
    };
  }

  /**
   * The retention job: erases closed cases whose policy's `retention.personalData` has passed since they
   * closed. Returns how many it erased. Cases whose policy sets no retention keep their data.
   */
  async retention(limitPerPartition = 500): Promise<number> {
    const { store, access } = this.#opts;
    const now = this.#clock();
    let erased = 0;
    for (let p = 0; p < store.keys.partitions; p++) {
      const index = `${store.keys.tag(p)}:closed-at`;
      // Oldest closings first, page by page: a case not yet due (its policy keeps data longer) is stepped
      // over, and one whose pinned policy sets no retention leaves the index (it will never be due), so
      // neither can hold back the cases behind it.
      for (let offset = 0; ; ) {
        const rows = await store.redis.zrangebyscore(
          index,
          '-inf',
          String(now),
          'WITHSCORES',
          'LIMIT',
          offset,
          limitPerPartition,
        );
        for (let i = 0; i < rows.length; i += 2) {
          const caseId = rows[i] as string;
          const closedAt = Number(rows[i + 1]);
          const { stored } = await store.load(caseId);
          const keep = stored ? (await this.#opts.policyOf(stored)).retention?.personalDataMs : undefined;
          if (!stored || keep === undefined) {
            await store.redis.zrem(index, caseId);
            continue;
          }
          if (closedAt + keep > now || !(await this.case(caseId, RETENTION_ACTOR, 'retention'))) {
            offset++;
            continue;
          }
          erased++;
          await access.record({
            at: new Date(now).toISOString(),
            actor: RETENTION_ACTOR,
            action: 'retention',
            caseId,
            withinAuthority: true,
            via: 'job',
          });
        }
        if (rows.length < limitPerPartition * 2) break;
      }
    }
    if (erased > 0) this.#opts.log?.info({ cases: erased }, 'retention: personal data of closed cases erased');
    return erased;
  }

  /** Runs the retention job every `intervalMs` until stopped. */
  start(intervalMs: number): { stop(): Promise<void> } {
    const loop = new Recurring(
      () => this.retention(),
      (error) => this.#opts.log?.error({ err: error }, 'retention job failed'),
    );
    loop.start(intervalMs, Math.min(intervalMs, 5_000));
    return loop;
  }
}
