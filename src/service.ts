import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { serveApi } from './api/serve.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { missingNodeFlags } from './node-flags.ts';
import { createRuntime, type Runtime } from './runtime.ts';

/** The workers a process can run (besides `api`, the HTTP API): those Runtime.startWorkers knows. */
export const WORKER_NAMES = ['deadlines', 'notify', 'dispatcher', 'intake', 'reports'] as const;

export interface ServiceOptions {
  /** Run exactly these (the CLI's `worker --only`); wins over INTERVENE_WORKERS. */
  readonly only?: readonly string[];
  /** Never start the HTTP API, whatever INTERVENE_WORKERS says (`intervene worker`). */
  readonly withoutApi?: boolean;
  /** A configuration file (the CLI's `--config`), instead of INTERVENE_CONFIG. */
  readonly configFile?: string;
}

export interface RunningService {
  readonly runtime: Runtime;
  readonly api: FastifyInstance | undefined;
  /**
   * Stops taking work and finishes what is in flight, within `graceMs`: `clean` when everything finished,
   * `cut-off` when the grace period ran out first.
   */
  stop(graceMs: number): Promise<'clean' | 'cut-off'>;
}

/** Starts the runtime, the chosen workers and (unless left out) the HTTP API. `only` undefined: all of them. */
export async function startService(config: Config, log: Logger, only?: readonly string[]): Promise<RunningService> {
  const runtime = await createRuntime(config, log, { processMetrics: true });
  runtime.startWorkers(only);
  const api =
    !only || only.includes('api') ? await serveApi(runtime, (line) => process.stderr.write(`${line}\n`)) : undefined;
  log.info(
    {
      policies: runtime.policies.all().map((p) => `${p.contract.id}@${p.contract.version}`),
      workers: only ?? 'all',
      pid: process.pid,
    },
    'intervene running',
  );
  return { runtime, api, stop: (graceMs) => stopGracefully(runtime, api, graceMs, log) };
}

async function stopGracefully(
  runtime: Runtime,
  api: FastifyInstance | undefined,
  graceMs: number,
  log: Logger,
): Promise<'clean' | 'cut-off'> {
  const finished = (async () => {
    // Stop taking work everywhere at once: the API stops accepting connections, answers 503 on kept-alive
    // ones and waits for the requests in flight; the workers stop fetching and finish their active jobs.
    await Promise.all([
      api && closeApi(api).then(() => log.info('HTTP API closed')),
      ...runtime.workers.map((w) => w.close().then(() => log.info({ worker: w.name }, 'worker stopped'))),
    ]);
    // Then the outbox entries those produced are dispatched, the queues closed and Redis disconnected.
    await runtime.close();
    return 'clean' as const;
  })();
  let timer: NodeJS.Timeout | undefined;
  const cutOff = new Promise<'cut-off'>((resolve) => {
    timer = setTimeout(() => resolve('cut-off'), graceMs);
  });
  try {
    return await Promise.race([finished, cutOff]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Closes the HTTP API: no new connections, 503 on kept-alive ones, in-flight requests answered. A
 * kept-alive connection whose request was in flight at close becomes idle after it, and Node would keep
 * it open until the keep-alive timeout (72 s in Fastify): idle connections are closed as they appear.
 */
async function closeApi(api: FastifyInstance): Promise<void> {
  const sweep = setInterval(() => api.server.closeIdleConnections(), 50);
  try {
    await api.close();
  } finally {
    clearInterval(sweep);
  }
}

/**
 * Runs the service in this process until SIGTERM or SIGINT, then stops gracefully: exit 0 when all
 * in-flight work finished within INTERVENE_GRACE_MS, 1 when it had to be cut off (or on a second
 * signal), 2 when the configuration is invalid, 1 when the service cannot start.
 */
export async function runService(defaultWorkers?: readonly string[], opts: ServiceOptions = {}): Promise<never> {
  let config: Config;
  try {
    config = loadConfig(process.env, opts.configFile ? { file: opts.configFile } : {});
  } catch (error) {
    process.stderr.write(`intervene: ${(error as Error).message}\n`);
    return process.exit(error instanceof ConfigError ? 2 : 1);
  }
  const log = createLogger(config.LOG_LEVEL);
  const missing = missingNodeFlags();
  if (missing.length > 0) {
    log.warn(
      { missing },
      'node started without the flags npm start and the Dockerfile pass (src/node-flags.ts): deadline firing costs more CPU',
    );
  }
  let only = opts.only ?? config.INTERVENE_WORKERS?.split(',') ?? defaultWorkers;
  if (opts.withoutApi) only = (only ?? WORKER_NAMES).filter((w) => w !== 'api');
  let service: RunningService;
  try {
    service = await startService(config, log, only);
  } catch (error) {
    process.stderr.write(`intervene: ${(error as Error).message}\n`);
    return process.exit(1);
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: stopping now, cutting off in-flight work');
      process.exit(1);
    }
    stopping = true;
    const started = Date.now();
    const graceMs = config.INTERVENE_GRACE_MS;
    log.info({ signal, graceMs }, 'stopping: no new work; finishing in-flight requests and jobs');
    service.stop(graceMs).then(
      (how) => {
        if (how === 'clean') {
          log.info({ ms: Date.now() - started }, 'stopped cleanly');
          process.exit(0);
        }
        // Jobs still held are re-run by any worker's stalled check once their lock expires (INTERVENE_LOCK_MS);
        // every job is idempotent, so nothing is lost and nothing is done twice.
        log.error({ graceMs }, 'grace period over: in-flight work cut off');
        process.exit(1);
      },
      (error: unknown) => {
        log.error({ err: error }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return new Promise<never>(() => {});
}
