import type { Redis } from 'ioredis';
import { type Policy, parsePolicy } from '../policy/policy.ts';
import type { Keys } from './keys.ts';

/**
 * Policies are written to Redis once per version, so a case stays readable under its pinned version
 * after the file is edited or removed, and a version cannot silently change content (invariant 7).
 */
export class PolicyStore {
  readonly #redis: Redis;
  readonly #keys: Keys;

  constructor(redis: Redis, keys: Keys) {
    this.#redis = redis;
    this.#keys = keys;
  }

  async pin(policy: Policy): Promise<void> {
    const key = this.#keys.policy(policy.contract.id, policy.contract.version);
    const created = await this.#redis.set(key, JSON.stringify({ document: policy.document }), 'NX');
    if (created === 'OK') return;
    const existing = await this.#redis.get(key);
    const pinned = existing ? parsePolicy(restore(existing), key) : undefined;
    if (pinned && pinned.digest !== policy.digest) {
      throw new Error(
        `policy ${policy.contract.id} version ${policy.contract.version} differs from the version already in use; ` +
          'give the edited policy a new contract.version (open cases stay on the version they were opened under)',
      );
    }
  }

  async load(contractId: string, version: number): Promise<Policy | undefined> {
    const text = await this.#redis.get(this.#keys.policy(contractId, version));
    return text ? parsePolicy(restore(text), `pinned policy ${contractId} v${version}`) : undefined;
  }
}

/** The stored form is `{ document }`; pins of the first format carried parsed deadlines instead. */
function restore(text: string): unknown {
  const parsed = JSON.parse(text) as { document?: unknown };
  if (parsed.document !== undefined) return parsed.document;
  const { digest: _digest, ...stored } = parsed as Policy;
  const deadlines = Object.fromEntries(
    Object.entries(stored.deadlines).map(([name, d]) => [name, { within: d.within, clause: d.clause, clock: d.clock }]),
  );
  return { ...stored, deadlines };
}
