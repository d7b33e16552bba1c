import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { CaseCodec } from '../privacy/codec.ts';
import { problem } from './problem.ts';

// HTTP `Idempotency-Key` (IETF draft): a replay returns the first response; another body under the
// same key is 422; the same key while the first request is in flight is 409. Scoped to the API key.
// The engine's own idempotency record sits under this, inside the atomic commit.
// 4.2: a kept answer that shows a case is sealed under that case's data key, so it never sits in Redis
// in clear and an erasure makes it unreadable; its replay then answers 410.

export type Claim =
  | { readonly kind: 'new' }
  | { readonly kind: 'replay'; readonly status: number; readonly body: unknown }
  | { readonly kind: 'mismatch' }
  | { readonly kind: 'in-flight' };

const IN_FLIGHT_TTL_SEC = 60;

export class HttpIdempotency {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #ttlSec: number;
  readonly #codec: CaseCodec | undefined;

  constructor(redis: Redis, prefix: string, ttlSec = 86_400, codec?: CaseCodec) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#ttlSec = ttlSec;
    this.#codec = codec;
  }

  static fingerprint(method: string, url: string, body: unknown): string {
    return createHash('sha256')
      .update(`${method} ${url}\n${JSON.stringify(body ?? null)}`)
      .digest('hex');
  }

  #key(principal: string, key: string): string {
    return `${this.#prefix}http-idem:${createHash('sha256').update(`${principal}\n${key}`).digest('hex').slice(0, 40)}`;
  }

  async claim(principal: string, key: string, fingerprint: string): Promise<Claim> {
    const k = this.#key(principal, key);
    const placed = await this.#redis.set(k, JSON.stringify({ f: fingerprint }), 'EX', IN_FLIGHT_TTL_SEC, 'NX');
    if (placed === 'OK') return { kind: 'new' };
    const text = await this.#redis.get(k);
    if (!text) return this.claim(principal, key, fingerprint);
    const record = JSON.parse(text) as { f: string; s?: number; b?: unknown; z?: { c: string; s: string } };
    if (record.f !== fingerprint) return { kind: 'mismatch' };
    if (record.s === undefined) return { kind: 'in-flight' };
    if (record.z && this.#codec) {
      const body = await this.#codec.openBody(record.z);
      if (body === undefined) return { kind: 'replay', status: 410, body: ERASED };
      return { kind: 'replay', status: record.s, body };
    }
    return { kind: 'replay', status: record.s, body: record.b };
  }

  async complete(principal: string, key: string, fingerprint: string, status: number, body: unknown): Promise<void> {
    const caseId = status < 300 ? (body as { id?: unknown } | null)?.id : undefined;
    const kept =
      this.#codec && typeof caseId === 'string' ? { z: await this.#codec.sealBody(caseId, body) } : { b: body };
    await this.#redis.set(
      this.#key(principal, key),
      JSON.stringify({ f: fingerprint, s: status, ...kept }),
      'EX',
      this.#ttlSec,
    );
  }

  /** A request that failed before deciding anything (e.g. Redis down) releases its key for a retry. */
  async release(principal: string, key: string): Promise<void> {
    await this.#redis.del(this.#key(principal, key));
  }
}

const ERASED = problem(
  410,
  'PERSONAL_DATA_ERASED',
  'Gone',
  'the first answer to this Idempotency-Key showed personal data that has since been erased (4.2)',
);
