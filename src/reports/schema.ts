import '../domain/zod-messages.ts';
import { z } from 'zod';

// The report document (JSON), schema `intervene.report/v1`. Stable: fields are only ever added; a change
// of meaning gets a new schema name. Documented field by field in docs/reports.md and in the OpenAPI
// document, which is generated from these schemas.

export const REPORT_SCHEMA = 'intervene.report/v1';

const day = z.string().describe('a local day YYYY-MM-DD in the policy time zone');
const count = z.number().int().min(0);
/** A share from 0 to 1; null when there is nothing to divide by. */
const share = z.number().min(0).nullable();
const ms = z.number().int().min(0).nullable().describe('milliseconds; null when there is no data');

export const turnaroundSchema = z.object({
  count,
  meanMs: ms,
  p50Ms: ms,
  p90Ms: ms,
  p99Ms: ms,
  histogram: z
    .array(z.object({ leMs: z.number().int().nullable().describe('bucket upper bound; null: above 30 days'), count }))
    .describe('non-empty buckets only'),
});

export const reportSchema = z.object({
  schema: z.literal(REPORT_SCHEMA),
  contract: z.object({ id: z.string(), name: z.string(), version: z.number().int() }),
  timezone: z.string(),
  period: z.object({
    kind: z.enum(['daily', 'weekly', 'monthly', 'custom']),
    from: day,
    to: day,
    days: z.number().int().min(1),
    start: z.string().describe('ISO-8601 instant the first day begins'),
    end: z.string().describe('ISO-8601 instant after the last day (exclusive)'),
  }),
  previousPeriod: z.object({ from: day, to: day }),
  generatedAt: z.string(),
  pendingFacts: count.describe('events committed but not yet folded into the figures when the report was made'),
  volume: z.object({
    opened: count,
    previous: count,
    byCategory: z.array(z.object({ category: z.string(), count, previous: count })),
    byChannel: z.array(z.object({ channel: z.string(), count, previous: count })),
    byState: z.array(
      z.object({
        state: z.string(),
        current: count.describe('cases opened in the period that are in this state now'),
        entered: count.describe('transitions into this state during the period'),
      }),
    ),
    events: z.array(z.object({ type: z.string(), count })),
  }),
  deadlines: z.array(
    z.object({
      name: z.string(),
      clause: z.string(),
      met: count,
      breached: count.describe('real breaches (not excused)'),
      excused: count,
      cancelled: count,
      attainment: share.describe('met / (met + real breaches)'),
      previousAttainment: share,
      turnaround: turnaroundSchema,
    }),
  ),
  breaches: z.object({
    real: count,
    excused: count,
    byDeadline: z.array(z.object({ deadline: z.string(), clause: z.string(), real: count, excused: count })),
  }),
  escalations: z.object({
    escalatedCases: count.describe('cases opened in the period that were escalated'),
    rate: share,
    previousRate: share,
    byTrigger: z.array(z.object({ trigger: z.string(), cases: count, rate: share, handoffs: count })),
    handoffs: count,
    byRoute: z.array(z.object({ trigger: z.string(), department: z.string(), handoffs: count })),
    byLevel: z.array(z.object({ level: z.number().int(), handoffs: count })),
    beyondAuthority: z.array(z.object({ category: z.string(), escalations: count, aboveLimit: count })),
    handoffTurnaround: z.array(turnaroundSchema.extend({ department: z.string(), breached: count })),
  }),
  coordination: z.object({
    requests: count,
    replies: count,
    turnaround: z.array(turnaroundSchema.extend({ department: z.string(), breached: count })),
  }),
  adjustments: z.object({
    count,
    totals: z.array(z.object({ currency: z.string(), count, amount: z.string().describe('decimal string') })),
    byRole: z.array(z.object({ role: z.string(), currency: z.string(), count, amount: z.string() })),
  }),
  reopens: z.object({ reopened: count, resolved: count, rate: share }),
  satisfaction: z.object({
    responses: count,
    average: z.number().nullable(),
    previousAverage: z.number().nullable(),
    distribution: z.array(z.object({ score: z.number().int().min(1).max(5), count })),
    comments: count,
  }),
  themes: z.array(
    z.object({
      term: z.string(),
      count,
      previous: count,
      change: z.number().int(),
      trend: z.enum(['new', 'up', 'down', 'same']),
    }),
  ),
  suggestions: z.array(
    z.object({
      rule: z.string().describe('id of the rule that produced the suggestion'),
      when: z.string().describe('the rule, in words'),
      clause: z.string(),
      text: z.string(),
      figures: z.record(z.string(), z.union([z.number(), z.string()])),
    }),
  ),
});

export type Report = z.infer<typeof reportSchema>;
export type Turnaround = z.infer<typeof turnaroundSchema>;
export type Suggestion = Report['suggestions'][number];

export const storedReportSchema = z.object({
  contractId: z.string(),
  period: z.enum(['daily', 'weekly', 'monthly']),
  from: day,
  to: day,
});
