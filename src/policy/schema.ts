import '../domain/zod-messages.ts';
import { z } from 'zod';
import { parseDuration } from '../domain/duration.ts';
import { moneySchema } from '../domain/money.ts';
import { REQUIRED_DEADLINES, TRIGGERS } from '../domain/vocabulary.ts';

// The contract policy: the agreement's blanks filled in for one main contract (one YAML file).
const name = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'lower-case letters, digits and "_", starting with a letter');
const deadlineName = z.string().regex(/^[a-z][A-Za-z0-9_]{0,63}$/, 'a deadline name such as firstResponse');
const clause = z.string().regex(/^\d+(\.\d+)*$/, 'a clause number of the agreement such as "3.1.3"');
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name such as INTERVENE_SECRET_LEGAL');

const duration = z.string().refine((text) => {
  const ms = parseDuration(text);
  return ms !== undefined && ms > 0;
}, 'not an ISO-8601 duration of weeks, days, hours, minutes or seconds (e.g. PT15M, P1D), greater than zero');

const timezone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'not an IANA time zone such as Asia/Shanghai');

const webhook = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }),
  secretEnv: envName,
});

const deadline = z.strictObject({
  within: duration,
  clause,
  clock: z.literal('calendar', { error: 'only "calendar" clocks are supported by this version' }).default('calendar'),
});

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
    deadlines: z.record(deadlineName, deadline),
    departments: z.record(
      name,
      z.strictObject({
        name: z.string().min(1, 'must not be empty'),
        webhook: webhook.optional(),
        fields: z.array(z.string().min(1)).optional(),
      }),
    ),
    escalation: z.strictObject({ routes: z.partialRecord(z.enum(TRIGGERS), name) }),
    notices: z
      .strictObject({
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
    const categories = new Set(policy.authority.categories);
    if (categories.size !== policy.authority.categories.length) {
      ctx.addIssue({ code: 'custom', path: ['authority', 'categories'], message: 'lists a category twice' });
    }
  });

export type PolicyDocument = z.infer<typeof policySchema>;
