import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import type { Policy } from '../../src/policy/policy.ts';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { decodeRecord } from '../../src/store/record.ts';
import { openCase, testPolicy } from '../support/policy.ts';
import { dropPrefix, redisUrl } from '../support/runtime.ts';

// Shared by the privacy tests: runtimes on a chosen prefix and data keys, canary values, a log sink,
// and a dump of every Redis key as text.

export const dataKey = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;

/** Unique personal values: if any of them shows up anywhere it must not, the test names where. */
export function canaries() {
  const tag = randomUUID().replaceAll('-', '').slice(0, 10);
  const digits = String(Math.floor(1e7 + Math.random() * 9e7));
  return {
    name: `金丝雀${tag}`,
    phone: `+86 139 ${digits.slice(0, 4)} ${digits.slice(4, 8)}`,
    phoneDigits: `139${digits.slice(0, 8)}`,
    email: `canary.${tag}@example.com`,
    subject: `canary-subject-${tag}`,
    description: `canary-description-${tag} 客户的病历 ${tag}`,
    message: `canary-message-${tag}`,
    judgment: `canary-judgment-${tag}`,
    comment: `canary-comment-${tag}`,
    customerId: `canary-cust-${tag}`,
  };
}

/** An opening body carrying every personal canary: customer id, name, phone, e-mail, subject, description. */
export function canaryOpening(c: Canaries) {
  return openCase({
    customer: { id: c.customerId, name: c.name, phone: c.phone, email: c.email },
    subject: c.subject,
    description: c.description,
  });
}
export type Canaries = ReturnType<typeof canaries>;

/** The strings that must never appear in clear (the customer id excepted: it is a pseudonymous reference). */
export function secretsOf(c: Canaries): string[] {
  return [c.name, c.phone, c.phoneDigits, c.email, c.subject, c.description, c.message, c.judgment, c.comment];
}

/** The canaries found in a text: as written, without spaces or dashes, or percent-encoded (a URL echoed). */
export function leaks(text: string, c: Canaries): string[] {
  let decoded = text;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    decoded = text.replace(/(%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
  const forms = [text, decoded].flatMap((t) => [t, t.replace(/[\s-]/g, '')]);
  return secretsOf(c).filter((s) => forms.some((f) => f.includes(s) || f.includes(s.replace(/[\s-]/g, ''))));
}

/** Every log line, as written. */
export function logSink(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  let partial = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = partial + chunk.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts.filter((l) => l.length > 0));
      done();
    },
  });
  return { stream, lines };
}

export interface RuntimeSpec {
  readonly prefix?: string;
  readonly dataKeys?: string;
  readonly keyId?: string;
  readonly policies?: Policy[];
  readonly env?: Record<string, string>;
  readonly log?: { stream: Writable; level?: string };
  readonly varDir?: string;
}

/** A runtime on a chosen key prefix (several runtimes may share one, as processes do). */
export async function privacyRuntime(spec: RuntimeSpec = {}): Promise<Runtime> {
  const prefix = spec.prefix ?? `p${randomUUID().slice(0, 8)}`;
  const config = loadConfig({
    INTERVENE_PREFIX: `${prefix}:`,
    INTERVENE_QUEUE_PREFIX: `${prefix}-bull`,
    INTERVENE_PARTITIONS: '4',
    INTERVENE_VAR_DIR: spec.varDir ?? join(tmpdir(), `intervene-privacy-${prefix}-${randomUUID().slice(0, 4)}`),
    INTERVENE_SWEEP_INTERVAL_MS: '200',
    LOG_LEVEL: spec.log?.level ?? 'silent',
    ...(spec.dataKeys ? { INTERVENE_DATA_KEYS: spec.dataKeys } : {}),
    ...(spec.keyId ? { INTERVENE_DATA_KEY_ID: spec.keyId } : {}),
    ...spec.env,
  });
  const log = createLogger(spec.log?.level ?? 'silent', spec.log?.stream);
  return createRuntime(config, log, { redisUrl: redisUrl(), policies: spec.policies ?? [testPolicy()] });
}

/** Closes a runtime and deletes its keys: cases, queues and the access log. */
export async function closePrivacyRuntime(rt: Runtime, opts: { keepKeys?: boolean } = {}): Promise<void> {
  await rt.close();
  rmSync(rt.config.INTERVENE_VAR_DIR, { recursive: true, force: true });
  if (opts.keepKeys) return;
  await dropPrefix(redisUrl(), rt.config.INTERVENE_PREFIX);
  await dropPrefix(redisUrl(), rt.config.INTERVENE_QUEUE_PREFIX);
  await dropPrefix(redisUrl(), rt.access.prefix);
}

/** Every key matching the patterns, with its whole content as text, whatever its type. */
export async function dumpKeys(redis: Redis, patterns: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const pattern of patterns) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) out.set(key, await dumpKey(redis, key));
    } while (cursor !== '0');
  }
  return out;
}

export async function dumpKey(redis: Redis, key: string): Promise<string> {
  const type = await redis.type(key);
  switch (type) {
    case 'string': {
      // A case record's snapshot is compressed (src/store/record.ts): scan what it holds, not its bytes.
      const raw = (await redis.getBuffer(key)) ?? Buffer.alloc(0);
      if (/:case:[^:]+$/.test(key)) {
        const { version, json } = decodeRecord(raw);
        return `${version}\n${json}`;
      }
      return raw.toString('utf8');
    }
    case 'list':
      return (await redis.lrange(key, 0, -1)).join('\n');
    case 'hash':
      return JSON.stringify(await redis.hgetall(key));
    case 'set':
      return (await redis.smembers(key)).join('\n');
    case 'zset':
      return (await redis.zrange(key, '0', '-1', 'WITHSCORES')).join('\n');
    case 'stream':
      return JSON.stringify(await redis.xrange(key, '-', '+'));
    default:
      return '';
  }
}
