import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config.ts';
import { DomainError, NotFound, ValidationError } from '../domain/errors.ts';
import { isDay } from '../reports/periods.ts';
import { type FieldNamer, parseFormat, parseReportQuery, parseStoredQuery } from '../reports/query.ts';
import { formatReport, Reports } from '../reports/reports.ts';
import type { Report } from '../reports/schema.ts';
import { EXIT, type Io, UsageError, type Values, withRuntime } from './command.ts';

// `intervene report`: a service-data report (3.3, 5.2) on demand, or a stored scheduled one (docs/reports.md).

export const REPORT_USAGE = `  intervene report --contract ID --from DATE --to DATE [--format json|csv|html] [--out FILE]
  intervene report --contract ID --scheduled daily|weekly|monthly --from DATE [--format F] [--out FILE]
  intervene report --contract ID --list [--period daily|weekly|monthly] [--limit N] [--json]`;

const HELP = `Usage:
${REPORT_USAGE}

A report over the local days --from to --to (both included, YYYY-MM-DD in the contract policy's time
zone), built from the incremental aggregates: volumes, deadline attainment and percentiles, breaches
(real and excused), escalations, coordination, fee adjustments, reopens, satisfaction, recurring themes
and improvement suggestions. No personal data.

  --contract ID        the contract (a loaded policy)
  --from DATE          first day, included
  --to DATE            last day, included (at most 366 days after --from)
  --format F           json (default), csv or html (a self-contained page with charts)
  --out FILE           write the report to FILE instead of standard output
  --scheduled PERIOD   print the stored scheduled report of that period starting at --from
  --list               list the stored scheduled reports of the contract, newest first
  --period PERIOD      with --list: only this period
  --limit N            with --list: at most N (default 50)
  --json               with --list: print JSON
  --config FILE        a YAML configuration file; the environment wins over it

Exit codes: 0 done; 1 unexpected failure; 2 bad usage or invalid input (each bad flag named); 4 not found.`;

const OPTIONS = {
  contract: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  scheduled: { type: 'string' },
  list: { type: 'boolean' },
  period: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Field names as flags: `contractId` is `--contract`. */
const flag: FieldNamer = (field) => (field === 'contractId' ? '--contract' : `--${field}`);

function emit(io: Io, values: Values, report: Report, format: ReturnType<typeof parseFormat>): void {
  const text = formatReport(report, format);
  const out = values.out as string | undefined;
  if (out === undefined) {
    io.out(text.replace(/\r?\n$/, ''));
    return;
  }
  writeFileSync(out, text);
  io.err(`report ${report.contract.id} ${report.period.from}..${report.period.to} written to ${out} (${format})`);
}

async function runReport(values: Values, io: Io): Promise<number> {
  if (values.list) {
    return withRuntime(values, async (rt) => {
      const q = parseStoredQuery(
        {
          contractId: values.contract,
          ...(values.period ? { period: values.period } : {}),
          ...(values.limit ? { limit: values.limit } : {}),
        },
        rt.policies,
        flag,
      );
      const items = await new Reports({ store: rt.store, policies: rt.policies }).list(q.contractId, q.period, q.limit);
      if (values.json) io.out(JSON.stringify({ items }, null, 2));
      else
        io.out(
          items.length === 0
            ? 'no stored reports'
            : items.map((r) => `${r.period.padEnd(8)} ${r.from} .. ${r.to}`).join('\n'),
        );
      return EXIT.ok;
    });
  }
  const format = parseFormat(values.format, flag);
  if (values.scheduled !== undefined) {
    return withRuntime(values, async (rt) => {
      const q = parseStoredQuery({ contractId: values.contract, period: values.scheduled }, rt.policies, (f) =>
        f === 'period' ? '--scheduled' : flag(f),
      );
      if (typeof values.from !== 'string' || !isDay(values.from)) {
        throw new ValidationError('invalid report request', [
          { path: '--from', message: 'a date YYYY-MM-DD: the first day of the stored period' },
        ]);
      }
      const report = await new Reports({ store: rt.store, policies: rt.policies }).load(
        q.contractId,
        q.period as 'daily' | 'weekly' | 'monthly',
        values.from,
      );
      emit(io, values, report, format);
      return EXIT.ok;
    });
  }
  return withRuntime(values, async (rt) => {
    const q = parseReportQuery(
      { contractId: values.contract, from: values.from, to: values.to, format },
      rt.policies,
      flag,
    );
    const report = await new Reports({ store: rt.store, policies: rt.policies, log: rt.log }).render(q.contractId, q);
    emit(io, values, report, format);
    return EXIT.ok;
  });
}

/** `intervene report …`: returns the exit code; errors name the flag and the rule on standard error. */
export async function reportCommand(argv: readonly string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      io.out(HELP);
      return EXIT.ok;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
    return await runReport(values as Values, io);
  } catch (error) {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    if (usage || error instanceof ConfigError) {
      io.err(`intervene report: ${(error as Error).message} (see intervene report --help)`);
      return EXIT.usage;
    }
    if (error instanceof DomainError) {
      io.err(`intervene report: ${error.message}${error.errors.map((e) => `\n  ${e.path}: ${e.message}`).join('')}`);
      if (error instanceof NotFound) return EXIT.notFound;
      return error instanceof ValidationError ? EXIT.usage : EXIT.failure;
    }
    io.err(`intervene report: ${(error as Error).message ?? String(error)}`);
    return EXIT.failure;
  }
}
