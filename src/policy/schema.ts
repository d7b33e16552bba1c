import '../domain/zod-messages.ts';
import { z } from 'zod';
import { calendarSchema, timezoneSchema as timezone } from '../domain/calendar.ts';
import { parseDuration } from '../domain/duration.ts';
import { moneySchema } from '../domain/money.ts';
import { PAUSE_REASONS, REQUIRED_DEADLINES, ROLES, TRIGGERS } from '../domain/vocabulary.ts';
import { reportsPolicySchema } from './reports.ts';

// The contract policy: the agreement's blanks filled in for one main contract (one YAML file).
const name = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'lower-case letters, digits and "_", starting with a letter');
const deadlineName = z.string().regex(/^[a-z][A-Za-z0-9_]{0,63}$/, 'a deadline name such as firstResponse');
const clause = z.string().regex(/^\d+(\.\d+)*$/, 'a clause number of the agreement such as "3.1.3"');
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name such as INTERVENE_SECRET_LEGAL');

const duration = z.string().refine((text) => {
  const ms = parseDuration(text);
  return ms !== undefined && ms > 0;
}, 'not an ISO-8601 duration of weeks, days, hours, minutes or seconds (e.g. PT15M, P1D), greater than zero');

const webhook = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }),
  secretEnv: envName,
});

/** Fractions of a deadline's duration at which its owner is warned (e.g. 0.5, 0.75, 0.9). */
const fractions = z
  .array(z.number().gt(0, 'greater than 0').lt(1, 'less than 1'))
  .max(10, 'at most 10 warnings')
  .refine((list) => list.every((f, i) => i === 0 || f > (list[i - 1] as number)), 'in increasing order, each once');

const deadline = z.strictObject({
  within: duration,
  clause,
  clock: z
    .enum(['calendar', 'business'], { error: '"calendar" (wall time) or "business" (a calendar\'s working time)' })
    .default('calendar'),
  /** With `clock: business`: the calendar (a key of `calendars`). */
  calendar: name.optional(),
  /** Overrides `warnings.at` for this deadline; `[]` for none. */
  warnAt: fractions.optional(),
});

const roles = (what: string) =>
  z.array(z.enum(ROLES, { error: `one of ${ROLES.join(', ')}` })).min(1, `at least one role may ${what}`);

export const policySchema = z
  .strictObject({
    contract: z.strictObject({
      id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "_" or "-", 1 to 64 characters'),
      name: z.string().min(1, 'must not be empty'),
      version: z.number().int('an integer').positive('a positive integer'),
    }),
    timezone,
    channels: z.array(name).min(1, 'at least one channel (3.1.1)'),
    authority: z.strictObject({
      categories: z.array(name).min(1, 'at least one category (1.1–1.5)'),
      amountLimit: moneySchema,
    }),
    /** Business calendars (issue "clocks"): working windows, holidays, make-up days, in their own zone. */
    calendars: z.record(name, calendarSchema).default({}),
    deadlines: z.record(deadlineName, deadline),
    /** Warnings to the owner at these fractions of every deadline, once per arming. */
    warnings: z.strictObject({ at: fractions }).default({ at: [] }),
    /** 6.2: who may pause the clocks, per reason. `waiting_on_customer` pauses through REQUEST_INFO. */
    pauses: z
      .partialRecord(
        z.enum(PAUSE_REASONS.filter((r) => r !== 'waiting_on_customer') as [string, ...string[]]),
        roles('pause for this reason'),
      )
      .default({
        customer_caused: ['agent', 'supervisor'],
        force_majeure: ['supervisor', 'ops'],
        system_failure: ['supervisor', 'ops'],
      }),
    /** Who may move a due date by hand (with a reason and the clause); everyone else is refused. */
    dueDateOverride: z.strictObject({ roles: roles('move a due date') }).default({ roles: ['supervisor'] }),
    departments: z.record(
      name,
      z.strictObject({
        name: z.string().min(1, 'must not be empty'),
        webhook: webhook.optional(),
        fields: z.array(z.string().min(1)).optional(),
      }),
    ),
    escalation: z.strictObject({
      routes: z.partialRecord(z.enum(TRIGGERS), name),
      /** The rungs a missed deadline climbs, lowest first; default: the `deadline_missed` route alone. */
      ladder: z.array(name).min(1, 'at least one rung').optional(),
    }),
    notices: z
      .strictObject({
        /** The customer-service team's endpoint: deadline warnings while it owns the case. */
        owner: z.strictObject({ webhook }).optional(),
        customer: z
          .strictObject({
            webhook,
            locale: z.enum(['zh-CN', 'en'], { error: 'zh-CN or en (the shipped templates)' }).default('zh-CN'),
            templates: z
              .strictObject({
                escalated: z.string().min(1).optional(),
                coordinating: z.string().min(1).optional(),
                resolved: z.string().min(1).optional(),
              })
              .optional(),
          })
          .optional(),
      })
      .optional(),
    reports: reportsPolicySchema.optional(),
    // 4.2: how long a closed case keeps its personal data before the retention job erases it.
    retention: z.strictObject({ personalData: duration }).optional(),
  })
  .superRefine((policy, ctx) => {
    for (const required of REQUIRED_DEADLINES) {
      if (!(required in policy.deadlines)) {
        ctx.addIssue({ code: 'custom', path: ['deadlines', required], message: 'required by the agreement' });
      }
    }
    for (const trigger of TRIGGERS) {
      const route = policy.escalation.routes[trigger];
      if (route === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['escalation', 'routes', trigger],
          message: 'every trigger needs a route',
        });
      } else if (!(route in policy.departments)) {
        ctx.addIssue({
          code: 'custom',
          path: ['escalation', 'routes', trigger],
          message: `names department "${route}", which departments does not define`,
        });
      }
    }
    for (const [id, d] of Object.entries(policy.deadlines)) {
      if (d.clock === 'business') {
        if (d.calendar === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['deadlines', id, 'calendar'],
            message: 'a business clock names its calendar',
          });
        } else if (!(d.calendar in policy.calendars)) {
          ctx.addIssue({
            code: 'custom',
            path: ['deadlines', id, 'calendar'],
            message: `names calendar "${d.calendar}", which calendars does not define`,
          });
        }
        if (/[WD]/.test(d.within.split('T')[0] ?? '')) {
          ctx.addIssue({
            code: 'custom',
            path: ['deadlines', id, 'within'],
            message: 'a business clock counts working time: give hours, minutes or seconds (PT8H), not days or weeks',
          });
        }
      } else if (d.calendar !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['deadlines', id, 'calendar'],
          message: 'only a business clock uses a calendar',
        });
      }
    }
    for (const [i, rung] of (policy.escalation.ladder ?? []).entries()) {
      if (!(rung in policy.departments)) {
        ctx.addIssue({
          code: 'custom',
          path: ['escalation', 'ladder', i],
          message: `names department "${rung}", which departments does not define`,
        });
      }
    }
    if (new Set(policy.escalation.ladder).size !== (policy.escalation.ladder ?? []).length) {
      ctx.addIssue({ code: 'custom', path: ['escalation', 'ladder'], message: 'lists a department twice' });
    }
    // 4.1: a department that receives hand-offs says what it needs to know; nothing is sent by default.
    for (const [id, d] of Object.entries(policy.departments)) {
      if (d.webhook && d.fields === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['departments', id, 'fields'],
          message: 'a department with a webhook lists the fields it needs to know (4.1), e.g. [subject, customer.name]',
        });
      }
    }
    const categories = new Set(policy.authority.categories);
    if (categories.size !== policy.authority.categories.length) {
      ctx.addIssue({ code: 'custom', path: ['authority', 'categories'], message: 'lists a category twice' });
    }
  });

export type PolicyDocument = z.infer<typeof policySchema>;
