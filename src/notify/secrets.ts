import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parse, stringify } from 'yaml';
import type { Policy } from '../policy/policy.ts';
import { generateSecret } from './sign.ts';

/**
 * Webhook secrets come from the environment variables the policy names (`secretEnv`). A development
 * start without them generates secrets into `<var>/webhook-secrets.yaml`, once, and says so.
 */
export function resolveSecrets(
  policies: readonly Policy[],
  env: Readonly<Record<string, string | undefined>>,
  varDir: string,
  log?: Logger,
): ReadonlyMap<string, string> {
  const names = new Set<string>();
  for (const p of policies) {
    for (const d of Object.values(p.departments)) if (d.webhook) names.add(d.webhook.secretEnv);
    if (p.notices?.customer) names.add(p.notices.customer.webhook.secretEnv);
  }
  const file = join(varDir, 'webhook-secrets.yaml');
  const generated: Record<string, string> = existsSync(file)
    ? ((parse(readFileSync(file, 'utf8')) as Record<string, string>) ?? {})
    : {};
  const secrets = new Map<string, string>();
  const made: string[] = [];
  for (const name of names) {
    const value = env[name] || generated[name];
    if (value && !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(value)) {
      throw new Error(`${name}: a webhook secret is written whsec_<base64>`);
    }
    if (value) {
      secrets.set(name, value);
      continue;
    }
    const secret = generateSecret();
    generated[name] = secret;
    secrets.set(name, secret);
    made.push(name);
  }
  if (made.length > 0) {
    mkdirSync(varDir, { recursive: true });
    writeFileSync(file, stringify(generated), { mode: 0o600 });
    log?.warn(
      { file, variables: made },
      'webhook secrets generated for development; set these variables in production',
    );
  }
  return secrets;
}
