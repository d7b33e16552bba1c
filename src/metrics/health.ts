import type { Redis } from 'ioredis';
import type { Runtime } from '../runtime.ts';

// Readiness (`/readyz`, and `intervene_ready` in the metrics): this process can take work. Redis must
// answer, the queues' connection must be ready, and every worker this process started must be running
// on a ready connection. Liveness (`/healthz`) asks nothing of Redis: a process waiting for Redis to
// come back is alive and must not be restarted for it.

export interface Check {
  /** `redis`, `queue:<name>` or `worker:<name>`. */
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface Readiness {
  readonly ready: boolean;
  readonly checks: readonly Check[];
  /** The PING round trip of the `redis` check, when it answered. */
  readonly redisRttMs?: number;
}

const TIMEOUT_MS = 900;

/** Resolves with the work's value, or rejects after `ms`. */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function pingCheck(name: string, client: Redis, timeoutMs: number): Promise<Check & { ms?: number }> {
  // A client that is not connected would queue the PING until it reconnects: say so instead.
  if (client.status !== 'ready') return { name, ok: false, detail: `connection ${client.status}` };
  const started = performance.now();
  try {
    await within(client.ping(), timeoutMs);
    const ms = performance.now() - started;
    return { name, ok: true, detail: `PING answered in ${ms.toFixed(1)} ms`, ms };
  } catch (error) {
    return { name, ok: false, detail: (error as Error).message };
  }
}

export async function checkReadiness(rt: Runtime, timeoutMs = TIMEOUT_MS): Promise<Readiness> {
  const redis = pingCheck('redis', rt.redis, timeoutMs);
  const queues = pingCheck('queues', rt.queueConnection, timeoutMs);
  const workers = rt.workers.map(async (worker): Promise<Check> => {
    const name = `worker:${worker.name}`;
    if (!worker.isRunning()) return { name, ok: false, detail: 'not running (stopping or stopped)' };
    try {
      // The worker's command connection and the blocking one it waits for jobs on.
      const backend = worker.getBackend();
      const clients = await within(Promise.all([backend.client, backend.blockingClient]), timeoutMs);
      const down = clients.find((c) => c !== undefined && c.status !== 'ready');
      return down ? { name, ok: false, detail: `connection ${down.status}` } : { name, ok: true, detail: 'running' };
    } catch (error) {
      return { name, ok: false, detail: (error as Error).message };
    }
  });
  const [r, q, ...w] = await Promise.all([redis, queues, ...workers]);
  const queueChecks = [rt.deadlineQueue, rt.notifyQueue, rt.intakeQueue, rt.outageQueue].map(
    (queue): Check => ({ name: `queue:${queue.name}`, ok: q.ok, detail: q.detail }),
  );
  const checks: Check[] = [{ name: r.name, ok: r.ok, detail: r.detail }, ...queueChecks, ...w];
  return { ready: checks.every((c) => c.ok), checks, ...(r.ms === undefined ? {} : { redisRttMs: r.ms }) };
}
