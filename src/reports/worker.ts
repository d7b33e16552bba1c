import { type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { PolicyRegistry } from '../policy/registry.ts';
import { reportSettings } from '../policy/reports.ts';
import type { ReportFolder } from './folder.ts';
import type { PeriodKind } from './periods.ts';
import type { Reports } from './reports.ts';

// The `reports` worker: folds the facts streams into the aggregates every second, and runs the BullMQ job
// schedulers that produce each contract's daily, weekly and monthly report (policy `reports:`) and store it.

export const REPORTS_QUEUE = 'reports';

/** A scheduled report job: ids only, no personal data. */
export interface ReportJob {
  readonly contractId: string;
  readonly period: PeriodKind;
}

export function createReportsQueue(connection: Redis, prefix: string): Queue<ReportJob> {
  return new Queue<ReportJob>(REPORTS_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      removeOnComplete: { count: 200 },
      removeOnFail: { age: 30 * 86_400 },
      attempts: 5,
      backoff: { type: 'exponential', delay: 10_000 },
    },
  });
}

/** The cron pattern of a period kind at a local time `HH:MM` (the scheduler runs it in the policy's zone). */
export function cronFor(kind: PeriodKind, at: string, weekStart: 'monday' | 'sunday'): string {
  const [hour, minute] = at.split(':').map(Number);
  if (kind === 'daily') return `${minute} ${hour} * * *`;
  if (kind === 'weekly') return `${minute} ${hour} * * ${weekStart === 'monday' ? 1 : 0}`;
  return `${minute} ${hour} 1 * *`;
}

export const schedulerId = (contractId: string, kind: PeriodKind) => `report.${contractId}.${kind}`;

/**
 * Upserts one job scheduler per contract and configured period, in the policy's time zone, and removes
 * the schedulers of periods a loaded contract no longer asks for. Safe from any number of processes.
 */
export async function scheduleReports(
  queue: Queue<ReportJob>,
  policies: PolicyRegistry,
  opts: { immediately?: boolean } = {},
): Promise<string[]> {
  const contracts = [...new Set(policies.all().map((p) => p.contract.id))];
  const wanted = new Set<string>();
  for (const contractId of contracts) {
    const policy = policies.current(contractId);
    const settings = reportSettings(policy);
    if (!settings.enabled) continue;
    for (const period of settings.periods) {
      const id = schedulerId(contractId, period);
      wanted.add(id);
      await queue.upsertJobScheduler(
        id,
        {
          pattern: cronFor(period, settings.at, settings.weekStart),
          tz: policy.timezone,
          ...(opts.immediately ? { immediately: true } : {}),
        },
        { name: 'report', data: { contractId, period } },
      );
    }
  }
  for (const s of await queue.getJobSchedulers(0, -1)) {
    const id = s.key;
    const contract = contracts.find((c) => id.startsWith(`report.${c}.`));
    if (contract && !wanted.has(id)) await queue.removeJobScheduler(id);
  }
  return [...wanted].sort();
}

/** The reports worker: its close also stops the fold loop and the scheduler's queue handle. */
export class ReportsWorker extends Worker<ReportJob> {
  #folder: ReportFolder | undefined;
  #queue: Queue<ReportJob> | undefined;
  #queueConnection: Redis | undefined;

  attach(folder: ReportFolder, queue: Queue<ReportJob>, queueConnection: Redis): void {
    this.#folder = folder;
    this.#queue = queue;
    this.#queueConnection = queueConnection;
  }

  override async close(force?: boolean): Promise<void> {
    await this.#folder?.stop();
    await super.close(force);
    await this.#queue?.close();
    this.#queueConnection?.disconnect();
  }
}

export interface ReportsWorkerOptions {
  readonly connection: Redis;
  readonly prefix: string;
  readonly reports: Reports;
  readonly policies: PolicyRegistry;
  readonly log?: Logger;
  readonly foldIntervalMs?: number;
  /** Run each scheduler once at start (tests, or a first report right after deployment). */
  readonly immediately?: boolean;
}

export function startReportsWorker(opts: ReportsWorkerOptions): ReportsWorker {
  const { reports, log } = opts;
  const worker = new ReportsWorker(
    REPORTS_QUEUE,
    async (job: Job<ReportJob>) => {
      // The scheduler's own time for this run: a late run still reports the period it was due for.
      const at = job.opts.prevMillis ?? job.timestamp;
      const { ref, report } = await reports.produce(job.data.contractId, job.data.period, at);
      log?.info({ ...ref, suggestions: report.suggestions.length }, 'report stored');
      return ref;
    },
    { connection: opts.connection, prefix: opts.prefix, concurrency: 2 },
  );
  const queueConnection = opts.connection.duplicate();
  const queue = createReportsQueue(queueConnection, opts.prefix);
  queue.on('error', (err) => log?.warn({ err: err.message, queue: REPORTS_QUEUE }, 'queue connection error'));
  worker.attach(reports.folder, queue, queueConnection);
  reports.folder.start(opts.foldIntervalMs ?? 1_000);
  scheduleReports(queue, opts.policies, opts.immediately ? { immediately: true } : {}).then(
    (ids) => log?.info({ schedulers: ids }, 'report schedulers upserted'),
    (error: unknown) => log?.error({ err: (error as Error).message }, 'report schedulers could not be upserted'),
  );
  return worker;
}
