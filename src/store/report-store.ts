import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';

// Redis side of the service-data reports (3.3): each partition's facts stream (written by the commit
// script), its fold cursor, its per-contract, per-day aggregates, and the stored scheduled reports.
// Aggregates live in the partition (same hash tag as its facts), so one fold is one script on one slot.

const FOLD_LUA = readFileSync(new URL('./scripts/fold-facts.lua', import.meta.url), 'utf8');

/**
 * A partition-day's terms set keeps its most frequent members: past twice this many, the rest are dropped.
 * A report reads the top 200 of each, so more would only cost memory; a dropped rare term starts again
 * from zero if it comes back (themes are exact for the frequent terms a report lists).
 */
export const TERM_CAP = 250;
/** Commands per pipeline when reading a period: keeps each well inside the command timeout. */
const READ_CHUNK = 64;

export interface DayWrite {
  readonly key: string;
  readonly kind: 'h' | 'z';
  /** Unix seconds at which the key expires (retention). */
  readonly expireAt: number;
  readonly fields: ReadonlyMap<string, number>;
}

export interface StoredReportRef {
  readonly contractId: string;
  readonly period: string;
  readonly from: string;
  readonly to: string;
}

type FoldCommand = (...args: (string | number)[]) => Promise<string[]>;

export class ReportStore {
  readonly redis: Redis;
  readonly keys: Keys;

  constructor(redis: Redis, keys: Keys) {
    this.redis = redis;
    this.keys = keys;
    if (!('intervene_fold' in redis)) redis.defineCommand('intervene_fold', { lua: FOLD_LUA });
  }

  /** The partition's facts stream: the commit script appends one fact per accepted event. */
  facts(partition: number): string {
    return `${this.keys.tag(partition)}:facts`;
  }

  /** Id of the partition's last folded fact. */
  cursor(partition: number): string {
    return `${this.keys.tag(partition)}:facts:folded`;
  }

  counters(partition: number, contractId: string, day: string): string {
    return `${this.keys.tag(partition)}:report:${contractId}:${day}`;
  }

  terms(partition: number, contractId: string, day: string): string {
    return `${this.keys.tag(partition)}:report:${contractId}:${day}:terms`;
  }

  /** Facts after the cursor, oldest first: `[id, fact JSON]`. */
  async unfolded(partition: number, count: number): Promise<{ cursor: string; rows: [string, string][] }> {
    const cursor = (await this.redis.get(this.cursor(partition))) ?? '';
    const raw = (await this.redis.xrange(this.facts(partition), cursor ? `(${cursor}` : '-', '+', 'COUNT', count)) as [
      string,
      string[],
    ][];
    return { cursor, rows: raw.map(([id, fields]) => [id, fields[1] ?? '']) };
  }

  /** Applies a batch's increments and moves the cursor, iff the cursor is still `expected`. */
  async fold(partition: number, expected: string, next: string, writes: readonly DayWrite[]): Promise<boolean> {
    const command = (this.redis as unknown as Record<string, FoldCommand>).intervene_fold as FoldCommand;
    const args: (string | number)[] = [expected, next, TERM_CAP];
    for (const w of writes) {
      args.push(w.kind, w.expireAt, w.fields.size);
      for (const [field, by] of w.fields) args.push(field, by);
    }
    const reply = await command.call(
      this.redis,
      2 + writes.length,
      this.cursor(partition),
      this.facts(partition),
      ...writes.map((w) => w.key),
      ...args,
    );
    return reply[0] === 'ok';
  }

  /** Facts committed and not yet folded, over every partition. */
  async pending(): Promise<number> {
    const pipe = this.redis.pipeline();
    for (let p = 0; p < this.keys.partitions; p++) pipe.xlen(this.facts(p));
    let total = 0;
    for (const [error, n] of (await pipe.exec()) ?? []) {
      if (error) throw error;
      total += Number(n);
    }
    return total;
  }

  /**
   * The counters and top terms of a contract's days, summed over the partitions. `topTerms` members of each
   * partition-day are read (the most frequent first).
   */
  async readDays(
    contractId: string,
    days: readonly string[],
    topTerms: number,
  ): Promise<{ counters: Map<string, number>; terms: Map<string, number> }> {
    const counters = new Map<string, number>();
    const terms = new Map<string, number>();
    const reads: [string, 'h' | 'z'][] = [];
    for (const day of days) {
      for (let p = 0; p < this.keys.partitions; p++) {
        reads.push([this.counters(p, contractId, day), 'h'], [this.terms(p, contractId, day), 'z']);
      }
    }
    for (let i = 0; i < reads.length; i += READ_CHUNK) {
      const pipe = this.redis.pipeline();
      for (const [key, kind] of reads.slice(i, i + READ_CHUNK)) {
        if (kind === 'h') pipe.hgetall(key);
        else pipe.zrevrange(key, 0, topTerms - 1, 'WITHSCORES');
      }
      for (const [error, value] of (await pipe.exec()) ?? []) {
        if (error) throw error;
        if (Array.isArray(value)) {
          const list = value as string[];
          for (let j = 0; j < list.length; j += 2) {
            const term = list[j] as string;
            terms.set(term, (terms.get(term) ?? 0) + Number(list[j + 1]));
          }
        } else {
          for (const [field, n] of Object.entries(value as Record<string, string>)) {
            counters.set(field, (counters.get(field) ?? 0) + Number(n));
          }
        }
      }
    }
    return { counters, terms };
  }

  /** A stored report; it shares its contract's hash tag with the index, so both are written in one MULTI. */
  report(ref: Omit<StoredReportRef, 'to'>): string {
    return `${this.keys.prefix}{reports:${ref.contractId}}:${ref.period}:${ref.from}`;
  }

  index(contractId: string): string {
    return `${this.keys.prefix}{reports:${contractId}}:index`;
  }

  /** Stores a scheduled report (its JSON) and lists it; kept `ttlSec`. */
  async save(ref: StoredReportRef, json: string, ttlSec: number, score: number): Promise<void> {
    await this.redis
      .multi()
      .set(this.report(ref), json, 'EX', ttlSec)
      .zadd(this.index(ref.contractId), score, `${ref.period}:${ref.from}:${ref.to}`)
      .exec();
  }

  async load(ref: Omit<StoredReportRef, 'to'>): Promise<string | undefined> {
    return (await this.redis.get(this.report(ref))) ?? undefined;
  }

  /** Stored reports of a contract, newest period first; entries whose report expired are dropped. */
  async list(contractId: string, period: string | undefined, limit: number): Promise<StoredReportRef[]> {
    const members = await this.redis.zrevrange(this.index(contractId), 0, -1);
    const refs = members
      .map((m) => m.split(':'))
      .filter((parts) => period === undefined || parts[0] === period)
      .map(([p = '', from = '', to = '']) => ({ contractId, period: p, from, to }));
    const pipe = this.redis.pipeline();
    for (const r of refs) pipe.exists(this.report(r));
    const alive = ((await pipe.exec()) ?? []).map(([, n]) => Number(n) === 1);
    const gone = refs.filter((_, i) => !alive[i]);
    if (gone.length > 0) {
      await this.redis.zrem(this.index(contractId), ...gone.map((r) => `${r.period}:${r.from}:${r.to}`));
    }
    return refs.filter((_, i) => alive[i]).slice(0, limit);
  }
}
