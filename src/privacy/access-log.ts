import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

// 6.1: who read or did what, in which role and department, when, and whether it was within authority.
// Append-only Redis streams, one per case, one per actor (person or backend) and one per customer for
// customer-wide actions (erasure), each entry chained to the one before. Entries carry ids and field
// names, never personal data: the customer appears only as a keyed hash.

const APPEND_LUA = readFileSync(new URL('./scripts/access-append.lua', import.meta.url), 'utf8');

export interface AccessActor {
  readonly name: string;
  readonly role: string;
  readonly department?: string;
}

export interface AccessEntry {
  /** ISO-8601. */
  readonly at: string;
  readonly actor: AccessActor;
  /** `read`, `list`, `history`, `open`, `event`, `erase`, `retention`, `access-log`, … */
  readonly action: string;
  /** The event type of an `event` action. */
  readonly event?: string;
  readonly caseId?: string;
  /** The customer's keyed reference (never the id), for customer-wide actions. */
  readonly customer?: string;
  /** Personal fields shown in clear / masked (paths of the view, or `history.data.<field>`). */
  readonly fields?: readonly string[];
  readonly masked?: readonly string[];
  /** 6.1: allowed and within the actor's authority, or refused (then `code` and `clause` say why). */
  readonly withinAuthority: boolean;
  readonly code?: string;
  readonly clause?: string;
  /** `api`, `dashboard`, `cli` or `job`. */
  readonly via: string;
  /** `GET /v1/cases/:id` for requests. */
  readonly route?: string;
  readonly status?: number;
}

export interface AccessRecord extends AccessEntry {
  /** The stream entry id (`<ms>-<seq>`): the cursor of the next page. */
  readonly id: string;
}

export type AccessQuery =
  | { readonly caseId: string }
  | { readonly actor: string }
  | { readonly customerRef: string; readonly caseIds: readonly string[] };

type AppendCommand = (key: string, entry: string) => Promise<string>;

/** The access log's key prefix: INTERVENE_ACCESS_PREFIX, else the case prefix with `-access:`. */
export function accessPrefixOf(config: { INTERVENE_PREFIX: string; INTERVENE_ACCESS_PREFIX?: string | undefined }) {
  if (config.INTERVENE_ACCESS_PREFIX) return config.INTERVENE_ACCESS_PREFIX;
  const base = config.INTERVENE_PREFIX.replace(/:$/, '');
  return base ? `${base}-access:` : 'access:';
}

export class AccessLog {
  readonly redis: Redis;
  readonly prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
    if (!('intervene_access_append' in redis)) {
      redis.defineCommand('intervene_access_append', { lua: APPEND_LUA, numberOfKeys: 1 });
    }
  }

  caseKey = (caseId: string) => `${this.prefix}case:${caseId}`;
  actorKey = (name: string) => `${this.prefix}actor:${name}`;
  customerKey = (ref: string) => `${this.prefix}customer:${ref}`;

  /** Appends each entry to its case's (or customer's) stream and to its actor's. */
  async record(...entries: readonly AccessEntry[]): Promise<void> {
    const append = (this.redis as unknown as Record<string, AppendCommand>).intervene_access_append as AppendCommand;
    const writes: Promise<string>[] = [];
    for (const entry of entries) {
      const json = JSON.stringify(entry);
      if (entry.caseId) writes.push(append.call(this.redis, this.caseKey(entry.caseId), json));
      if (entry.customer) writes.push(append.call(this.redis, this.customerKey(entry.customer), json));
      writes.push(append.call(this.redis, this.actorKey(entry.actor.name), json));
    }
    await Promise.all(writes);
  }

  /** Newest first; `before` is the `id` of the last entry of the previous page. */
  async query(q: AccessQuery, limit: number, before?: string): Promise<{ items: AccessRecord[]; next: string | null }> {
    const keys =
      'caseId' in q
        ? [this.caseKey(q.caseId)]
        : 'actor' in q
          ? [this.actorKey(q.actor)]
          : [this.customerKey(q.customerRef), ...q.caseIds.map(this.caseKey)];
    const end = before ? `(${before}` : '+';
    const pages = await Promise.all(keys.map((k) => this.redis.xrevrange(k, end, '-', 'COUNT', limit)));
    // An erasure entry sits in the customer's stream and its case's: keep one.
    const seen = new Set<string>();
    const rows = pages
      .flat()
      .filter(([, fields]) => !seen.has(fieldOf(fields, 'e')) && seen.add(fieldOf(fields, 'e')) !== undefined)
      .map(([id, fields]) => ({ id, ...(JSON.parse(fieldOf(fields, 'e')) as AccessEntry) }))
      .sort((a, b) => compareIds(b.id, a.id));
    const items = rows.slice(0, limit);
    return { items, next: items.length === limit ? (items.at(-1)?.id ?? null) : null };
  }

  /** Recomputes a stream's chain. `brokenAt`: the first entry whose link does not match. */
  async verify(key: string): Promise<{ entries: number; brokenAt: string | null }> {
    let previous = '';
    let entries = 0;
    let start = '-';
    for (;;) {
      const rows = await this.redis.xrange(key, start, '+', 'COUNT', 1000);
      for (const [id, fields] of rows) {
        const expected = createHash('sha1')
          .update(`${previous}\n${fieldOf(fields, 'e')}`)
          .digest('hex');
        if (fieldOf(fields, 'h') !== expected) return { entries, brokenAt: id };
        previous = expected;
        entries++;
      }
      if (rows.length < 1000) return { entries, brokenAt: null };
      start = `(${rows.at(-1)?.[0]}`;
    }
  }
}

function fieldOf(fields: string[], name: string): string {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1] ?? '';
  return '';
}

function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}
