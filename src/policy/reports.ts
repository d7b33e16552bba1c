import '../domain/zod-messages.ts';
import { z } from 'zod';

// The optional `reports:` section of a contract policy (3.3, 5.2): which scheduled reports to produce,
// when, how long their data is kept, and the targets the improvement suggestions measure against.
export const REPORT_PERIODS = ['daily', 'weekly', 'monthly'] as const;

export const reportsPolicySchema = z.strictObject({
  enabled: z.boolean({ error: 'true or false' }).default(true),
  periods: z
    .array(z.enum(REPORT_PERIODS, { error: `one of ${REPORT_PERIODS.join(', ')}` }))
    .refine((list) => new Set(list).size === list.length, 'lists a period twice')
    .default([...REPORT_PERIODS]),
  at: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time HH:MM such as "00:30"')
    .default('00:30'),
  weekStart: z.enum(['monday', 'sunday'], { error: 'monday or sunday' }).default('monday'),
  retentionDays: z.number().int('an integer').min(35, 'at least 35').max(3660, 'at most 3660').default(400),
  targets: z
    .strictObject({
      attainment: z.number().gt(0, 'above 0').max(1, 'at most 1 (a share, e.g. 0.95)').default(0.95),
      satisfaction: z.number().min(1, 'at least 1').max(5, 'at most 5').default(4),
      reopenRate: z.number().min(0, 'at least 0').max(1, 'at most 1 (a share, e.g. 0.1)').default(0.1),
    })
    .prefault({}),
});

export type ReportsPolicy = z.infer<typeof reportsPolicySchema>;

const DEFAULTS = reportsPolicySchema.parse({});

/** A policy's report settings, the defaults where it has no `reports:` section. */
export function reportSettings(policy: { readonly reports?: ReportsPolicy | undefined }): ReportsPolicy {
  return policy.reports ?? DEFAULTS;
}
