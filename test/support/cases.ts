import type { Worker } from 'bullmq';
import type { AuditEntry } from '../../src/engine/audit.ts';
import type { Runtime } from '../../src/runtime.ts';
import type { StoredCase } from '../../src/store/case-store.ts';
import { waitFor } from './wait.ts';

// Read-side helpers for integration tests: the stored case, its audit trail, worker outcomes.

export type { AuditEntry } from '../../src/engine/audit.ts';

export async function readCase(rt: Runtime, caseId: string): Promise<StoredCase> {
  const found = await rt.engine.get(caseId);
  if (!found) throw new Error(`case ${caseId} does not exist`);
  return found.stored;
}

export async function auditOf(rt: Runtime, caseId: string): Promise<AuditEntry[]> {
  return (await rt.store.history(caseId)) as AuditEntry[];
}

/** The DEADLINE entries of a case's audit trail: one per deadline that fired and was applied. */
export async function deadlineEntries(rt: Runtime, caseId: string): Promise<AuditEntry[]> {
  return (await auditOf(rt, caseId)).filter((e) => e.event === 'DEADLINE');
}

/** Polls the case every 50 ms until it is in `state`. */
export function waitForState(rt: Runtime, caseId: string, state: string, timeoutMs = 5_000): Promise<StoredCase> {
  return waitFor(
    async () => {
      const stored = await readCase(rt, caseId);
      return stored.state === state ? stored : undefined;
    },
    { timeoutMs, what: `case ${caseId} to reach state ${state}` },
  );
}

/** The engine's counter of stale timers dropped (invariant 5); 0 when never incremented. */
export async function staleTimersDropped(rt: Runtime): Promise<number> {
  return Number((await rt.redis.hget(rt.store.keys.stats(), 'stale_timers_dropped')) ?? 0);
}

/** Records what each job returned (the deadline worker returns the engine's outcome), by job id. */
export function recordCompletions(workers: readonly Worker[]): Map<string, unknown> {
  const results = new Map<string, unknown>();
  for (const worker of workers) {
    worker.on('completed', (job, result) => {
      if (job.id) results.set(job.id, result);
    });
  }
  return results;
}
