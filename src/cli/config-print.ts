import { CONFIG_VARIABLES, type Config, type ConfigSource } from '../config.ts';
import { loadPolicyFiles } from '../policy/policy.ts';
import { type Command, configOf, print } from './command.ts';

// `intervene config print`: the effective configuration — every setting with its value and where it
// came from (environment, file, default) — with secrets hidden. Loading it validates it, so a bad value
// is reported here exactly as at start.

const HIDDEN = '********';
const SECRET_NAME = /SECRET|PASSWORD|TOKEN|_KEY$|DATA_KEYS$/;

/** A value as it may be shown: secrets hidden, and a password inside a URL replaced. */
export function shown(name: string, value: string): string {
  if (SECRET_NAME.test(name)) return HIDDEN;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    try {
      const url = new URL(value);
      if (url.password) {
        url.password = '****';
        return url.toString();
      }
    } catch {
      // not a URL after all: shown as it is
    }
  }
  return value;
}

interface Setting {
  readonly name: string;
  readonly value: string | number | null;
  readonly source: ConfigSource;
}

interface Secret {
  readonly name: string;
  readonly set: boolean;
  readonly source: 'env' | 'file' | null;
}

export function settingsOf(config: Config): Setting[] {
  return CONFIG_VARIABLES.map((name) => {
    const value = config[name];
    const source = config.sources[name] ?? 'default';
    return {
      name,
      value: value === undefined ? null : typeof value === 'number' ? value : shown(name, String(value)),
      source,
    };
  });
}

/** Every `secretEnv` a policy names, wherever its webhooks are (departments, notices, ...). */
function secretEnvNames(value: unknown, into: Set<string>): void {
  if (!value || typeof value !== 'object') return;
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'secretEnv' && typeof inner === 'string') into.add(inner);
    else secretEnvNames(inner, into);
  }
}

/** The webhook secrets the policies name (`secretEnv`): set or not, never their values. */
async function secretsOf(config: Config): Promise<{ secrets: Secret[]; note?: string }> {
  try {
    const names = new Set<string>();
    for (const p of await loadPolicyFiles(config.INTERVENE_POLICIES)) secretEnvNames(p, names);
    const secrets = [...names].sort().map((name) => {
      const set = Boolean(config.env[name]);
      return { name, set, source: set ? (config.sources[name] === 'file' ? 'file' : 'env') : null } as Secret;
    });
    return { secrets };
  } catch (error) {
    return { secrets: [], note: `the policies could not be read (${(error as Error).message})` };
  }
}

export const configPrint: Command = {
  usage: 'config print [--json] [--config FILE]',
  help: `Prints the effective configuration: every setting, its value and where it came from (env, file or
default), then the webhook secrets the policies name — set or unset, never their values. Secrets are
hidden: the password in REDIS_URL (or any URL), and any setting whose name contains SECRET, PASSWORD
or TOKEN or ends in _KEY or DATA_KEYS. The configuration is validated as at start.

  --config FILE   a YAML configuration file (docs/ops.md); the environment wins over it
  --json          JSON: { "file", "settings": [{ "name", "value", "source" }], "secrets": [{ "name", "set", "source" }] }

Exit codes: 0 printed; 2 the configuration is invalid (one line per bad value); 1 unexpected failure.`,
  options: { json: { type: 'boolean' }, config: { type: 'string' } },
  async run(values, _positionals, io) {
    const config = configOf(values);
    const settings = settingsOf(config);
    const { secrets, note } = await secretsOf(config);
    const width = Math.max(...settings.map((s) => `${s.name}=${s.value ?? ''}`.length), 20);
    print(io, values, { file: config.file ?? null, settings, secrets, ...(note ? { note } : {}) }, () =>
      [
        `# configuration file: ${config.file ?? 'none'} (environment wins over it)`,
        ...settings.map(
          (s) => `${`${s.name}=${s.value ?? ''}`.padEnd(width)}  # ${s.value === null ? 'unset' : s.source}`,
        ),
        '# webhook secrets named by the policies (values hidden)',
        ...secrets.map((s) =>
          s.set
            ? `${`${s.name}=${HIDDEN}`.padEnd(width)}  # ${s.source}`
            : `# ${s.name} unset: a development start generates it under INTERVENE_VAR_DIR`,
        ),
        ...(note ? [`# ${note}`] : []),
      ].join('\n'),
    );
    return 0;
  },
};
