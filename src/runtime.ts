import { join } from 'node:path';
import type { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { createOutageQueue, type OutageJob, startOutageWorker } from './deadlines/outage-jobs.ts';
import { OutageStore } from './deadlines/outages.ts';
import { TimerPromoter } from './deadlines/promoter.ts';
import { createDeadlineQueue, startDeadlineWorker, type TimerJob } from './deadlines/timer-queue.ts';
import { Dispatcher } from './engine/dispatcher.ts';
import { Engine } from './engine/engine.ts';
import { createIntakeQueue, eraseWaitingIntake, type IntakeJob, startIntakeWorker } from './intake/intake-queue.ts';
import { IntakeKeys } from './intake/sealing.ts';
import { Metrics } from './metrics/metrics.ts';
import { createNotifyQueue, type NotifyJob, startNotifyWorker } from './notify/delivery.ts';
import { resolveSecrets } from './notify/secrets.ts';
import { loadPolicyFiles, type Policy } from './policy/policy.ts';
import { PolicyRegistry } from './policy/registry.ts';
import { AccessLog, accessPrefixOf } from './privacy/access-log.ts';
import { registerDataKeys, resolveDataKeys } from './privacy/data-keys.ts';
import { Erasure } from './privacy/erasure.ts';
import { Reports } from './reports/reports.ts';
import { startReportsWorker } from './reports/worker.ts';
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
  readonly outages: OutageStore;
  readonly outageQueue: Queue<OutageJob>;
  readonly intakeQueue: Queue<IntakeJob>;
  /** 4.2: the key pair intake bodies are sealed to (src/intake/sealing.ts). */
  readonly intakeKeys: IntakeKeys;
  /** This runtime's Prometheus registry and the hooks that feed it (src/metrics). */
  readonly metrics: Metrics;
  /** The workers startWorkers started in this process (readiness checks them). */
  readonly workers: readonly Worker[];
  readonly secrets: ReadonlyMap<string, string>;
  /** 6.1: the access log; 4.2: erasure on request and the retention job (src/privacy). */
  readonly access: AccessLog;
  readonly erasure: Erasure;
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
  /** Also export Node's process metrics (CPU, memory, event loop lag): the service does, tests need not. */
  readonly processMetrics?: boolean;
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
  // 4.2: personal fields are encrypted at rest with these keys (src/privacy, docs/privacy.md).
  const dataKeys = resolveDataKeys(config, log);
  registerDataKeys(config.INTERVENE_PREFIX, dataKeys);
  const store = new CaseStore(redis, {
    prefix: config.INTERVENE_PREFIX,
    partitions: config.INTERVENE_PARTITIONS,
    dataKeys,
  });
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
  const intakeQueue = createIntakeQueue(queueConnection, prefix);
  const intakeKeys = new IntakeKeys(dataKeys);
  // Without listeners BullMQ prints reconnect errors to the console, bypassing the logger.
  for (const queue of [deadlineQueue, notifyQueue, intakeQueue] as Queue[]) {
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
  const metrics = new Metrics({
    processMetrics: opts.processMetrics ?? false,
    deadlines: policyList.flatMap((p) => Object.keys(p.deadlines)),
  });
  const outages = new OutageStore(redis, config.INTERVENE_PREFIX, opts.clock ? { clock: opts.clock } : {});
  const outageQueue = createOutageQueue(queueConnection, prefix);
  outageQueue.on('error', (err) => log.warn({ err: err.message, queue: outageQueue.name }, 'queue connection error'));
  const engine = new Engine({
    store,
    policies,
    policyStore,
    outages,
    log,
    onCommitted: dispatcher.enqueue,
    observer: metrics.observer,
    timerHorizonMs: timerAheadMs(config),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const secrets = resolveSecrets(policyList, config.env, config.INTERVENE_VAR_DIR, log);
  const access = new AccessLog(redis, accessPrefixOf(config));
  const erasure = new Erasure({
    store,
    access,
    policyOf: async (stored) => {
      const found = await engine.get(stored.context.caseId);
      if (!found) throw new Error(`case ${stored.context.caseId} disappeared`);
      return found.policy;
    },
    intake: (customerId, caseIds) => eraseWaitingIntake(intakeQueue, queueConnection, intakeKeys, customerId, caseIds),
    log,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  let retention: { stop(): Promise<void> } | undefined;
  const workers: Worker[] = [];
  let promoter: TimerPromoter | undefined;
  let keyTimer: NodeJS.Timeout | undefined;

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
    outages,
    outageQueue,
    intakeQueue,
    intakeKeys,
    metrics,
    workers,
    secrets,
    access,
    erasure,
    redisServer: server,
    startWorkers(only = ['deadlines', 'notify', 'dispatcher', 'intake', 'reports']) {
      if (only.includes('intake')) {
        // The processes that open intake bodies publish the key producers seal to, and keep it there.
        const publish = () =>
          intakeKeys
            .publish(redis, prefix)
            .catch((err: Error) => log.warn({ err: err.message }, 'intake key not published'));
        void publish();
        keyTimer = setInterval(publish, 30_000);
        keyTimer.unref();
        workers.push(
          startIntakeWorker({
            connection: queueClient(url),
            prefix,
            engine,
            keys: intakeKeys,
            acceptClear: config.INTERVENE_INTAKE_ACCEPT_CLEAR,
          }),
        );
      }
      if (only.includes('dispatcher')) {
        dispatcher.start(config.INTERVENE_SWEEP_INTERVAL_MS);
        retention = erasure.start(config.INTERVENE_RETENTION_INTERVAL_MS);
      }
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
          startOutageWorker({
            connection: queueClient(url),
            prefix,
            deps: { engine, outages, actor: SYSTEM_ACTOR, log },
          }),
        );
        workers.push(
          startDeadlineWorker({
            connection: queueClient(url),
            prefix,
            concurrency: config.INTERVENE_DEADLINE_CONCURRENCY,
            lockDuration: config.INTERVENE_LOCK_MS,
            stalledInterval: config.INTERVENE_STALLED_INTERVAL_MS,
            onFired: metrics.deadlineFired,
            fire: (job, jobId) =>
              engine.apply(
                job.caseId,
                {
                  type: 'DEADLINE',
                  name: job.name,
                  epoch: job.epoch,
                  ...(job.warning === undefined ? {} : { warning: job.warning }),
                },
                SYSTEM_ACTOR,
                { idempotencyKey: jobId },
              ),
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
            onOutcome: metrics.delivery,
            lockDuration: config.INTERVENE_LOCK_MS,
            stalledInterval: config.INTERVENE_STALLED_INTERVAL_MS,
            // 4.2: payloads are decrypted here, at send time, and nowhere else.
            open: (delivery) => store.codec.openDelivery(delivery),
            endpointFor: async (delivery) => {
              const policy = (await engine.get(delivery.caseId))?.policy;
              const webhook =
                delivery.target.kind === 'department'
                  ? policy?.departments[delivery.target.department]?.webhook
                  : delivery.target.kind === 'owner'
                    ? policy?.notices?.owner?.webhook
                    : policy?.notices?.customer?.webhook;
              const secret = webhook && secrets.get(webhook.secretEnv);
              return webhook && secret ? { url: webhook.url, secret } : undefined;
            },
          }),
        );
      }
      if (only.includes('reports')) {
        // 3.3: folds the report facts into the aggregates and runs the scheduled reports.
        const reports = new Reports({ store, policies, log, ...(opts.clock ? { clock: opts.clock } : {}) });
        workers.push(startReportsWorker({ connection: queueClient(url), prefix, reports, policies, log }));
      }
      for (const w of workers) w.on('error', (err) => log.error({ err: err.message }, 'worker error'));
      return workers;
    },
    async close() {
      // Every step runs whatever the previous one did: one failing close must not leave connections, or the
      // private redis-server, behind. Disconnecting waits at most 2 s (with Redis down it never confirms);
      // a periodic loop's run in progress at most 5 s; the workers' jobs in flight INTERVENE_GRACE_MS, then
      // their connections are dropped (a stalled Redis would hold any of them for ever: what they did not
      // finish, the next process does, as after a crash).
      const step = async (what: string, work: () => unknown) => {
        try {
          await work();
        } catch (error) {
          log.warn({ err: (error as Error).message, step: what }, 'stop step failed');
        }
      };
      const within = (ms: number, work: Promise<unknown>) =>
        Promise.race([work, new Promise((r) => setTimeout(r, ms).unref())]);
      if (keyTimer) clearInterval(keyTimer);
      await step('promoter', () => within(5_000, promoter?.stop() ?? Promise.resolve()));
      await step('workers', async () => {
        const closed = await within(
          config.INTERVENE_GRACE_MS,
          Promise.all(workers.map((w) => w.close())).then(() => true),
        );
        if (closed === true) return;
        // BullMQ's close(true) would return the pending close: dropping the connections is what stops them.
        log.warn(
          { graceMs: config.INTERVENE_GRACE_MS },
          'workers did not finish their jobs within the grace period: disconnecting them',
        );
        await within(2_000, Promise.all(workers.map((w) => w.disconnect())));
      });
      await step('dispatcher', () => within(5_000, dispatcher.stop()));
      await step('retention', () => within(5_000, retention?.stop() ?? Promise.resolve()));
      await step('queues', () =>
        within(
          2_000,
          Promise.all([deadlineQueue.close(), notifyQueue.close(), intakeQueue.close(), outageQueue.close()]),
        ),
      );
      await step('metrics', () => metrics.close());
      await step('worker connections', () => within(2_000, Promise.all(workers.map((w) => w.disconnect()))));
      redis.disconnect();
      queueConnection.disconnect();
      await step('redis-server', () => server?.stop());
    },
  };
}
