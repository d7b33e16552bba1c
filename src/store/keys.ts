// Redis key layout. Every key of a case carries its partition's hash tag, so one commit script
// touches one Redis Cluster slot, and cases spread over the cluster's nodes by partition.

/** FNV-1a: a stable, cheap spread of case ids over partitions. */
export function partitionOf(caseId: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < caseId.length; i++) {
    hash ^= caseId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

export class Keys {
  readonly prefix: string;
  readonly partitions: number;

  constructor(prefix: string, partitions: number) {
    this.prefix = prefix;
    this.partitions = partitions;
  }

  tag(partition: number): string {
    return `${this.prefix}{p${partition}}`;
  }

  forCase(caseId: string) {
    const tag = this.tag(partitionOf(caseId, this.partitions));
    return {
      case: `${tag}:case:${caseId}`,
      audit: `${tag}:audit:${caseId}`,
      outbox: `${tag}:outbox`,
      idempotency: (scope: string) => `${tag}:idem:${scope}`,
      index: (name: string) => `${tag}:${name}`,
      delivery: (id: string) => `${tag}:delivery:${id}`,
    };
  }

  outbox(partition: number): string {
    return `${this.tag(partition)}:outbox`;
  }

  /** Armed wake-up timers of the partition's cases: member = job id, score = due time. */
  timers(partition: number): string {
    return `${this.tag(partition)}:timers`;
  }

  delivery(partition: number, id: string): string {
    return `${this.tag(partition)}:delivery:${id}`;
  }

  policy(contractId: string, version: number): string {
    return `${this.prefix}policy:${contractId}:${version}`;
  }

  /** Counters of the engine that are not per case (stale timers dropped, ...). */
  stats(): string {
    return `${this.prefix}stats`;
  }
}
