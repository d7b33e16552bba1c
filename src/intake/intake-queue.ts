import { createHash } from 'node:crypto';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Actor } from '../../machines/types.ts';
import { DomainError, fieldErrors, ValidationError } from '../domain/errors.ts';
import { parseEvent, parseOpenCase } from '../domain/events.ts';
import { ROLES } from '../domain/vocabulary.ts';
import type { ApplyResult, Engine } from '../engine/engine.ts';

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

/**
 * 4.2: a job's body carries personal data in clear (BullMQ stores job data as is), so once the job is
 * decided its body is replaced by a hash of it: the finished job keeps its outcome and its idempotency
 * (the producer compares hashes), and no longer the customer's data. A job still waiting or being
 * retried keeps its body until then.
 */
export function scrubIntake<J extends { body: unknown }>(data: J): J {
  if (typeof data !== 'object' || data === null) return data;
  const body = data.body as { scrubbed?: unknown } | null;
  if (body && typeof body === 'object' && typeof body.scrubbed === 'string') return data;
  const text = JSON.stringify(data.body) ?? 'null';
  return { ...data, body: { scrubbed: createHash('sha256').update(text).digest('hex') } };
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
export function startIntakeWorker(opts: { connection: Redis; prefix: string; engine: Engine; concurrency?: number }) {
  return new Worker<IntakeJob, ApplyResult>(
    INTAKE_QUEUE,
    async (job) => {
      try {
        const parsed = jobSchema.safeParse(job.data);
        if (!parsed.success) throw new ValidationError('invalid intake job', fieldErrors(parsed.error.issues));
        const data = parsed.data;
        const actor = data.actor as Actor;
        const key = { idempotencyKey: `intake:${job.id}` };
        const result =
          data.kind === 'open'
            ? await opts.engine.open(parseOpenCase(data.body), actor, key)
            : await opts.engine.apply(data.caseId, parseEvent(data.body), actor, {
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
        throw error;
      }
    },
    { connection: opts.connection, prefix: opts.prefix, concurrency: opts.concurrency ?? 32, maxStalledCount: 1_000 },
  );
}
