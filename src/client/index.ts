import { type Job, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { CaseEvent, OpenCase, PublicEvent } from '../domain/events.ts';
import type { Role } from '../domain/vocabulary.ts';
import { createIntakeQueue, INTAKE_QUEUE, type IntakeJob, scrubIntake } from '../intake/intake-queue.ts';
import {
  type IntakeBinding,
  type IntakePublicKey,
  intakeKeyName,
  parseIntakePublicKey,
  sealIntakeBody,
} from '../intake/sealing.ts';

export type { IntakeBinding, IntakePublicKey, SealedIntakeBody } from '../intake/sealing.ts';
export { intakeKeyName, sealIntakeBody } from '../intake/sealing.ts';
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

/** Job ids are the idempotency key, encoded one-to-one and never all digits (BullMQ forbids both ':' and that). */
export function intakeJobId(idempotencyKey: string): string {
  return `k-${Buffer.from(idempotencyKey, 'utf8').toString('base64url')}`;
}

const STATUS: Record<string, number> = {
  VALIDATION_FAILED: 400,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  PRECONDITION_FAILED: 412,
  VERSION_CONFLICT: 409,
  CASE_EXISTS: 409,
  PERSONAL_DATA_ERASED: 410,
};

/** How long a producer trusts the intake key it read before reading it again (a rotation reaches it so soon). */
const KEY_TTL_MS = 60_000;

/**
 * Adds intake jobs instead of calling HTTP. Each body is sealed to the service's intake key (4.2; read from
 * Redis, or pinned with `intakeKey`), so the queue never holds it in clear. `idempotencyKey` becomes the
 * job id: adding the same key twice is one job, and the same key with another body is an
 * IDEMPOTENCY_CONFLICT. `result(job)` waits for the engine's answer or its refusal.
 */
export function createIntakeProducer(opts: {
  connection: Redis;
  prefix?: string;
  actor: IntakeActor;
  /**
   * Pins the key bodies are sealed to (what `intervene data intake-key` prints) instead of reading it from
   * Redis: then someone able to write Redis cannot make the producer seal to a key of theirs.
   */
  intakeKey?: IntakePublicKey;
}) {
  const prefix = opts.prefix ?? 'ivn-bull';
  const queue = createIntakeQueue(opts.connection, prefix);
  let key: { value: IntakePublicKey; until: number } | undefined = opts.intakeKey
    ? { value: parseIntakePublicKey(JSON.stringify(opts.intakeKey)), until: Number.POSITIVE_INFINITY }
    : undefined;
  async function intakeKey(): Promise<IntakePublicKey> {
    if (!key || key.until < Date.now()) {
      // A service starting beside the producer publishes its key within moments: wait up to 5 s for it.
      let text = await opts.connection.get(intakeKeyName(prefix));
      for (let waited = 0; text === null && waited < 5_000; waited += 100) {
        await new Promise((r) => setTimeout(r, 100));
        text = await opts.connection.get(intakeKeyName(prefix));
      }
      key = { value: parseIntakePublicKey(text), until: Date.now() + KEY_TTL_MS };
    }
    return key.value;
  }
  async function sealed(binding: Omit<IntakeBinding, 'jobId'>, body: unknown, idempotencyKey: string) {
    return sealIntakeBody(await intakeKey(), { ...binding, jobId: intakeJobId(idempotencyKey) }, body);
  }
  // Listening starts before the first job is added, so no completion can slip past `result()`.
  const events = new QueueEvents(INTAKE_QUEUE, { connection: opts.connection.duplicate(), prefix });
  const ready = events.waitUntilReady();
  async function add(name: string, data: IntakeJob, idempotencyKey: string) {
    await ready;
    const jobId = intakeJobId(idempotencyKey);
    const job = await queue.add(name, data, { jobId });
    // An existing id keeps its first job: compare what is stored with what was sent.
    const stored = await queue.getJob(jobId);
    // A finished job keeps a hash of its body, not the body (4.2): compare in that form.
    if (stored && JSON.stringify(scrubIntake(stored.data)) !== JSON.stringify(scrubIntake(data))) {
      throw new InterveneError(422, {
        code: 'IDEMPOTENCY_CONFLICT',
        detail: 'this idempotency key was used with a different request',
      });
    }
    return job;
  }
  /** The events stream, with a poll of the job's state beside it: a completion the reader missed is still seen. */
  async function finished(job: Job<IntakeJob>, timeoutMs: number): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    const viaEvents = job.waitUntilFinished(events, timeoutMs).then(
      (value: unknown) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    for (;;) {
      const settled = await Promise.race([
        viaEvents,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 250)),
      ]);
      const polled = settled ?? (await pollJob(job.id as string));
      if (polled) {
        if (polled.ok) return polled.value;
        throw polled.error;
      }
      if (Date.now() > deadline) throw new Error(`intake job ${job.id} did not finish within ${timeoutMs} ms`);
    }
  }
  async function pollJob(id: string) {
    const current = await queue.getJob(id);
    const state = await current?.getState();
    if (state === 'completed') return { ok: true as const, value: current?.returnvalue };
    if (state === 'failed') return { ok: false as const, error: new Error(current?.failedReason ?? 'failed') };
    return undefined;
  }
  return {
    openCase: async (input: OpenCase, o: { idempotencyKey: string }) => {
      const body = await sealed({ kind: 'open', actor: opts.actor }, input, o.idempotencyKey);
      return add('open', { kind: 'open', actor: opts.actor, body }, o.idempotencyKey);
    },
    send: async (caseId: string, event: PublicEvent, o: { idempotencyKey: string; ifMatch?: number }) => {
      const body = await sealed(
        { kind: 'event', caseId, ifMatch: o.ifMatch, actor: opts.actor },
        event,
        o.idempotencyKey,
      );
      return add(
        'event',
        {
          kind: 'event',
          actor: opts.actor,
          caseId,
          body,
          ...(o.ifMatch === undefined ? {} : { ifMatch: o.ifMatch }),
        },
        o.idempotencyKey,
      );
    },
    /** Waits for a job's outcome; a refusal rejects with an InterveneError carrying code and clause. */
    async result(job: Job<IntakeJob>, timeoutMs = 30_000) {
      await ready;
      try {
        return (await finished(job, timeoutMs)) as {
          caseId: string;
          version: number;
          state: string;
          outcome: string;
        };
      } catch (error) {
        let problem: { code: string; message: string; clause?: string; errors?: [] } | undefined;
        try {
          problem = JSON.parse((error as Error).message);
        } catch {
          throw error;
        }
        if (!problem?.code) throw error;
        throw new InterveneError(STATUS[problem.code] ?? 422, { ...problem, detail: problem.message });
      }
    },
    async close() {
      await events.close();
      await queue.close();
    },
  };
}
