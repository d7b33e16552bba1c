import { createHash, randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Principal } from '../api/keys.ts';

// Browser sessions of the ops pages. The cookie holds a random token, never the API key; Redis holds
// only the token's hash (so a copy of Redis yields no usable cookie) with the principal and a TTL.

/** The roles that may use the ops pages (issue 5). */
export const OPS_ROLES: readonly string[] = ['ops', 'supervisor', 'auditor'];

export const SESSION_COOKIE = 'ivn_ops';
export const DEFAULT_SESSION_TTL_SEC = 8 * 3600;

export interface Session {
  readonly name: string;
  readonly role: Principal['role'];
  readonly department?: string;
  readonly createdAt: string;
  readonly expiresAt: string;
}

const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const hash = (token: string) => createHash('sha256').update(token).digest('hex');

export class Sessions {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly ttlSec: number;

  constructor(redis: Redis, prefix: string, ttlSec = DEFAULT_SESSION_TTL_SEC) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.ttlSec = ttlSec;
  }

  key(token: string): string {
    return `${this.#prefix}ops:session:${hash(token)}`;
  }

  async create(principal: Principal, now = Date.now()): Promise<{ token: string; session: Session }> {
    const token = randomBytes(32).toString('base64url');
    const session: Session = {
      name: principal.name,
      role: principal.role,
      ...(principal.department ? { department: principal.department } : {}),
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.ttlSec * 1000).toISOString(),
    };
    await this.#redis.set(this.key(token), JSON.stringify(session), 'EX', this.ttlSec);
    return { token, session };
  }

  async get(token: string | undefined): Promise<Session | undefined> {
    if (!token || !TOKEN.test(token)) return undefined;
    const text = await this.#redis.get(this.key(token));
    return text ? (JSON.parse(text) as Session) : undefined;
  }

  async destroy(token: string | undefined): Promise<void> {
    if (token && TOKEN.test(token)) await this.#redis.del(this.key(token));
  }
}

export function cookieValue(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const isHttps = (request: FastifyRequest) =>
  request.protocol === 'https' || String(request.headers['x-forwarded-proto'] ?? '').startsWith('https');

/** HttpOnly (no script reads it), SameSite=Strict (never sent on a cross-site request), scoped to /ops. */
export function sessionCookie(request: FastifyRequest, token: string, maxAgeSec: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/ops; Max-Age=${maxAgeSec}; HttpOnly; SameSite=Strict${isHttps(request) ? '; Secure' : ''}`;
}

export function clearedCookie(request: FastifyRequest): string {
  return sessionCookie(request, '', 0);
}

/**
 * CSRF: a state-changing request must come from our own pages. Browsers send `Origin` on every
 * POST/PUT/DELETE; it must name this host. Without it, `Sec-Fetch-Site` must say same-origin. A request
 * with neither is not from a browser, so no ambient cookie can be abused through it.
 */
export function sameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin !== undefined) {
    try {
      return new URL(origin).host === request.headers.host;
    } catch {
      return false;
    }
  }
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin';
  return true;
}
