import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Actor } from '../../machines/types.ts';
import { DomainError, fieldErrors, ValidationError } from '../domain/errors.ts';
import { parseEvent, parseOpenCase } from '../domain/events.ts';
import { ROLES } from '../domain/vocabulary.ts';
import type { ApplyResult, Engine } from '../engine/engine.ts';
import { SealError } from '../privacy/cipher.ts';
import { bodyDigest, type IntakeBinding, type IntakeKeys, isSealedBody, sealedKeyId } from './sealing.ts';

export const INTAKE_QUEUE = 'intake';

/**
 * An intake job: open a case or send an event, on behalf of a named backend. The job id is the
 * idempotency key. Refusals fail the job without retry, with the problem as its failed reason.
 */
export type IntakeJob =
  | { readonly kind: 'open'; readonly actor: Actor; readonly body: unknown }
  | {
      readonly kind: 'event';
      readonly actor: Actor;
      readonly caseId: string;
      readonly body: unknown;
      readonly ifMatch?: number;
    };

const actorSchema = z.strictObject({
  name: z.string().min(1).max(64),
  role: z.enum(ROLES.filter((r) => r !== 'ops' && r !== 'auditor') as [string, ...string[]]),
  department: z.string().min(1).optional(),
});
const jobSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('open'), actor: actorSchema, body: z.unknown() }),
  z.strictObject({
    kind: z.literal('event'),
    actor: actorSchema,
    caseId: z.string().min(1).max(64),
    body: z.unknown(),
    ifMatch: z.number().int().positive().optional(),
  }),
]);

/** A body an erasure blanked while its job waited: `{ erased: <digest> }`. */
const isErasedBody = (body: unknown): body is { erased: string } =>
  typeof body === 'object' && body !== null && typeof (body as { erased?: unknown }).erased === 'string';

/**
 * 4.2: a body waits in the queue sealed to the intake key (./sealing.ts). Once the job is decided its
 * body is replaced by the digest of the clear body: the finished job keeps its outcome and its
 * idempotency (the producer compares digests), and no longer even the ciphertext.
 */
export function scrubIntake<J extends { body: unknown }>(data: J): J {
  if (typeof data !== 'object' || data === null) return data;
  const body = data.body as { scrubbed?: unknown } | null;
  if (body && typeof body === 'object' && typeof body.scrubbed === 'string') return data;
  if (isErasedBody(data.body)) return { ...data, body: { scrubbed: data.body.erased } };
  return { ...data, body: { scrubbed: isSealedBody(data.body) ? data.body.digest : bodyDigest(data.body) } };
}

const bindingOf = (job: Job<IntakeJob>): IntakeBinding => ({
  jobId: job.id as string,
  kind: job.data.kind,
  caseId: job.data.kind === 'event' ? job.data.caseId : undefined,
  ifMatch: job.data.kind === 'event' ? job.data.ifMatch : undefined,
  actor: job.data.actor,
});

/** The clear body of a job: opened if sealed; refused if erased, or if clear and clear is not accepted. */
function bodyOf(job: Job<IntakeJob>, keys: IntakeKeys, acceptClear: boolean): unknown {
  const body = job.data.body;
  if (isSealedBody(body)) {
    const kid = sealedKeyId(body);
    // A rolling rotation: another worker may hold the new key; this one retries (and logs) rather than refuses.
    if (kid && !keys.has(kid))
      throw new Error(`intake body sealed with data key ${kid}, which this process does not hold`);
    try {
      return keys.open(bindingOf(job), body);
    } catch (error) {
      if (!(error instanceof SealError)) throw error;
      throw new ValidationError('the sealed intake body cannot be opened', [{ path: 'body', message: error.message }]);
    }
  }
  if (isErasedBody(body)) {
    throw new DomainError('PERSONAL_DATA_ERASED', "the customer's personal data was erased while this job waited", {
      clause: '4.2',
    });
  }
  if (!acceptClear) {
    throw new ValidationError('the intake body is not sealed', [
      {
        path: 'body',
        message:
          'must be sealed to the intake key (createIntakeProducer does it; docs/privacy.md, "Queues"), unless the service runs with INTERVENE_INTAKE_ACCEPT_CLEAR=true',
      },
    ]);
  }
  return body;
}

// Blanks a job's body only if no worker holds it (its lock) or has finished it, and its data is what was
// read: atomic against BullMQ's move to active, which reads the data and takes the lock in one script.
const BLANK_LUA = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'finishedOn') == 1 then return 0 end
if redis.call('HGET', KEYS[1], 'data') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2])
return 1
`;

/**
 * 4.2 erasure: the intake jobs of a customer that no worker has taken yet — an opening for its id, or an
 * event for one of its cases — lose their body (it becomes `{ erased: digest }`), and the worker refuses
 * them with PERSONAL_DATA_ERASED. A job a worker holds is past reach and not counted (docs/privacy.md).
 * Events are told by their case id, openings by the customer id in their opened body. Returns how many.
 */
export async function eraseWaitingIntake(
  queue: Queue<IntakeJob>,
  client: Redis,
  keys: IntakeKeys,
  customerId: string,
  caseIds: readonly string[],
): Promise<number> {
  const cases = new Set(caseIds);
  // One read of every job not yet taken, then one check-and-set per job of the customer's.
  const jobs = (await queue.getJobs(['waiting', 'delayed', 'prioritized'], 0, -1)) as Job<IntakeJob, ApplyResult>[];
  let erased = 0;
  for (const job of jobs) {
    if (!job?.data || !job.id || isErasedBody(job.data.body)) continue;
    const data = job.data;
    let mine: boolean;
    if (data.kind === 'event') mine = cases.has(data.caseId);
    else {
      let body: unknown;
      try {
        body = isSealedBody(data.body) ? keys.open(bindingOf(job), data.body) : data.body;
      } catch {
        continue; // a body that does not open is refused by the worker anyway
      }
      mine = (body as { customer?: { id?: unknown } } | null)?.customer?.id === customerId;
    }
    if (!mine) continue;
    const digest = isSealedBody(data.body) ? data.body.digest : bodyDigest(data.body);
    const key = queue.toKey(job.id);
    const done = await client.eval(
      BLANK_LUA,
      2,
      key,
      `${key}:lock`,
      JSON.stringify(data),
      JSON.stringify({ ...data, body: { erased: digest } }),
    );
    if (done === 1) erased++;
  }
  return erased;
}

export function createIntakeQueue(connection: Redis, prefix: string): Queue<IntakeJob> {
  return new Queue<IntakeJob>(INTAKE_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: 10,
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: { age: 86_400 },
      removeOnFail: { age: 7 * 86_400 },
    },
  });
}

/** Binds the intake queue to the engine: the same validation, authority rules and single write path. */
export function startIntakeWorker(opts: {
  connection: Redis;
  prefix: string;
  engine: Engine;
  keys: IntakeKeys;
  acceptClear?: boolean;
  concurrency?: number;
}) {
  return new Worker<IntakeJob, ApplyResult>(
    INTAKE_QUEUE,
    async (job) => {
      try {
        const parsed = jobSchema.safeParse(job.data);
        if (!parsed.success) throw new ValidationError('invalid intake job', fieldErrors(parsed.error.issues));
        const data = parsed.data;
        const actor = data.actor as Actor;
        const key = { idempotencyKey: `intake:${job.id}` };
        const body = bodyOf(job, opts.keys, opts.acceptClear ?? false);
        const result =
          data.kind === 'open'
            ? await opts.engine.open(parseOpenCase(body), actor, key)
            : await opts.engine.apply(data.caseId, parseEvent(body), actor, {
                ...key,
                ...(data.ifMatch === undefined ? {} : { expectedVersion: data.ifMatch }),
              });
        await job.updateData(scrubIntake(job.data));
        return result;
      } catch (error) {
        // A decided refusal or bad input will not change on retry: fail the job for good, with the reason.
        if (error instanceof DomainError && error.code !== 'VERSION_CONFLICT') {
          await job.updateData(scrubIntake(job.data));
          throw new UnrecoverableError(
            JSON.stringify({ code: error.code, message: error.message, clause: error.clause, errors: error.errors }),
          );
        }
        // Its last attempt: the job fails for good, so it keeps no body either.
        if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) await job.updateData(scrubIntake(job.data));
        throw error;
      }
    },
    { connection: opts.connection, prefix: opts.prefix, concurrency: opts.concurrency ?? 32, maxStalledCount: 1_000 },
  );
}
