import '../domain/zod-messages.ts';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Actor } from '../../machines/types.ts';
import { Conflict, fieldErrors, NotFound, ValidationError } from '../domain/errors.ts';
import { instantSchema, type OutageSpan } from '../domain/events.ts';

// 6.2: ops declare outage windows (force majeure, system failure). Clocks of the cases in a window's scope
// do not count its time: a deadline that falls due runs on by the overlap, or stands still while the
// window is open; a breach recorded before a retroactive declaration is turned into `excused`.

export const OUTAGE_REASONS = ['force_majeure', 'system_failure'] as const;

/** How far in the past a declared window may start. */
export const MAX_BACKDATE_MS = 30 * 86_400_000;

const scopeSchema = z
  .strictObject({
    contractId: z.string().min(1, 'must not be empty').max(64).optional(),
    channel: z.string().min(1, 'must not be empty').max(32).optional(),
  })
  .default({});

export const declareOutageSchema = z
  .strictObject({
    start: instantSchema,
    end: instantSchema.optional(),
    reason: z.enum(OUTAGE_REASONS, { error: `must be one of ${OUTAGE_REASONS.join(', ')} (6.2)` }),
    note: z.string().trim().min(1, 'must not be empty').max(2000, 'at most 2000 characters'),
    /** Empty: every case. `contractId` and/or `channel` narrow it. */
    scope: scopeSchema,
  })
  .refine((o) => o.end === undefined || Date.parse(o.end) > Date.parse(o.start), {
    path: ['end'],
    message: 'must be after start',
  })
  // Declared after the fact, a window turns recorded breaches into excused ones: only recent ones.
  .refine((o) => Date.parse(o.start) >= Date.now() - MAX_BACKDATE_MS, {
    path: ['start'],
    message: 'may lie at most 30 days in the past',
  });

export const endOutageSchema = z.strictObject({ end: instantSchema.optional() }).default({});

export type DeclareOutage = z.infer<typeof declareOutageSchema>;

export interface Outage extends OutageSpan {
  readonly note: string;
  readonly scope: { readonly contractId?: string; readonly channel?: string };
  readonly declaredBy: { readonly name: string; readonly role: string };
  readonly declaredAt: number;
  readonly endedBy?: { readonly name: string; readonly role: string };
}

export function parseDeclareOutage(input: unknown): DeclareOutage {
  const result = declareOutageSchema.safeParse(input);
  if (!result.success) throw new ValidationError('invalid outage', fieldErrors(result.error.issues));
  return result.data;
}

export function parseEndOutage(input: unknown): { end?: string | undefined } {
  const result = endOutageSchema.safeParse(input ?? {});
  if (!result.success) throw new ValidationError('invalid outage end', fieldErrors(result.error.issues));
  return result.data;
}

const inScope = (o: Outage, contractId: string, channel: string) =>
  (o.scope.contractId === undefined || o.scope.contractId === contractId) &&
  (o.scope.channel === undefined || o.scope.channel === channel);

/** Outage windows in one Redis hash (few, long-lived), cached briefly: deadline firings read them. */
export class OutageStore {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #clock: () => number;
  readonly #ttlMs: number;
  #cache: { at: number; list: Outage[] } | undefined;

  constructor(redis: Redis, prefix: string, opts: { clock?: () => number; cacheMs?: number } = {}) {
    this.#redis = redis;
    this.#key = `${prefix}outages`;
    this.#clock = opts.clock ?? Date.now;
    this.#ttlMs = opts.cacheMs ?? 1_000;
  }

  async declare(input: DeclareOutage, actor: Actor): Promise<Outage> {
    const outage: Outage = {
      id: `o${randomUUID().replaceAll('-', '').slice(0, 16)}`,
      start: Date.parse(input.start),
      ...(input.end ? { end: Date.parse(input.end) } : {}),
      reason: input.reason,
      note: input.note,
      scope: {
        ...(input.scope.contractId ? { contractId: input.scope.contractId } : {}),
        ...(input.scope.channel ? { channel: input.scope.channel } : {}),
      },
      declaredBy: { name: actor.name, role: actor.role },
      declaredAt: this.#clock(),
    };
    await this.#redis.hset(this.#key, outage.id, JSON.stringify(outage));
    this.#cache = undefined;
    return outage;
  }

  /** Closes an open window at `end` (default now). */
  async end(id: string, actor: Actor, end = this.#clock()): Promise<Outage> {
    const outage = await this.get(id);
    if (!outage) throw new NotFound(`outage ${id} does not exist`);
    if (outage.end !== undefined) throw new Conflict('PRECONDITION_FAILED', `outage ${id} already ended`);
    if (end <= outage.start) {
      throw new ValidationError('invalid outage end', [{ path: 'end', message: 'must be after the outage start' }]);
    }
    const ended: Outage = { ...outage, end, endedBy: { name: actor.name, role: actor.role } };
    await this.#redis.hset(this.#key, id, JSON.stringify(ended));
    this.#cache = undefined;
    return ended;
  }

  async get(id: string): Promise<Outage | undefined> {
    const text = await this.#redis.hget(this.#key, id);
    return text ? (JSON.parse(text) as Outage) : undefined;
  }

  async list(): Promise<Outage[]> {
    const now = this.#clock();
    if (this.#cache && now - this.#cache.at < this.#ttlMs) return this.#cache.list;
    const all = Object.values(await this.#redis.hgetall(this.#key)).map((t) => JSON.parse(t) as Outage);
    all.sort((a, b) => a.start - b.start);
    this.#cache = { at: now, list: all };
    return all;
  }

  /** The windows in a case's scope that overlap [from, to]: what a deadline firing passes to the machine. */
  async overlapping(contractId: string, channel: string, from: number, to: number): Promise<OutageSpan[]> {
    const list = await this.list();
    return list
      .filter((o) => inScope(o, contractId, channel) && o.start <= to && (o.end === undefined || o.end > from))
      .map((o) => ({ id: o.id, start: o.start, ...(o.end === undefined ? {} : { end: o.end }), reason: o.reason }));
  }

  static inScope = inScope;

  static span(o: Outage): OutageSpan {
    return { id: o.id, start: o.start, ...(o.end === undefined ? {} : { end: o.end }), reason: o.reason };
  }
}
