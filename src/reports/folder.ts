import type { Logger } from 'pino';
import { Recurring } from '../domain/recurring.ts';
import type { PolicyRegistry } from '../policy/registry.ts';
import { reportSettings } from '../policy/reports.ts';
import type { DayWrite, ReportStore } from '../store/report-store.ts';
import { aggregate, splitDayKey } from './aggregate.ts';
import type { Fact } from './facts.ts';
import { addDays } from './periods.ts';

export interface FolderOptions {
  readonly store: ReportStore;
  readonly policies: PolicyRegistry;
  readonly log?: Logger;
  /** Facts read and folded per script call. */
  readonly batch?: number;
  /** Wall-clock time for key expiry (never the engine's injected clock: Redis expires on its own clock). */
  readonly clock?: () => number;
}

const DAY_S = 86_400;

/**
 * Folds each partition's facts stream into the per-day aggregates and trims what it folded. Any number
 * of folders may run (one per reports worker, plus on-demand catch-up before a report): a batch is
 * applied only if the partition's cursor has not moved since it was read, so each fact counts once.
 */
export class ReportFolder {
  readonly #opts: FolderOptions;
  readonly #clock: () => number;
  #budgetMs = 1_000;
  readonly #loop = new Recurring(
    () => this.drain(this.#budgetMs),
    (error) => this.#opts.log?.error({ err: (error as Error).message }, 'report fold failed'),
  );

  constructor(opts: FolderOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? Date.now;
  }

  #retention(contractId: string): number {
    try {
      return reportSettings(this.#opts.policies.current(contractId)).retentionDays;
    } catch {
      return reportSettings({}).retentionDays;
    }
  }

  /** Folds one batch of a partition; returns the number of facts it folded (0: nothing new, or lost a race). */
  async foldPartition(partition: number): Promise<number> {
    const { store, log } = this.#opts;
    const { cursor, rows } = await store.unfolded(partition, this.#opts.batch ?? 1_000);
    const last = rows.at(-1);
    if (!last) return 0;
    const facts: Fact[] = [];
    for (const [id, json] of rows) {
      try {
        facts.push(JSON.parse(json) as Fact);
      } catch {
        log?.warn({ partition, id }, 'unreadable report fact skipped');
      }
    }
    const { counters, terms } = aggregate(facts, (contract) => this.#retention(contract));
    const writes: DayWrite[] = [];
    // Kept `retentionDays` after the day, and never less than two days from now (Redis's own clock).
    const floor = Math.floor(this.#clock() / 1000) + 2 * DAY_S;
    const expiry = (contract: string, day: string) =>
      Math.max(floor, Math.floor(Date.parse(`${addDays(day, this.#retention(contract) + 2)}T00:00:00Z`) / 1000));
    for (const [kind, map] of [
      ['h', counters],
      ['z', terms],
    ] as const) {
      for (const [key, fields] of map) {
        const { contract, day } = splitDayKey(key);
        const redisKey =
          kind === 'h' ? store.counters(partition, contract, day) : store.terms(partition, contract, day);
        writes.push({ key: redisKey, kind, expireAt: expiry(contract, day), fields });
      }
    }
    return (await store.fold(partition, cursor, last[0], writes)) ? rows.length : 0;
  }

  /** Folds every partition until its stream is empty or `budgetMs` has passed; returns the facts folded. */
  async drain(budgetMs = Number.POSITIVE_INFINITY): Promise<number> {
    const until = performance.now() + budgetMs;
    const partitions = Array.from({ length: this.#opts.store.keys.partitions }, (_, p) => p);
    const counts = await Promise.all(
      partitions.map(async (p) => {
        let total = 0;
        let misses = 0;
        while (performance.now() < until) {
          const n = await this.foldPartition(p);
          total += n;
          if (n > 0) continue;
          // Nothing new, or another folder won this batch: look once more, then stop.
          if (++misses > 1 || (await this.#opts.store.redis.xlen(this.#opts.store.facts(p))) === 0) break;
        }
        return total;
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Drains every `intervalMs` until stopped. */
  start(intervalMs: number): void {
    if (this.#loop.started) return;
    this.#budgetMs = Math.max(1_000, intervalMs * 5);
    this.#loop.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.#loop.stop();
  }
}
