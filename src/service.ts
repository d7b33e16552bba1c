import type { FastifyInstance } from 'fastify';
import { serveApi } from './api/serve.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { createRuntime } from './runtime.ts';

/** Runs the service's workers in this process until SIGTERM/SIGINT, then stops gracefully. */
export async function runService(defaultWorkers?: readonly string[]): Promise<void> {
  try {
    const config = loadConfig();
    const log = createLogger(config.LOG_LEVEL);
    const runtime = await createRuntime(config, log);
    const only = config.INTERVENE_WORKERS?.split(',') ?? defaultWorkers;
    runtime.startWorkers(only);
    let api: FastifyInstance | undefined;
    if (!only || only.includes('api')) api = await serveApi(runtime, (line) => process.stderr.write(`${line}\n`));
    log.info(
      {
        policies: runtime.policies.all().map((p) => `${p.contract.id}@${p.contract.version}`),
        workers: only ?? 'all',
        pid: process.pid,
      },
      'intervene running',
    );
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping: finishing in-flight jobs');
      setTimeout(() => process.exit(1), 30_000).unref();
      (api ? api.close() : Promise.resolve())
        .then(() => runtime.close())
        .then(
          () => process.exit(0),
          (error: unknown) => {
            log.error({ err: error }, 'unclean stop');
            process.exit(1);
          },
        );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  } catch (error) {
    const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
    process.stderr.write(`intervene: ${message}\n`);
    process.exit(1);
  }
}
