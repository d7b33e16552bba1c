import type { Logger } from 'pino';
import { NotFound } from '../domain/errors.ts';
import type { Policy } from '../policy/policy.ts';
import type { PolicyRegistry } from '../policy/registry.ts';
import { reportSettings } from '../policy/reports.ts';
import type { CaseStore } from '../store/case-store.ts';
import { ReportStore, type StoredReportRef } from '../store/report-store.ts';
import { reportCsv } from './csv.ts';
import { ReportFolder } from './folder.ts';
import { reportHtml } from './html.ts';
import {
  type DayRange,
  dayStart,
  eachDay,
  type PeriodKind,
  periodKindOf,
  precedingRange,
  previousPeriod,
} from './periods.ts';
import type { ReportFormat } from './query.ts';
import { buildReport } from './report.ts';
import type { Report } from './schema.ts';

export interface ReportsOptions {
  readonly store: CaseStore;
  readonly policies: PolicyRegistry;
  readonly log?: Logger;
  /** The time a report says it was generated (tests inject theirs). */
  readonly clock?: () => number;
  /** How long a report request may spend folding facts not yet counted before it renders. */
  readonly catchUpMs?: number;
}

/** Terms read per partition-day: enough that the listed themes are exact unless the tail was trimmed. */
const TERMS_READ = 200;

/** Renders and stores service-data reports (3.3, 5.2) from the incremental aggregates. */
export class Reports {
  readonly store: ReportStore;
  readonly folder: ReportFolder;
  readonly policies: PolicyRegistry;
  readonly #clock: () => number;
  readonly #catchUpMs: number;

  constructor(opts: ReportsOptions) {
    this.store = new ReportStore(opts.store.redis, opts.store.keys);
    this.policies = opts.policies;
    this.#clock = opts.clock ?? Date.now;
    this.#catchUpMs = opts.catchUpMs ?? 2_000;
    this.folder = new ReportFolder({
      store: this.store,
      policies: opts.policies,
      ...(opts.log ? { log: opts.log } : {}),
    });
  }

  #policy(contractId: string): Policy {
    try {
      return this.policies.current(contractId);
    } catch {
      throw new NotFound(`no policy is loaded for contract ${contractId}`);
    }
  }

  /** A report over local days `from`..`to` (both included), from the aggregates, after a short catch-up. */
  async render(contractId: string, range: DayRange, kind?: Report['period']['kind']): Promise<Report> {
    const policy = this.#policy(contractId);
    await this.folder.drain(this.#catchUpMs);
    const previousRange = precedingRange(range);
    const [current, previous, pendingFacts] = await Promise.all([
      this.store.readDays(contractId, eachDay(range), TERMS_READ),
      this.store.readDays(contractId, eachDay(previousRange), TERMS_READ),
      this.store.pending(),
    ]);
    return buildReport({
      policy,
      kind: kind ?? periodKindOf(range, reportSettings(policy).weekStart),
      range,
      previousRange,
      current,
      previous,
      generatedAt: this.#clock(),
      pendingFacts,
    });
  }

  /** The scheduled report of a period kind run at `at`: the last complete period, rendered and stored. */
  async produce(contractId: string, kind: PeriodKind, at: number): Promise<{ ref: StoredReportRef; report: Report }> {
    const policy = this.#policy(contractId);
    const settings = reportSettings(policy);
    const range = previousPeriod(kind, at, policy.timezone, settings.weekStart);
    const report = await this.render(contractId, range, kind);
    const ref = { contractId, period: kind, ...range };
    await this.store.save(
      ref,
      JSON.stringify(report),
      settings.retentionDays * 86_400,
      dayStart(range.from, policy.timezone),
    );
    return { ref, report };
  }

  async list(contractId: string, period: PeriodKind | undefined, limit: number): Promise<StoredReportRef[]> {
    return this.store.list(contractId, period, limit);
  }

  async load(contractId: string, period: PeriodKind, from: string): Promise<Report> {
    const json = await this.store.load({ contractId, period, from });
    if (!json) throw new NotFound(`no stored ${period} report of contract ${contractId} from ${from}`);
    return JSON.parse(json) as Report;
  }
}

export const MEDIA_TYPES: Record<ReportFormat, string> = {
  json: 'application/json; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  html: 'text/html; charset=utf-8',
};

/** A report in the asked format. */
export function formatReport(report: Report, format: ReportFormat): string {
  if (format === 'csv') return reportCsv(report);
  if (format === 'html') return reportHtml(report);
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** A file name for a report: `report-<contract>-<from>-<to>.<ext>`. */
export function reportFileName(report: Report, format: ReportFormat): string {
  return `report-${report.contract.id}-${report.period.from}-${report.period.to}.${format}`;
}
