import { NotFound } from '../domain/errors.ts';
import type { Policy } from './policy.ts';

/** Every loaded version of every contract's policy. A case reads the version it is pinned to (invariant 7). */
export class PolicyRegistry {
  readonly #byContract = new Map<string, Map<number, Policy>>();

  constructor(policies: Iterable<Policy> = []) {
    for (const p of policies) this.add(p);
  }

  add(policy: Policy): void {
    const versions = this.#byContract.get(policy.contract.id) ?? new Map<number, Policy>();
    const existing = versions.get(policy.contract.version);
    if (existing && existing.digest !== policy.digest) {
      throw new Error(
        `contract ${policy.contract.id} version ${policy.contract.version} is loaded twice with different content`,
      );
    }
    versions.set(policy.contract.version, policy);
    this.#byContract.set(policy.contract.id, versions);
  }

  /** The version new cases of this contract open under: the highest loaded. */
  current(contractId: string): Policy {
    const versions = this.#byContract.get(contractId);
    if (!versions) throw new NotFound(`no policy is loaded for contract ${contractId}`);
    return versions.get(Math.max(...versions.keys())) as Policy;
  }

  find(contractId: string, version: number): Policy | undefined {
    return this.#byContract.get(contractId)?.get(version);
  }

  all(): Policy[] {
    return [...this.#byContract.values()].flatMap((versions) => [...versions.values()]);
  }
}
