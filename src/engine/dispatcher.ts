import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { Recurring } from '../domain/recurring.ts';
import type { CaseStore } from '../store/case-store.ts';
import { timerJobId } from '../store/indexes.ts';
import type { Delivery, DeliveryReference, StreamEntry, TimerCancel } from './effects.ts';
import type { CommittedEntries } from './engine.ts';

export interface DispatcherOptions {
  readonly store: CaseStore;
  readonly notify: Queue;
  /** The deadlines queue, for cancelling timers already promoted into it. */
  readonly deadlines?: Queue;
  /** Outbox entries older than this are taken to be orphaned by a crashed process and re-dispatched. */
  readonly graceMs?: number;
  readonly log?: Logger;
  readonly clock?: () => number;
}

type Batch = Map<number, { id: string; entry: StreamEntry }[]>;

/**
 * Moves outbox entries (webhook deliveries) into BullMQ. The committing process dispatches its own entries at once (batched);
 * a sweep re-dispatches entries left behind by a process that died between commit and dispatch.
 * Every step is idempotent: deterministic job ids, delivery records written by the commit (HSETNX here for
 * entries committed before that), XDEL last. (Timers do not
 * pass through here: they are committed to the `timers` set and promoted by the TimerPromoter.)
 */
export class Dispatcher {
  readonly #opts: DispatcherOptions;
  readonly #clock: () => number;
  #pending: Batch = new Map();
  /** Entries this process has queued or is sending: the sweep leaves them alone. */
  readonly #held = new Set<string>();
  #flushing: Promise<void> = Promise.resolve();
  #scheduled = false;
  readonly #sweeps = new Recurring(
    () => this.sweep(),
    (error) => this.#opts.log?.error({ err: error }, 'outbox sweep failed'),
  );

  constructor(opts: DispatcherOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? Date.now;
  }

  /** The engine's `onCommitted` hook. */
  readonly enqueue = (committed: CommittedEntries): void => {
    if (committed.orphaned) {
      void this.sweep(0).catch((error: unknown) => this.#opts.log?.error({ err: error }, 'outbox sweep failed'));
    }
    if (committed.entries.length === 0) return;
    const list = this.#pending.get(committed.partition) ?? [];
    list.push(...committed.entries);
    for (const e of committed.entries) this.#held.add(e.id);
    this.#pending.set(committed.partition, list);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        void this.flush();
      });
    }
  };

  /**
   * Dispatches everything enqueued; one flush runs at a time and each takes all that is pending when it
   * starts, so batches grow with load. Removes follow their adds.
   */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      while (this.#pending.size > 0) {
        const batch = this.#pending;
        this.#pending = new Map();
        try {
          await this.#dispatch(batch);
        } catch (error) {
          this.#opts.log?.error({ err: error }, 'outbox dispatch failed; the sweep retries');
        } finally {
          for (const entries of batch.values()) for (const e of entries) this.#held.delete(e.id);
        }
      }
    });
    return this.#flushing;
  }

  /** Re-dispatches entries older than the grace period (default 5 s) in every partition. Returns how many. */
  async sweep(graceMs = this.#opts.graceMs ?? 5_000): Promise<number> {
    const { store } = this.#opts;
    const before = this.#clock() - graceMs;
    const batch: Batch = new Map();
    const pipe = store.redis.pipeline();
    for (let p = 0; p < store.keys.partitions; p++)
      pipe.xrange(store.keys.outbox(p), '-', String(before), 'COUNT', 1000);
    const replies = (await pipe.exec()) ?? [];
    let count = 0;
    replies.forEach(([error, rows], partition) => {
      if (error || !Array.isArray(rows) || rows.length === 0) return;
      const entries = (rows as [string, string[]][])
        .filter(([id]) => !this.#held.has(id))
        .map(([id, fields]) => ({ id, entry: JSON.parse(fields[1] as string) as StreamEntry }));
      if (entries.length === 0) return;
      count += entries.length;
      batch.set(partition, entries);
    });
    if (count > 0) {
      this.#opts.log?.warn({ entries: count }, 're-dispatching orphaned outbox entries');
      await this.#dispatch(batch);
    }
    return count;
  }

  /** Sweeps every `intervalMs` (the first after one interval: the process's own entries need none). */
  start(intervalMs = 1_000): void {
    this.#sweeps.start(intervalMs, intervalMs);
  }

  /** Ends the sweeps (waiting for one in progress) and dispatches what is still pending. */
  async stop(): Promise<void> {
    await this.#sweeps.stop();
    await this.flush();
  }

  async #dispatch(batch: Batch): Promise<void> {
    const { store, notify, deadlines } = this.#opts;
    const entries = [...batch.values()].flat().map((e) => e.entry);
    const deliveries = entries.filter((e): e is Delivery | DeliveryReference => e.kind === 'deliver');
    const cancels = entries.filter((e): e is TimerCancel => e.kind === 'timer.cancel');
    // Whole deliveries, committed before the commit wrote their records: the record is written here.
    const unrecorded = deliveries.filter((d): d is Delivery => !('recorded' in d));
    if (unrecorded.length > 0) {
      // 4.2: the delivery record holds the payload sealed; entries arrive sealed under their commit's data key
      // (sealDelivery only seals what is not, e.g. entries written before sealing existed).
      const sealed = await Promise.all(unrecorded.map((d) => store.codec.sealDelivery(d)));
      const pipe = store.redis.pipeline();
      for (const d of sealed) {
        const key = store.keys.forCase(d.caseId).delivery(d.id);
        pipe.hsetnx(key, 'entry', JSON.stringify(d)).hsetnx(key, 'status', 'pending');
      }
      await pipe.exec();
    }
    if (deliveries.length > 0) {
      await notify.addBulk(
        deliveries.map((d) => ({
          name: 'recorded' in d ? d.type : (d.body.type as string),
          // No personal data in job payloads: BullMQ stores them in clear text.
          data: { partition: store.partitionOf(d.caseId), id: d.id },
          opts: { jobId: d.id },
        })),
      );
    }
    // A cancel that misses (the job is running) is harmless: the epoch check drops the stale firing.
    if (deadlines) {
      await Promise.all(
        cancels.map((t) => deadlines.remove(timerJobId(t.caseId, t.name, t.epoch, t.warning)).catch(() => 0)),
      );
    }
    const del = store.redis.pipeline();
    for (const [partition, entries] of batch) del.xdel(store.keys.outbox(partition), ...entries.map((e) => e.id));
    await del.exec();
  }
}
