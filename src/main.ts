import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { createRuntime } from './runtime.ts';

// `npm start`: the service in one process — deadline and notification workers, the outbox dispatcher.
// The HTTP API joins this process when its issue lands.
async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL);
  const runtime = await createRuntime(config, log);
  const only = config.INTERVENE_WORKERS?.split(',');
  runtime.startWorkers(only);
  log.info(
    { policies: runtime.policies.all().map((p) => `${p.contract.id}@${p.contract.version}`), workers: only ?? 'all' },
    'intervene running',
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: finishing in-flight jobs');
    const grace = setTimeout(() => process.exit(1), 30_000);
    grace.unref();
    runtime.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`intervene: ${message}\n`);
  process.exit(1);
});
