import { join } from 'node:path';
import type { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { TimerPromoter } from './deadlines/promoter.ts';
import { createDeadlineQueue, startDeadlineWorker, type TimerJob } from './deadlines/timer-queue.ts';
import { Dispatcher } from './engine/dispatcher.ts';
import { Engine } from './engine/engine.ts';
import { startIntakeWorker } from './intake/intake-queue.ts';
import { createNotifyQueue, type NotifyJob, startNotifyWorker } from './notify/delivery.ts';
import { resolveSecrets } from './notify/secrets.ts';
import { loadPolicyFiles, type Policy } from './policy/policy.ts';
import { PolicyRegistry } from './policy/registry.ts';
import { CaseStore } from './store/case-store.ts';
import { PolicyStore } from './store/policy-store.ts';
import { commandClient, ping, queueClient, type RedisServer, startRedisServer } from './store/redis.ts';

export const SYSTEM_ACTOR = { name: 'intervene-timers', role: 'system' } as const;

/** The promotion horizon always covers the lead plus two promotion rounds, so no timer is promoted late. */
export function timerAheadMs(config: Config): number {
  return Math.max(
    config.INTERVENE_TIMER_AHEAD_MS,
    config.INTERVENE_TIMER_LEAD_MS + 2 * config.INTERVENE_TIMER_PROMOTE_INTERVAL_MS + 100,
  );
}

export interface Runtime {
  readonly config: Config;
  readonly log: Logger;
  readonly redis: Redis;
  readonly queueConnection: Redis;
  readonly store: CaseStore;
  readonly policies: PolicyRegistry;
  readonly engine: Engine;
  readonly dispatcher: Dispatcher;
  readonly deadlineQueue: Queue<TimerJob>;
  readonly notifyQueue: Queue<NotifyJob>;
  readonly secrets: ReadonlyMap<string, string>;
  readonly redisServer: RedisServer | undefined;
  startWorkers(only?: readonly string[]): Worker[];
  close(): Promise<void>;
}

/** DESIGN.md: `REDIS_URL`, else the local default, else a private `redis-server`, else a message naming all three. */
export async function resolveRedis(config: Config, log: Logger): Promise<{ url: string; server?: RedisServer }> {
  if (config.REDIS_URL) return { url: config.REDIS_URL };
  const local = 'redis://127.0.0.1:6379';
  if (await ping(local)) return { url: local };
  try {
    const server = await startRedisServer(join(config.INTERVENE_VAR_DIR, 'redis'));
    log.warn(
      { url: server.url, dir: server.dir },
      'no Redis configured or on 127.0.0.1:6379: started a private redis-server',
    );
    return { url: server.url, server };
  } catch (error) {
    throw new Error(
      'no Redis available. Either set REDIS_URL, or run Redis on 127.0.0.1:6379, ' +
        `or put redis-server on the PATH so a private one can be started (${(error as Error).message})`,
    );
  }
}

export interface RuntimeOptions {
  /** Use this Redis instead of resolving one from the configuration. */
  readonly redisUrl?: string;
  /** Use these policies instead of loading `INTERVENE_POLICIES`. */
  readonly policies?: readonly Policy[];
  /** Injected time for the engine (logic tests run on fake time). */
  readonly clock?: () => number;
}

export async function createRuntime(config: Config, log: Logger, opts: RuntimeOptions = {}): Promise<Runtime> {
  const { url, server } = opts.redisUrl ? { url: opts.redisUrl, server: undefined } : await resolveRedis(config, log);
  const redis = commandClient(url);
  const queueConnection = queueClient(url);
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  queueConnection.on('error', (err) => log.warn({ err: err.message }, 'redis (queues) connection error'));
  await new Promise<void>((ready, fail) => {
    redis.once('ready', ready);
    setTimeout(() => fail(new Error(`Redis at ${url} not ready within 10 s`)), 10_000).unref();
  });

  const policyList = opts.policies ?? (await loadPolicyFiles(config.INTERVENE_POLICIES));
  const policies = new PolicyRegistry(policyList);
  const store = new CaseStore(redis, { prefix: config.INTERVENE_PREFIX, partitions: config.INTERVENE_PARTITIONS });
  const policyStore = new PolicyStore(redis, store.keys);
  for (const p of policyList) await policyStore.pin(p);

  const prefix = config.INTERVENE_QUEUE_PREFIX;
  const deadlineQueue = createDeadlineQueue(queueConnection, prefix);
  const notifyQueue = createNotifyQueue(
    queueConnection,
    prefix,
    config.INTERVENE_NOTIFY_ATTEMPTS,
    config.INTERVENE_NOTIFY_BACKOFF_MS,
  );
  // Without listeners BullMQ prints reconnect errors to the console, bypassing the logger.
  for (const queue of [deadlineQueue, notifyQueue] as Queue[]) {
    queue.on('error', (err) => log.warn({ err: err.message, queue: queue.name }, 'queue connection error'));
  }
  const dispatcher = new Dispatcher({
    store,
    notify: notifyQueue,
    deadlines: deadlineQueue,
    graceMs: config.INTERVENE_SWEEP_GRACE_MS,
    log,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const engine = new Engine({
    store,
    policies,
    policyStore,
    log,
    onCommitted: dispatcher.enqueue,
    timerHorizonMs: timerAheadMs(config),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const secrets = resolveSecrets(policyList, config.env, config.INTERVENE_VAR_DIR, log);
  const workers: Worker[] = [];
  let promoter: TimerPromoter | undefined;

  return {
    config,
    log,
    redis,
    queueConnection,
    store,
    policies,
    engine,
    dispatcher,
    deadlineQueue,
    notifyQueue,
    secrets,
    redisServer: server,
    startWorkers(only = ['deadlines', 'notify', 'dispatcher', 'intake']) {
      if (only.includes('intake')) {
        workers.push(startIntakeWorker({ connection: queueClient(url), prefix, engine }));
      }
      if (only.includes('dispatcher')) dispatcher.start(config.INTERVENE_SWEEP_INTERVAL_MS);
      if (only.includes('deadlines')) {
        // The horizon always covers the lead plus two promotion rounds, so no timer is promoted late.
        const aheadMs = timerAheadMs(config);
        promoter = new TimerPromoter({
          store,
          queue: deadlineQueue,
          leadMs: config.INTERVENE_TIMER_LEAD_MS,
          aheadMs,
          log,
        });
        promoter.start(config.INTERVENE_TIMER_PROMOTE_INTERVAL_MS);
        workers.push(
          startDeadlineWorker({
            connection: queueClient(url),
            prefix,
            concurrency: config.INTERVENE_DEADLINE_CONCURRENCY,
            lockDuration: config.INTERVENE_LOCK_MS,
            stalledInterval: config.INTERVENE_STALLED_INTERVAL_MS,
            fire: (job, jobId) =>
              engine.apply(job.caseId, { type: 'DEADLINE', name: job.name, epoch: job.epoch }, SYSTEM_ACTOR, {
                idempotencyKey: jobId,
              }),
          }),
        );
      }
      if (only.includes('notify')) {
        workers.push(
          startNotifyWorker({
            connection: queueClient(url),
            redis,
            keys: store.keys,
            prefix,
            concurrency: config.INTERVENE_NOTIFY_CONCURRENCY,
            log,
            endpointFor: async (delivery) => {
              const policy = (await engine.get(delivery.caseId))?.policy;
              const webhook =
                delivery.target.kind === 'department'
                  ? policy?.departments[delivery.target.department]?.webhook
                  : policy?.notices?.customer?.webhook;
              const secret = webhook && secrets.get(webhook.secretEnv);
              return webhook && secret ? { url: webhook.url, secret } : undefined;
            },
          }),
        );
      }
      for (const w of workers) w.on('error', (err) => log.error({ err: err.message }, 'worker error'));
      return workers;
    },
    async close() {
      await promoter?.stop();
      await Promise.all(workers.map((w) => w.close()));
      await dispatcher.stop();
      await Promise.all([deadlineQueue.close(), notifyQueue.close()]);
      await Promise.all(workers.map((w) => w.disconnect()));
      redis.disconnect();
      queueConnection.disconnect();
      await server?.stop();
    },
  };
}
