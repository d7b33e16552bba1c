import { runService, WORKER_NAMES } from '../service.ts';
import { type Command, UsageError, type Values } from './command.ts';

// `intervene serve` and `intervene worker`: the long-running processes. Both stop gracefully on SIGTERM.

const STOP = `SIGTERM or SIGINT stops it gracefully: no new requests or jobs are taken, those in flight finish,
Redis is closed.

Exit codes: 0 stopped with everything finished within INTERVENE_GRACE_MS (default 30000); 1 in-flight
work had to be cut off (its jobs are re-run by another worker after INTERVENE_LOCK_MS), a second signal,
or the service could not start; 2 bad usage or invalid configuration (one line per bad value).`;

export const serve: Command = {
  usage: 'serve [--config FILE]',
  help: `Runs the service: the HTTP API (HOST:PORT) and every worker — deadlines, notify, dispatcher, intake —
in this process, as npm start does. INTERVENE_WORKERS narrows what runs (e.g. api,dispatcher).

  --config FILE   a YAML configuration file (docs/ops.md); the environment wins over it

${STOP}`,
  options: { config: { type: 'string' } },
  run: (values) => runService(undefined, config(values)),
};

export const worker: Command = {
  usage: `worker [--only ${WORKER_NAMES.join(',')}] [--config FILE]`,
  help: `Runs workers without the HTTP API. Any number of worker processes may run against one Redis.

  --only LIST     comma-separated: ${WORKER_NAMES.join(', ')}; default INTERVENE_WORKERS
                  (without api), else all of them
  --config FILE   a YAML configuration file (docs/ops.md); the environment wins over it

${STOP}`,
  options: { only: { type: 'string' }, config: { type: 'string' } },
  run: (values) => {
    const only = values.only === undefined ? undefined : parseOnly(String(values.only));
    return runService(undefined, { ...config(values), ...(only ? { only } : {}), withoutApi: true });
  },
};

function config(values: Values): { configFile?: string } {
  return values.config ? { configFile: String(values.config) } : {};
}

function parseOnly(text: string): string[] {
  const names = text.split(',').map((n) => n.trim());
  for (const name of names) {
    if (name === 'api') throw new UsageError('--only: a worker runs no HTTP API; use intervene serve for it');
    if (!(WORKER_NAMES as readonly string[]).includes(name)) {
      throw new UsageError(`--only: "${name}" is not a worker; choose from ${WORKER_NAMES.join(', ')}`);
    }
  }
  return [...new Set(names)];
}
