import './domain/zod-messages.ts';
import { z } from 'zod';
import { fieldErrors } from './domain/errors.ts';

// The one module that reads the environment (STYLE.md rule 5). Validated once, frozen.
const int = (min: number, max: number) => z.coerce.number().int('an integer').min(min).max(max);

const schema = z.object({
  PORT: int(0, 65_535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'a redis:// or rediss:// URL' }).optional(),
  INTERVENE_POLICIES: z.string().min(1).default('policies'),
  INTERVENE_KEYS: z.string().min(1).optional(),
  INTERVENE_VAR_DIR: z.string().min(1).default('var'),
  INTERVENE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:.-]*$/, 'letters, digits, ":", ".", "_" or "-"')
    .default('ivn:'),
  INTERVENE_QUEUE_PREFIX: z.string().min(1).default('ivn-bull'),
  INTERVENE_PARTITIONS: int(1, 1024).default(16),
  INTERVENE_TIMER_LEAD_MS: int(0, 10_000).default(200),
  INTERVENE_TIMER_AHEAD_MS: int(100, 3_600_000).default(2_000),
  INTERVENE_TIMER_PROMOTE_INTERVAL_MS: int(10, 60_000).default(250),
  INTERVENE_DEADLINE_CONCURRENCY: int(1, 10_000).default(256),
  INTERVENE_NOTIFY_CONCURRENCY: int(1, 1_000).default(16),
  INTERVENE_LOCK_MS: int(1_000, 600_000).default(30_000),
  INTERVENE_STALLED_INTERVAL_MS: int(1_000, 600_000).default(30_000),
  INTERVENE_SWEEP_INTERVAL_MS: int(100, 600_000).default(1_000),
  INTERVENE_SWEEP_GRACE_MS: int(0, 3_600_000).default(5_000),
  INTERVENE_NOTIFY_ATTEMPTS: int(1, 100).default(12),
  INTERVENE_NOTIFY_BACKOFF_MS: int(10, 3_600_000).default(2_000),
  INTERVENE_WORKERS: z
    .string()
    .regex(
      /^(api|deadlines|notify|dispatcher|intake)(,(api|deadlines|notify|dispatcher|intake))*$/,
      'a comma-separated list of api, deadlines, notify, dispatcher, intake',
    )
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = Readonly<z.infer<typeof schema>> & { readonly env: Readonly<Record<string, string | undefined>> };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = fieldErrors(result.error.issues).map((e) => `  ${e.path}: ${e.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return Object.freeze({ ...result.data, env: Object.freeze({ ...env }) });
}
