import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { CaseContext } from '../../machines/types.ts';
import { RecentMap } from '../domain/recent.ts';
import type { DeliveryReference } from '../engine/effects.ts';
import type { DataKeyRing } from '../privacy/cipher.ts';
import { CaseCodec } from '../privacy/codec.ts';
import { dataKeysFor } from '../privacy/data-keys.ts';
import type { IndexOp } from './indexes.ts';
import { Keys, partitionOf } from './keys.ts';
import { decodeRecord, encodeSnapshot } from './record.ts';
import { WireScript } from './wire.ts';

const COMMIT = new WireScript(readFileSync(new URL('./scripts/commit-event.lua', import.meta.url), 'utf8'));

/** What is persisted of a case: the machine snapshot and the policy version it is pinned to. */
export interface StoredCase {
  readonly version: number;
  readonly state: string;
  readonly policyVersion: number;
  readonly context: CaseContext;
  /** The opening request: its body hash and first state, to answer a replayed open. */
  readonly opened?: { readonly hash: string; readonly state: string };
}

export interface CommitRequest {
  readonly caseId: string;
  readonly expectedVersion: number;
  /**
   * The record the decision was taken on (`CaseStore.fingerprintOf`): the commit is then stale unless the
   * record is still byte for byte that one, not only at that version.
   */
  readonly fingerprint?: string | undefined;
  readonly state: string;
  readonly indexes: readonly IndexOp[];
  readonly policyVersion: number;
  readonly context: CaseContext;
  readonly opened?: StoredCase['opened'];
  readonly idempotencyKey: string;
  /** `false`: write no idempotency record (an open is recognised by its case). */
  readonly remember?: boolean;
  readonly bodyHash: string;
  readonly audit: object;
  readonly result: object;
  readonly outbox: readonly object[];
  /** 3.3: the event's report fact (src/reports/facts.ts), appended to the partition's facts stream. */
  readonly fact?: object | undefined;
}

export type CommitOutcome =
  /** `outbox`: the entries as the outbox stream holds them (a delivery as its reference). */
  | { readonly kind: 'ok'; readonly version: number; readonly outboxIds: string[]; readonly outbox: readonly object[] }
  | { readonly kind: 'replay'; readonly result: unknown }
  | { readonly kind: 'conflict' }
  | { readonly kind: 'stale'; readonly version: number };

/**
 * The last record each case was written with by this process: its next load need not inflate it, and the
 * engine decides its next event on `stored` without reading it first.
 */
interface Written {
  readonly version: number;
  readonly body: Buffer;
  readonly json: string;
  readonly stored: StoredCase;
}
const WRITTEN_CACHE = 5_000;

/** The snapshot JSON of a record: from `written` when the record is byte for byte what was written. */
function snapshotOf(raw: Buffer, written: Written | undefined): { version: number; json: string } {
  if (written) {
    const prefix = raw.indexOf(0x0a) + 1;
    if (
      raw.length - prefix === written.body.length &&
      Number(raw.toString('latin1', 0, prefix - 1)) === written.version &&
      raw.subarray(prefix).equals(written.body)
    ) {
      return { version: written.version, json: written.json };
    }
  }
  return decodeRecord(raw);
}

function deliveryReference(delivery: Record<string, unknown>): DeliveryReference {
  const body = delivery.body as { type?: unknown };
  return {
    kind: 'deliver',
    id: String(delivery.id),
    caseId: String(delivery.caseId),
    type: String(body.type),
    recorded: true,
  };
}

/**
 * A case record's bytes, hashed (SHA-1, hex: what the commit script compares with `redis.sha1hex`) only
 * when a commit asks: reads that never lead to a commit, and commits no later event follows, cost nothing.
 */
class RecordPrint {
  readonly #parts: readonly (string | Buffer)[];
  #hex: string | undefined;

  constructor(...parts: (string | Buffer)[]) {
    this.#parts = parts;
  }

  get hex(): string {
    if (this.#hex === undefined) {
      const hash = createHash('sha1');
      for (const part of this.#parts) hash.update(part);
      this.#hex = hash.digest('hex');
    }
    return this.#hex;
  }
}

export type Replay = { readonly kind: 'replay'; readonly result: unknown } | { readonly kind: 'conflict' };

/** Redis persistence of cases: one read, one atomic commit script. */
export class CaseStore {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly idempotencyTtlSec: number;

  /** 4.2: seals personal fields on write, opens them on read. */
  readonly codec: CaseCodec;
  readonly #written = new RecentMap<string, Written>(WRITTEN_CACHE);
  /** The record each loaded or committed case was read from or written as (see `fingerprintOf`). */
  readonly #fingerprints = new WeakMap<StoredCase, RecordPrint>();

  constructor(
    redis: Redis,
    opts: { prefix: string; partitions: number; idempotencyTtlSec?: number; dataKeys?: DataKeyRing },
  ) {
    this.redis = redis;
    this.keys = new Keys(opts.prefix, opts.partitions);
    this.codec = new CaseCodec(opts.dataKeys ?? dataKeysFor(opts.prefix), redis, this.keys);
    this.idempotencyTtlSec = opts.idempotencyTtlSec ?? 86_400;
  }

  partitionOf(caseId: string): number {
    return partitionOf(caseId, this.keys.partitions);
  }

  /** Reads a case and, in the same round trip, the idempotency record of the request. */
  async load(caseId: string, idempotencyKey?: string): Promise<{ stored?: StoredCase; replay?: string }> {
    const k = this.keys.forCase(caseId);
    // The case is one string, `<version>\n<snapshot>`: a hash would leave listpack encoding (values
    // over 64 bytes) and cost ~300 bytes more per case. Its snapshot is compressed (./record.ts).
    const pipe = this.redis.pipeline().getBuffer(k.case);
    if (idempotencyKey !== undefined) pipe.get(k.idempotency(idempotencyKey));
    const replies = (await pipe.exec()) ?? [];
    const [err, text] = replies[0] ?? [];
    if (err) throw err;
    const replay = (replies[1]?.[1] as string | null) ?? undefined;
    let stored: StoredCase | undefined;
    if (Buffer.isBuffer(text)) {
      // The record as read, as the case store wrote it (./record.ts); personal fields opened by the codec.
      const { version, json } = snapshotOf(text, this.#written.get(caseId));
      stored = { version, ...(this.codec.openSnapshot(caseId, version, json) as Omit<StoredCase, 'version'>) };
      this.#fingerprints.set(stored, new RecordPrint(text));
    }
    return { ...(stored ? { stored } : {}), ...(replay !== undefined ? { replay } : {}) };
  }

  /**
   * The case as this process last committed it, if it still remembers it: possibly stale (another process
   * may have committed since, or Redis lost the write and another process reused its version), which the
   * commit's version and fingerprint checks catch.
   */
  lastCommitted(caseId: string): StoredCase | undefined {
    return this.#written.get(caseId)?.stored;
  }

  /**
   * The fingerprint of the record a case returned by `load` or `lastCommitted` came from. A commit that
   * passes it is fenced by the record's bytes, not only by its version: after Redis loses acknowledged
   * writes (`appendfsync everysec`, an asynchronous failover), another process may commit the same
   * version number with other contents.
   */
  fingerprintOf(stored: StoredCase): string | undefined {
    return this.#fingerprints.get(stored)?.hex;
  }

  /** Interprets a stored idempotency record against the request's body hash. */
  static replayOf(record: string, bodyHash: string): Replay {
    const sep = record.indexOf('\n');
    return record.slice(0, sep) === bodyHash
      ? { kind: 'replay', result: JSON.parse(record.slice(sep + 1)) }
      : { kind: 'conflict' };
  }

  async commit(req: CommitRequest): Promise<CommitOutcome> {
    const k = this.keys.forCase(req.caseId);
    // 4.2: personal fields are sealed under the case's data key (src/privacy/codec.ts).
    const { text: snapshot, key } = await this.codec.sealSnapshot(req.caseId, req.expectedVersion, {
      state: req.state,
      policyVersion: req.policyVersion,
      context: req.context,
      ...(req.opened ? { opened: req.opened } : {}),
    });
    const body = encodeSnapshot(snapshot);
    const indexes = [...req.indexes, ...(await this.codec.indexOps(req.expectedVersion, req.context, req.indexes))];
    const indexKeys = indexes.map((op) => k.index(op.index));
    // A delivery's record (sealed payload, status) is written by the commit itself; the outbox carries
    // only what the dispatcher needs to queue it (./scripts/commit-event.lua).
    const outbox: object[] = [];
    const outboxArgs: string[] = [];
    const deliveryKeys: string[] = [];
    for (const entry of req.outbox as readonly Record<string, unknown>[]) {
      if (entry.kind === 'deliver') {
        const sealed = this.codec.sealOutbox(req.caseId, entry, key.dek);
        const reference = deliveryReference(sealed);
        outbox.push(reference);
        outboxArgs.push(JSON.stringify(reference), JSON.stringify(sealed));
        deliveryKeys.push(k.delivery(reference.id));
      } else {
        outbox.push(entry);
        outboxArgs.push(JSON.stringify(entry), '');
      }
    }
    const reply = (await COMMIT.run(
      this.redis,
      [k.case, k.audit, k.outbox, k.idempotency(req.idempotencyKey), k.index('facts'), ...deliveryKeys, ...indexKeys],
      [
        req.fingerprint ? `${req.expectedVersion}:${req.fingerprint}` : String(req.expectedVersion),
        body,
        req.state,
        req.bodyHash,
        String(req.remember === false ? 0 : this.idempotencyTtlSec),
        this.codec.sealAudit(req.caseId, req.audit as Record<string, unknown>, key.dek),
        req.caseId,
        JSON.stringify(req.result),
        String(req.outbox.length),
        ...outboxArgs,
        ...indexes.map((op) => `${op.score === null ? '-' : `+${op.score}`} ${op.member ?? ''}`),
        req.fact ? JSON.stringify(req.fact) : '',
      ],
    )) as string[];
    const [kind, value = '', ...rest] = reply;
    switch (kind) {
      case 'ok': {
        this.codec.committed(req.caseId, Number(value), key);
        const stored: StoredCase = {
          version: Number(value),
          state: req.state,
          policyVersion: req.policyVersion,
          context: req.context,
          ...(req.opened ? { opened: req.opened } : {}),
        };
        this.#fingerprints.set(stored, new RecordPrint(`${value}\n`, body));
        this.#written.set(req.caseId, { version: Number(value), body, json: snapshot, stored });
        return { kind: 'ok', version: Number(value), outboxIds: rest, outbox };
      }
      case 'replay':
        return { kind: 'replay', result: JSON.parse(value) };
      case 'conflict':
        return { kind: 'conflict' };
      default:
        return { kind: 'stale', version: Number(value) };
    }
  }

  async history(caseId: string): Promise<object[]> {
    const entries = await this.redis.lrange(this.keys.forCase(caseId).audit, 0, -1);
    return this.codec.openAudit(caseId, entries);
  }

  /**
   * One page of an index across every partition, merged: the `limit` members after `cursor`
   * (score, id) in the given order.
   */
  async page(
    index: string,
    order: 'asc' | 'desc',
    limit: number,
    cursor?: { score: number; id: string },
    bound?: number,
  ): Promise<{ id: string; score: number }[]> {
    const pipe = this.redis.pipeline();
    const far = order === 'desc' ? '-inf' : '+inf';
    const to = bound !== undefined ? String(bound) : far;
    for (let p = 0; p < this.keys.partitions; p++) {
      const key = `${this.keys.tag(p)}:${index}`;
      if (cursor) {
        // Members tied with the cursor's score (all of them: ties are ordered by id below), then
        // strictly beyond it.
        pipe.zrangebyscore(key, String(cursor.score), String(cursor.score), 'WITHSCORES');
        const from = `(${cursor.score}`;
        if (order === 'desc') pipe.zrevrangebyscore(key, from, to, 'WITHSCORES', 'LIMIT', 0, limit);
        else pipe.zrangebyscore(key, from, to, 'WITHSCORES', 'LIMIT', 0, limit);
      } else if (order === 'desc') {
        pipe.zrevrangebyscore(key, '+inf', to, 'WITHSCORES', 'LIMIT', 0, limit);
      } else {
        pipe.zrangebyscore(key, '-inf', to, 'WITHSCORES', 'LIMIT', 0, limit);
      }
    }
    const rows: { id: string; score: number }[] = [];
    for (const [error, flat] of (await pipe.exec()) ?? []) {
      if (error) throw error;
      const list = flat as string[];
      for (let i = 0; i < list.length; i += 2) rows.push({ id: list[i] as string, score: Number(list[i + 1]) });
    }
    const sign = order === 'desc' ? -1 : 1;
    const cmp = (a: { id: string; score: number }, b: { id: string; score: number }) =>
      sign * (a.score - b.score) || sign * a.id.localeCompare(b.id);
    return rows
      .filter((r) => !cursor || cmp(r, cursor) > 0)
      .sort(cmp)
      .slice(0, limit);
  }
}
