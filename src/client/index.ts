import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { CaseEvent, OpenCase, PublicEvent } from '../domain/events.ts';
import type { Role } from '../domain/vocabulary.ts';
import { INTAKE_QUEUE, type IntakeJob } from '../intake/intake-queue.ts';

// The typed client backend services import: HTTP, and a producer for the intake queue.
export type { CaseEvent, OpenCase, PublicEvent };

export interface CaseView {
  id: string;
  contractId: string;
  policyVersion: number;
  state: string;
  version: number;
  category: string;
  channel: string;
  customer: { id: string; name?: string; phone?: string; email?: string };
  flags: string[];
  deadlines: {
    name: string;
    status: string;
    dueAt: string | null;
    remainingMs?: number;
    clause: string | null;
    epoch: number;
  }[];
  escalation: {
    trigger: string;
    department: string;
    level: number;
    handoff: string;
    clause: string;
    at: string | null;
  } | null;
  createdAt: string | null;
  updatedAt: string | null;
  [more: string]: unknown;
}

export interface AuditEntry {
  v: number;
  at: string;
  actor: { name: string; role: string; department?: string };
  event: string;
  from: string | null;
  to: string;
  clause: string;
  data?: Record<string, unknown>;
  effects?: string[];
}

export interface ListQuery {
  state?: string;
  contractId?: string;
  department?: string;
  breached?: boolean;
  dueBefore?: string;
  limit?: number;
  cursor?: string;
}

/** An API error with the problem's stable code and, for refusals, the clause of the agreement. */
export class InterveneError extends Error {
  readonly status: number;
  readonly code: string;
  readonly clause: string | undefined;
  readonly errors: { path: string; message: string }[];

  constructor(
    status: number,
    body: {
      code?: string;
      detail?: string;
      title?: string;
      clause?: string;
      errors?: { path: string; message: string }[];
    },
  ) {
    super(body.detail ?? body.title ?? `HTTP ${status}`);
    this.name = 'InterveneError';
    this.status = status;
    this.code = body.code ?? `HTTP_${status}`;
    this.clause = body.clause;
    this.errors = body.errors ?? [];
  }
}

export interface ClientOptions {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly fetch?: typeof fetch;
  readonly timeoutMs?: number;
}

export interface WriteOptions {
  readonly idempotencyKey?: string;
  readonly ifMatch?: number;
}

export function createClient(opts: ClientOptions) {
  const doFetch = opts.fetch ?? fetch;
  const base = opts.baseUrl.replace(/\/$/, '');
  async function call<T>(method: string, path: string, body?: unknown, write: WriteOptions = {}): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${opts.apiKey}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (write.idempotencyKey) headers['idempotency-key'] = write.idempotencyKey;
    if (write.ifMatch !== undefined) headers['if-match'] = `"${write.ifMatch}"`;
    const response = await doFetch(`${base}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
    const text = await response.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) throw new InterveneError(response.status, (parsed ?? {}) as never);
    return parsed as T;
  }
  const query = (q: ListQuery) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
    const s = params.toString();
    return s ? `?${s}` : '';
  };
  return {
    openCase: (input: OpenCase, write: WriteOptions = {}) => call<CaseView>('POST', '/v1/cases', input, write),
    send: (caseId: string, event: PublicEvent, write: WriteOptions = {}) =>
      call<CaseView>('POST', `/v1/cases/${encodeURIComponent(caseId)}/events`, event, write),
    getCase: (caseId: string) => call<CaseView>('GET', `/v1/cases/${encodeURIComponent(caseId)}`),
    listCases: (q: ListQuery = {}) =>
      call<{ items: CaseView[]; nextCursor: string | null }>('GET', `/v1/cases${query(q)}`),
    history: (caseId: string) =>
      call<{ items: AuditEntry[] }>('GET', `/v1/cases/${encodeURIComponent(caseId)}/history`),
  };
}

export type InterveneClient = ReturnType<typeof createClient>;

export interface IntakeActor {
  readonly name: string;
  readonly role: Exclude<Role, 'ops' | 'auditor'>;
  readonly department?: string;
}

/**
 * Adds intake jobs instead of calling HTTP. `idempotencyKey` becomes the job id: adding the same key
 * twice is one job. `result(job)` waits for the engine's answer or its refusal.
 */
export function createIntakeProducer(opts: { connection: Redis; prefix?: string; actor: IntakeActor }) {
  const prefix = opts.prefix ?? 'ivn-bull';
  const queue = new Queue<IntakeJob>(INTAKE_QUEUE, { connection: opts.connection, prefix });
  let events: QueueEvents | undefined;
  const jobId = (key: string) => key.replaceAll(':', '.');
  return {
    openCase: (input: OpenCase, o: { idempotencyKey: string }) =>
      queue.add('open', { kind: 'open', actor: opts.actor, body: input }, { jobId: jobId(o.idempotencyKey) }),
    send: (caseId: string, event: PublicEvent, o: { idempotencyKey: string; ifMatch?: number }) =>
      queue.add(
        'event',
        {
          kind: 'event',
          actor: opts.actor,
          caseId,
          body: event,
          ...(o.ifMatch === undefined ? {} : { ifMatch: o.ifMatch }),
        },
        { jobId: jobId(o.idempotencyKey) },
      ),
    /** Waits for a job's outcome; a refusal rejects with an InterveneError carrying code and clause. */
    async result(job: { waitUntilFinished: (e: QueueEvents, ttl?: number) => Promise<unknown> }, timeoutMs = 30_000) {
      events ??= new QueueEvents(INTAKE_QUEUE, { connection: opts.connection.duplicate(), prefix });
      await events.waitUntilReady();
      try {
        return (await job.waitUntilFinished(events, timeoutMs)) as {
          caseId: string;
          version: number;
          state: string;
          outcome: string;
        };
      } catch (error) {
        const message = (error as Error).message;
        try {
          const problem = JSON.parse(message) as { code: string; message: string; clause?: string; errors?: [] };
          throw new InterveneError(problem.code === 'VALIDATION_FAILED' ? 400 : 422, {
            ...problem,
            detail: problem.message,
          });
        } catch (inner) {
          if (inner instanceof InterveneError) throw inner;
          throw error;
        }
      }
    },
    async close() {
      await events?.close();
      await queue.close();
    },
  };
}
