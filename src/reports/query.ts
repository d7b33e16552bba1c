import '../domain/zod-messages.ts';
import { z } from 'zod';
import { type FieldError, fieldErrors, ValidationError } from '../domain/errors.ts';
import type { PolicyRegistry } from '../policy/registry.ts';
import { dayCount, isDay } from './periods.ts';

// What a caller may ask for: a contract, a range of local days (both included) and a format. Parsed once
// at the edge (HTTP query or CLI flags); every error names the field and the rule.

export const REPORT_FORMATS = ['json', 'csv', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];
/** The longest range one report covers. */
export const MAX_DAYS = 366;

const day = z.string().refine(isDay, 'a date YYYY-MM-DD (a local day in the contract policy time zone)');

export const reportQuerySchema = z.strictObject({
  contractId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a contract id: letters, digits, "_" or "-"'),
  from: day.describe('first day of the period, YYYY-MM-DD, included'),
  to: day.describe('last day of the period, YYYY-MM-DD, included'),
  format: z.enum(REPORT_FORMATS, { error: `one of ${REPORT_FORMATS.join(', ')}` }).default('json'),
});

export const storedQuerySchema = z.strictObject({
  contractId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a contract id: letters, digits, "_" or "-"'),
  period: z.enum(['daily', 'weekly', 'monthly'], { error: 'daily, weekly or monthly' }).optional(),
  limit: z.coerce.number().int('an integer').min(1, 'at least 1').max(500, 'at most 500').default(50),
});

export type ReportQuery = z.infer<typeof reportQuerySchema>;

/** Field names as the caller wrote them: `query.from` over HTTP, `--from` on the command line. */
export type FieldNamer = (field: string) => string;
export const queryField: FieldNamer = (field) => `query.${field}`;

function fail(errors: FieldError[]): never {
  throw new ValidationError('invalid report request', errors);
}

function parse<S extends z.ZodType>(schema: S, input: unknown, name: FieldNamer): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    const errors: FieldError[] = [];
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) errors.push({ path: name(key), message: 'unknown parameter' });
      } else {
        for (const e of fieldErrors([issue]))
          errors.push({ path: e.path === '(root)' ? e.path : name(e.path), message: e.message });
      }
    }
    fail(errors);
  }
  return result.data;
}

/** Checks that a policy is loaded for the contract (a report is built in its time zone). */
export function assertContract(policies: PolicyRegistry, contractId: string, name: FieldNamer): void {
  if (!policies.all().some((p) => p.contract.id === contractId)) {
    fail([{ path: name('contractId'), message: `no policy is loaded for contract ${contractId}` }]);
  }
}

export function parseReportQuery(input: unknown, policies: PolicyRegistry, name: FieldNamer = queryField): ReportQuery {
  const q = parse(reportQuerySchema, input, name);
  if (q.to < q.from) fail([{ path: name('to'), message: `must be on or after from (${q.from})` }]);
  if (dayCount(q) > MAX_DAYS) fail([{ path: name('to'), message: `at most ${MAX_DAYS} days after from` }]);
  assertContract(policies, q.contractId, name);
  return q;
}

export function parseStoredQuery(input: unknown, policies: PolicyRegistry, name: FieldNamer = queryField) {
  const q = parse(storedQuerySchema, input, name);
  assertContract(policies, q.contractId, name);
  return q;
}

export function parseFormat(input: unknown, name: FieldNamer = queryField): ReportFormat {
  return parse(reportQuerySchema.pick({ format: true }), { format: input }, name).format;
}
