import type { Redis } from 'ioredis';

// Abuse resistance: requests per API key per second, counted in Redis so every API process shares the
// budget. A fixed one-second window (INCR + EXPIRE in one MULTI): cheap, and a burst can at most double
// the rate at a window's edge. Backends (`service`) have their own limit, off by default: they are
// trusted machines whose throughput is measured (README, Performance).

export interface RateLimits {
  /** Per key per second for people's roles (agent, supervisor, department, ops, auditor); 0: none. */
  readonly people: number;
  /** Per key per second for `service` keys; 0: none. */
  readonly service: number;
}

export class RateLimiter {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #limits: RateLimits;
  readonly #clock: () => number;

  constructor(redis: Redis, prefix: string, limits: RateLimits, clock: () => number = Date.now) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#limits = limits;
    this.#clock = clock;
  }

  limitOf(role: string): number {
    return role === 'service' ? this.#limits.service : this.#limits.people;
  }

  /** Counts one request of `name`; `retryAfterMs` when it is over its role's limit this second. */
  async take(name: string, role: string): Promise<{ ok: true } | { ok: false; limit: number; retryAfterMs: number }> {
    const limit = this.limitOf(role);
    if (limit === 0) return { ok: true };
    const now = this.#clock();
    const second = Math.floor(now / 1000);
    const key = `${this.#prefix}rate:${name}:${second}`;
    const replies = await this.#redis.multi().incr(key).expire(key, 2).exec();
    const count = Number(replies?.[0]?.[1] ?? 0);
    if (count <= limit) return { ok: true };
    return { ok: false, limit, retryAfterMs: (second + 1) * 1000 - now };
  }
}
