import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RecentMap } from '../domain/recent.ts';
import type { IndexOp } from '../store/indexes.ts';
import type { Keys } from '../store/keys.ts';
import { decodeRecord } from '../store/record.ts';
import { type DataKeyRing, keyIdOf, newDataKey, open, SealError, seal } from './cipher.ts';
import { auditTree, CASE_TREE } from './classification.ts';
import { merge, split } from './split.ts';

// Encryption at rest (4.2), applied by the case store when it writes and reads Redis.
//
// Envelope encryption: every case has its own random data key (DEK), kept in the case record wrapped
// by the configured key (`pii.k` = `<key id>.<sealed DEK>`). The case's personal fields (per
// classification.ts) are sealed with it as one blob (`pii.d`); so are the personal fields of its audit
// entries, its outbox and delivery payloads and its HTTP idempotency answers. Consequences:
// - rotation re-wraps one DEK per case; the data sealed under it stays valid;
// - erasure gives the case a new DEK: every copy sealed under the old one, wherever it is, is unreadable.

export interface SealedPii {
  /** The case's data key, wrapped: `<key id>.<sealed>`. */
  readonly k: string;
  /** The personal fields, sealed with the data key. */
  readonly d?: string;
}

interface CaseKey {
  readonly version: number;
  readonly wrapped: string;
  readonly dek: Buffer;
}

/** The parts of a snapshot the codec reads; the rest passes through untouched. */
export interface SnapshotDoc {
  readonly context: unknown;
  readonly pii?: SealedPii;
  readonly [field: string]: unknown;
}

const CACHE = 20_000;
const INDEX_KEY_AAD = 'intervene-index-key';

/** The personal fields of a delivery body travel sealed; `type` stays in clear for queues and dead letters. */
export interface SealedBody {
  readonly type?: unknown;
  readonly sealed: string;
}

export class CaseCodec {
  readonly ring: DataKeyRing;
  readonly #redis: Redis;
  readonly #keys: Keys;
  /** The data key of each case as of the newest version this process saw. */
  readonly #deks = new RecentMap<string, CaseKey>(CACHE);
  /**
   * The personal part of each case as last sealed or opened here: most events leave it unchanged, so the
   * next commit reuses its ciphertext and the next load skips the decryption (same key, text and AAD).
   */
  readonly #sealed = new RecentMap<string, { readonly token: string; readonly text: string; readonly dek: Buffer }>(
    CACHE,
  );
  /** Erasure: a fresh data key for the next commit of a case at this version. */
  readonly #fresh = new Map<string, CaseKey>();
  #indexKey: Promise<Buffer> | undefined;

  constructor(ring: DataKeyRing, redis: Redis, keys: Keys) {
    this.ring = ring;
    this.#redis = redis;
    this.#keys = keys;
  }

  // ── the case record ──────────────────────────────────────────────────────────────────────────────

  /** Parses a stored snapshot and opens its personal fields. A snapshot without `pii` predates sealing. */
  openSnapshot(caseId: string, version: number, json: string): Record<string, unknown> {
    const doc = JSON.parse(json) as SnapshotDoc;
    const { pii, ...rest } = doc;
    if (!pii) return rest;
    const dek = this.#remember(caseId, version, pii.k);
    if (pii.d === undefined) return rest;
    const known = this.#sealed.get(caseId);
    let text: string;
    if (known?.token === pii.d && known.dek === dek) text = known.text;
    else {
      text = open(dek, pii.d, `case:${caseId}`).toString('utf8');
      this.#sealed.set(caseId, { token: pii.d, text, dek });
    }
    return { ...rest, context: merge(rest.context, JSON.parse(text) as unknown) };
  }

  /** Serializes a snapshot with its personal fields sealed under the case's data key. */
  async sealSnapshot(
    caseId: string,
    expectedVersion: number,
    snapshot: SnapshotDoc,
  ): Promise<{ text: string; key: CaseKey }> {
    const key = await this.#keyForCommit(caseId, expectedVersion);
    const { clear, secret } = split(snapshot.context, CASE_TREE);
    let d: string | undefined;
    if (secret !== undefined) {
      const text = JSON.stringify(secret);
      const known = this.#sealed.get(caseId);
      if (known?.text === text && known.dek === key.dek) d = known.token;
      else {
        d = seal(key.dek, text, `case:${caseId}`);
        this.#sealed.set(caseId, { token: d, text, dek: key.dek });
      }
    }
    const pii: SealedPii = { k: key.wrapped, ...(d === undefined ? {} : { d }) };
    return { text: JSON.stringify({ ...snapshot, context: clear, pii }), key };
  }

  /** The commit was written: this version's data key is the case's. */
  committed(caseId: string, version: number, key: CaseKey): void {
    this.#fresh.delete(caseId);
    this.#deks.set(caseId, { ...key, version });
  }

  /** Erasure: the next commit of the case at `expectedVersion` seals under a brand-new data key. */
  shred(caseId: string, expectedVersion: number): void {
    this.#sealed.delete(caseId);
    const dek = newDataKey();
    this.#fresh.set(caseId, { version: expectedVersion, dek, wrapped: this.ring.wrap(dek, `dek:${caseId}`) });
  }

  // ── audit entries, outbox entries, deliveries, HTTP answers ──────────────────────────────────────

  /** An audit entry with its event's personal fields sealed (`pii`), the rest in clear. */
  sealAudit(caseId: string, entry: Record<string, unknown>, dek: Buffer): string {
    const type = String(entry.event ?? '');
    const { clear, secret } = split(entry, auditTree(type));
    if (secret === undefined) return JSON.stringify(clear);
    return JSON.stringify({
      ...(clear as object),
      pii: seal(dek, JSON.stringify(secret), `audit:${caseId}:${entry.v}`),
    });
  }

  /** Audit entries as stored → in clear; an entry sealed under a shredded key keeps only its clear part. */
  async openAudit(caseId: string, rows: readonly string[]): Promise<Record<string, unknown>[]> {
    const entries = rows.map((r) => JSON.parse(r) as Record<string, unknown>);
    if (!entries.some((e) => typeof e.pii === 'string')) return entries;
    const dek = await this.dekOf(caseId, true);
    return entries.map((entry) => {
      const { pii, ...clear } = entry;
      if (typeof pii !== 'string') return entry;
      try {
        if (!dek) throw new SealError('no data key');
        return merge(clear, JSON.parse(open(dek, pii, `audit:${caseId}:${entry.v}`).toString('utf8'))) as Record<
          string,
          unknown
        >;
      } catch (error) {
        if (!(error instanceof SealError)) throw error;
        return { ...clear, erased: true };
      }
    });
  }

  /** An outbox entry: a delivery's body sealed whole, its type kept in clear. Idempotent. */
  sealOutbox(caseId: string, entry: Record<string, unknown>, dek: Buffer): Record<string, unknown> {
    const body = entry.body as Record<string, unknown> | undefined;
    if (entry.kind !== 'deliver' || !body || typeof body.sealed === 'string') return entry;
    const sealed: SealedBody = {
      type: body.type,
      sealed: seal(dek, JSON.stringify(body), `delivery:${caseId}:${String(entry.id)}`),
    };
    return { ...entry, body: sealed };
  }

  /** The dispatcher's path: seals with the case's current data key. */
  async sealDelivery<D extends { caseId: string; id: string; body: object }>(delivery: D): Promise<D> {
    if (typeof (delivery.body as { sealed?: unknown }).sealed === 'string') return delivery;
    const dek = await this.dekOf(delivery.caseId);
    if (!dek) throw new SealError(`case ${delivery.caseId} has no data key`);
    return this.sealOutbox(delivery.caseId, delivery as unknown as Record<string, unknown>, dek) as unknown as D;
  }

  /** The notify worker's path, at send time. `undefined`: the customer's data was erased since. */
  async openDelivery<D extends { caseId: string; id: string; body: object }>(delivery: D): Promise<D | undefined> {
    const body = delivery.body as { sealed?: unknown };
    if (typeof body.sealed !== 'string') return delivery;
    const dek = await this.dekOf(delivery.caseId, true);
    try {
      if (!dek) throw new SealError('no data key');
      const clear = JSON.parse(open(dek, body.sealed, `delivery:${delivery.caseId}:${delivery.id}`).toString('utf8'));
      return { ...delivery, body: clear };
    } catch (error) {
      if (error instanceof SealError) return undefined;
      throw error;
    }
  }

  /** A response body kept for an HTTP replay, sealed under its case's data key. */
  async sealBody(caseId: string, body: unknown): Promise<{ c: string; s: string }> {
    const dek = await this.dekOf(caseId);
    if (!dek) throw new SealError(`case ${caseId} has no data key`);
    return { c: caseId, s: seal(dek, JSON.stringify(body), `http:${caseId}`) };
  }

  /** `undefined`: sealed under a key that erasure has shredded. */
  async openBody(sealed: { c: string; s: string }): Promise<unknown> {
    const dek = await this.dekOf(sealed.c, true);
    try {
      if (!dek) throw new SealError('no data key');
      return JSON.parse(open(dek, sealed.s, `http:${sealed.c}`).toString('utf8'));
    } catch (error) {
      if (error instanceof SealError) return undefined;
      throw error;
    }
  }

  // ── indexes the privacy rules need, moved in the same commit ─────────────────────────────────────

  /**
   * `cust:<ref>`: the cases of a customer (for erasure), keyed by a keyed hash of the customer id, never
   * the id. `closed-at`: closed cases by the time they closed (for retention).
   */
  async indexOps(
    expectedVersion: number,
    context: { open?: { customer?: { id?: string } }; updatedAt?: number; createdAt?: number },
    ops: readonly IndexOp[],
  ): Promise<IndexOp[]> {
    const out: IndexOp[] = [];
    const customerId = context.open?.customer?.id;
    if (expectedVersion === 0 && customerId) {
      out.push({ index: `cust:${await this.customerRef(customerId)}`, score: context.createdAt ?? 0 });
    }
    const closed = ops.find((op) => op.index === 'state:closed' && op.member === undefined);
    if (closed) out.push({ index: 'closed-at', score: closed.score === null ? null : (context.updatedAt ?? 0) });
    return out;
  }

  /** The keyed hash that stands for a customer id in index keys and the access log. */
  async customerRef(customerId: string): Promise<string> {
    const key = await this.#loadIndexKey();
    return createHmac('sha256', key).update(customerId).digest('hex').slice(0, 32);
  }

  /** Redis key of the wrapped index key (one per site; rotation re-wraps it). */
  get indexKeyKey(): string {
    return `${this.#keys.prefix}privacy:index-key`;
  }

  #loadIndexKey(): Promise<Buffer> {
    this.#indexKey ??= (async () => {
      let wrapped = await this.#redis.get(this.indexKeyKey);
      if (!wrapped) {
        await this.#redis.set(this.indexKeyKey, this.ring.wrap(newDataKey(), INDEX_KEY_AAD), 'NX');
        wrapped = (await this.#redis.get(this.indexKeyKey)) as string;
      }
      return this.ring.unwrap(wrapped, INDEX_KEY_AAD);
    })();
    this.#indexKey.catch(() => {
      this.#indexKey = undefined;
    });
    return this.#indexKey;
  }

  // ── rotation ─────────────────────────────────────────────────────────────────────────────────────

  /** The key id a stored case's data key is wrapped with (`''`: a case from before sealing). */
  static wrappedKeyId(snapshotJson: string): string {
    const pii = (JSON.parse(snapshotJson) as SnapshotDoc).pii;
    return pii ? keyIdOf(pii.k) : '';
  }

  /** The same snapshot with its data key re-wrapped under the current key (a pre-sealing one gets sealed). */
  async rewrapSnapshot(caseId: string, version: number, json: string): Promise<string> {
    const doc = JSON.parse(json) as SnapshotDoc;
    if (!doc.pii) {
      const opened = this.openSnapshot(caseId, version, json) as SnapshotDoc;
      return (await this.sealSnapshot(caseId, version, opened)).text;
    }
    const dek = this.ring.unwrap(doc.pii.k, `dek:${caseId}`);
    return JSON.stringify({ ...doc, pii: { ...doc.pii, k: this.ring.wrap(dek, `dek:${caseId}`) } });
  }

  /** Re-wraps the site's index key under the current key. Returns whether it changed. */
  async rewrapIndexKey(): Promise<boolean> {
    const wrapped = await this.#redis.get(this.indexKeyKey);
    if (!wrapped || keyIdOf(wrapped) === this.ring.currentId) return false;
    const key = this.ring.unwrap(wrapped, INDEX_KEY_AAD);
    await this.#redis.set(this.indexKeyKey, this.ring.wrap(key, INDEX_KEY_AAD));
    return true;
  }

  // ── data keys ────────────────────────────────────────────────────────────────────────────────────

  /**
   * The case's data key: as last seen here, or (`fresh`, for reads that must honour an erasure made by
   * another process) as its record holds it now. `undefined`: no such case.
   */
  async dekOf(caseId: string, fresh = false): Promise<Buffer | undefined> {
    const known = fresh ? undefined : this.#deks.get(caseId);
    if (known) return known.dek;
    return (await this.#readKey(caseId))?.dek;
  }

  async #keyForCommit(caseId: string, expectedVersion: number): Promise<CaseKey> {
    const fresh = this.#fresh.get(caseId);
    if (fresh?.version === expectedVersion) return fresh;
    const known = this.#deks.get(caseId);
    // Not seen at this version here (another process wrote it, or it was evicted): read the record.
    // A version that no longer matches fails the commit's own check, whatever key sealed it.
    const key =
      known?.version === expectedVersion ? known : expectedVersion > 0 ? await this.#readKey(caseId) : undefined;
    if (!key) {
      const dek = newDataKey();
      return { version: expectedVersion, dek, wrapped: this.ring.wrap(dek, `dek:${caseId}`) };
    }
    // Every commit writes the data key wrapped under the current key. A rotation rewrites a record at the
    // same version, so a commit that read the record before it would otherwise put the old wrapping back
    // (and a case whose old key is then retired could not be opened).
    if (keyIdOf(key.wrapped) !== this.ring.currentId) {
      return { ...key, wrapped: this.ring.wrap(key.dek, `dek:${caseId}`) };
    }
    return key;
  }

  async #readKey(caseId: string): Promise<CaseKey | undefined> {
    const raw = await this.#redis.getBuffer(this.#keys.forCase(caseId).case);
    if (!raw) return undefined;
    const { version, json } = decodeRecord(raw);
    const pii = (JSON.parse(json) as SnapshotDoc).pii;
    if (!pii) return undefined;
    return { version, wrapped: pii.k, dek: this.#remember(caseId, version, pii.k) };
  }

  /** Unwraps (or reuses) a case's data key; keeps it if this is the newest version seen. */
  #remember(caseId: string, version: number, wrapped: string): Buffer {
    const known = this.#deks.get(caseId);
    if (known?.wrapped === wrapped) {
      if (version > known.version) this.#deks.set(caseId, { ...known, version });
      return known.dek;
    }
    const dek = this.ring.unwrap(wrapped, `dek:${caseId}`);
    if (!known || version >= known.version) this.#deks.set(caseId, { version, wrapped, dek });
    return dek;
  }
}
