import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { Recurring } from '../domain/recurring.ts';
import type { CaseStore } from '../store/case-store.ts';
import { parseTimerJobId } from '../store/indexes.ts';
import type { TimerJob } from './timer-queue.ts';

export interface PromoterOptions {
  readonly store: CaseStore;
  readonly queue: Queue<TimerJob>;
  /** Jobs are delayed to this long before due; the worker holds them until the exact due time. */
  readonly leadMs: number;
  /** Timers due within this horizon are moved into BullMQ. */
  readonly aheadMs: number;
  readonly clock?: () => number;
  readonly log?: Logger;
}

const BATCH = 1000;

/**
 * Moves armed timers from each partition's `timers` set (written by the commit script) into the
 * deadlines queue shortly before they are due, as delayed jobs with their deterministic id
 * `<case>.<deadline>.<epoch>`. Far-off timers thus cost a sorted-set entry, not a job, and re-arming a
 * case costs nothing beyond its commit. Overdue timers (after downtime) are promoted at once, in due
 * order. Add first, remove after: a crash in between re-adds the same job id, which BullMQ or the
 * engine's idempotency absorbs; any number of promoters may run.
 */
export class TimerPromoter {
  readonly #opts: PromoterOptions;
  readonly #clock: () => number;
  readonly #loop = new Recurring(
    () => this.promote(),
    (error) => this.#opts.log?.error({ err: (error as Error).message }, 'timer promotion failed'),
  );

  constructor(opts: PromoterOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? Date.now;
  }

  /** Promotes every timer due within the horizon; returns how many. */
  async promote(): Promise<number> {
    const { store, queue, leadMs, aheadMs } = this.#opts;
    let total = 0;
    for (;;) {
      const now = this.#clock();
      const pipe = store.redis.pipeline();
      for (let p = 0; p < store.keys.partitions; p++) {
        pipe.zrangebyscore(store.keys.timers(p), '-inf', String(now + aheadMs), 'WITHSCORES', 'LIMIT', 0, BATCH);
      }
      const replies = (await pipe.exec()) ?? [];
      const due: { partition: number; id: string; dueAt: number }[] = [];
      let full = false;
      replies.forEach(([error, flat], partition) => {
        if (error) throw error;
        const list = flat as string[];
        if (list.length >= BATCH * 2) full = true;
        for (let i = 0; i < list.length; i += 2)
          due.push({ partition, id: list[i] as string, dueAt: Number(list[i + 1]) });
      });
      if (due.length === 0) return total;
      due.sort((a, b) => a.dueAt - b.dueAt);
      await queue.addBulk(
        due.map((t) => {
          const { caseId, name, epoch, warning } = parseTimerJobId(t.id);
          return {
            name,
            // No personal data in job payloads: BullMQ stores them in clear text.
            data: { caseId, name, epoch, dueAt: t.dueAt, ...(warning === undefined ? {} : { warning }) },
            opts: { jobId: t.id, delay: Math.max(0, t.dueAt - leadMs - now) },
          };
        }),
      );
      const rem = store.redis.pipeline();
      for (const t of due) rem.zrem(store.keys.timers(t.partition), t.id);
      await rem.exec();
      total += due.length;
      if (!full) return total;
    }
  }

  /** Promotes at once, then every `intervalMs` until stopped. */
  start(intervalMs: number): void {
    this.#loop.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }
}
