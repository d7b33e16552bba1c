import './domain/zod-messages.ts';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { fieldErrors } from './domain/errors.ts';

// The one module that reads the environment (STYLE.md rule 5). Validated once, frozen.
const int = (min: number, max: number) =>
  z.coerce.number().int('an integer').min(min, `at least ${min}`).max(max, `at most ${max}`);

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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
  /** 4.2: data keys for encryption at rest, `<id>:<base64 of 32 bytes>,...` (docs/privacy.md). */
  INTERVENE_DATA_KEYS: z
    .string()
    .regex(
      /^[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/]{43}=(,[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/]{43}=)*$/,
      'a comma-separated list of <id>:<base64 of 32 bytes>, e.g. k1:...=,k2:...=',
    )
    .optional(),
  INTERVENE_DATA_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'the id of one INTERVENE_DATA_KEYS entry')
    .optional(),
  /** The access log and rate-limit counters; default: the case prefix without its ':' and '-access:'. */
  INTERVENE_ACCESS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:.{}-]+$/, 'letters, digits, ":", ".", "{", "}", "_" or "-"')
    .optional(),
  INTERVENE_RATE_LIMIT: int(0, 1_000_000).default(100),
  INTERVENE_RATE_LIMIT_SERVICE: int(0, 1_000_000).default(0),
  /** 4.2: accept intake jobs whose body is not sealed to the intake key (docs/privacy.md, "Queues"). */
  INTERVENE_INTAKE_ACCEPT_CLEAR: z
    .enum(['true', 'false'], { error: 'true or false' })
    .default('false')
    .transform((v) => v === 'true'),
  INTERVENE_RETENTION_INTERVAL_MS: int(1_000, 86_400_000).default(3_600_000),
  INTERVENE_WORKERS: z
    .string()
    .regex(
      /^(api|deadlines|notify|dispatcher|intake|reports)(,(api|deadlines|notify|dispatcher|intake|reports))*$/,
      'a comma-separated list of api, deadlines, notify, dispatcher, intake, reports',
    )
    .optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  /** Graceful stop: how long SIGTERM waits for in-flight requests and jobs before cutting them off. */
  INTERVENE_GRACE_MS: int(100, 600_000).default(30_000),
  /** An optional YAML file of these same settings; the environment wins over it. */
  INTERVENE_CONFIG: z.string().min(1).optional(),
});

/** The settings Intervene reads, in the order they are documented. */
export const CONFIG_VARIABLES = Object.keys(schema.shape) as readonly (keyof typeof schema.shape)[];

/** Where an effective value came from. */
export type ConfigSource = 'env' | 'file' | 'flag' | 'default';

export type Config = Readonly<z.infer<typeof schema>> & {
  /** The environment merged over the configuration file: also where policies' `secretEnv` secrets are read. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The configuration file read, if any. */
  readonly file?: string;
  /** Where each set variable came from (absent: the default). */
  readonly sources: Readonly<Record<string, ConfigSource>>;
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Validates the configuration once, at start: the environment, over an optional YAML file of the same
 * names (`INTERVENE_CONFIG`, or `file` from the CLI's `--config`). Every bad value is one line: the
 * variable, where it came from, and the rule.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  opts: { file?: string } = {},
): Config {
  const file = opts.file ?? (env.INTERVENE_CONFIG || undefined);
  const { values: fromFile, errors } = file ? readConfigFile(file) : { values: {}, errors: [] };
  const merged: Record<string, string | undefined> = { ...fromFile };
  const sources: Record<string, ConfigSource> = {};
  for (const name of Object.keys(fromFile)) sources[name] = 'file';
  for (const [name, value] of Object.entries(env)) {
    // An empty variable (e.g. compose's `${X:-}`) is unset: it neither blanks a value the file sets nor
    // fails a rule (an empty INTERVENE_KEYS means the development keys, as when it is absent).
    if (value === undefined || value === '') continue;
    merged[name] = value;
    sources[name] = 'env';
  }
  if (file) {
    merged.INTERVENE_CONFIG = file;
    sources.INTERVENE_CONFIG = opts.file ? 'flag' : 'env';
  }
  const result = schema.safeParse(merged);
  const lines = [
    ...errors.map((e) => `  ${e}`),
    ...(result.success ? [] : fieldErrors(result.error.issues)).map(
      (e) => `  ${e.path}${sources[e.path] === 'file' ? ` (in ${file})` : ''}: ${e.message}`,
    ),
  ];
  if (!result.success || lines.length > 0) throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  return Object.freeze({
    ...result.data,
    env: Object.freeze(merged),
    ...(file ? { file } : {}),
    sources: Object.freeze(sources),
  });
}

/**
 * The configuration file: a YAML mapping of the same names as the environment variables, with single
 * values. Webhook secrets (`secretEnv` names containing `SECRET`) may be given there too; any other
 * unknown name is refused, so a misspelt setting never passes silently.
 */
function readConfigFile(file: string): { values: Record<string, string>; errors: string[] } {
  const fail = (rule: string) => ({ values: {}, errors: [`INTERVENE_CONFIG (${file}): ${rule}`] });
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return fail(`cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    return fail(`not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (document === null || document === undefined) return { values: {}, errors: [] };
  if (typeof document !== 'object' || Array.isArray(document)) {
    return fail('must be a mapping of setting names to values, e.g. INTERVENE_PARTITIONS: 16');
  }
  const known = new Set<string>(CONFIG_VARIABLES);
  const values: Record<string, string> = {};
  const errors: string[] = [];
  for (const [name, value] of Object.entries(document)) {
    const where = `${name} (in ${file})`;
    if (name === 'INTERVENE_CONFIG') errors.push(`${where}: cannot be set inside the configuration file`);
    else if (!known.has(name) && !name.includes('SECRET')) {
      errors.push(`${where}: not a setting Intervene knows (see docs/ops.md, "Configuration")`);
    } else if (value === null || !['string', 'number', 'boolean'].includes(typeof value)) {
      errors.push(`${where}: must be a single value (a string, a number or true/false)`);
    } else values[name] = String(value);
  }
  return { values, errors };
}
