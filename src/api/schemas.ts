import { z } from 'zod';
import { moneySchema } from '../domain/money.ts';
import { CASE_STATES, DEADLINE_STATUSES, PAUSE_REASONS, ROLES, TRIGGERS } from '../domain/vocabulary.ts';

// Response shapes, documented in the OpenAPI document and checked against real responses in tests.
const iso = z.string().describe('ISO-8601 time');

export const caseViewSchema = z.object({
  id: z.string(),
  contractId: z.string(),
  policyVersion: z.number().int(),
  state: z.enum(CASE_STATES),
  version: z.number().int(),
  category: z.string(),
  channel: z.string(),
  customer: z.object({
    id: z.string(),
    name: z.string().optional(),
    phone: z.string().optional(),
    email: z.string().optional(),
  }),
  subject: z.string(),
  amount: moneySchema.optional(),
  externalRef: z.string().optional(),
  flags: z.array(z.enum(TRIGGERS)),
  deadlines: z.array(
    z.object({
      name: z.string(),
      status: z.enum(DEADLINE_STATUSES),
      dueAt: iso.nullable(),
      remainingMs: z.number().int().optional(),
      clause: z.string().nullable(),
      epoch: z.number().int(),
      calendar: z.string().optional(),
    }),
  ),
  pauses: z.array(
    z.object({ reason: z.enum(PAUSE_REASONS), clause: z.string(), since: iso, outage: z.string().optional() }),
  ),
  escalation: z
    .object({
      trigger: z.enum(TRIGGERS),
      department: z.string(),
      level: z.number().int(),
      handoff: z.enum(['pending', 'delivered', 'accepted', 'resolved']),
      delivery: z.enum(['pending', 'retrying', 'delivered', 'dead', 'no_endpoint', 'erased']).optional(),
      clause: z.string(),
      at: iso.nullable(),
    })
    .nullable(),
  coordination: z.object({ department: z.string(), replied: z.boolean() }).nullable(),
  resolution: z
    .object({ by: z.enum(['cs', 'department']), adjustment: moneySchema.optional(), at: iso.nullable() })
    .nullable(),
  survey: z.object({ score: z.number().int(), at: iso.nullable() }).nullable(),
  createdAt: iso.nullable(),
  updatedAt: iso.nullable(),
});

export const auditEntrySchema = z.object({
  v: z.number().int(),
  at: iso,
  actor: z.object({ name: z.string(), role: z.enum([...ROLES, 'system']), department: z.string().optional() }),
  event: z.string(),
  from: z.string().nullable(),
  to: z.string(),
  clause: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
  effects: z.array(z.string()).optional(),
  /** Each deadline clock the event changed, as it stands after the event (what `why` folds). */
  clocks: z
    .array(
      z.object({
        name: z.string(),
        status: z.enum(DEADLINE_STATUSES),
        epoch: z.number().int(),
        dueAt: iso,
        calendar: z.string().optional(),
        remainingMs: z.number().int().optional(),
        warned: z.number().int().optional(),
        lateMs: z.number().int().optional(),
        excusedBy: z.string().optional(),
      }),
    )
    .optional(),
});

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  clause: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

export const contractSchema = z.object({
  id: z.string(),
  name: z.string(),
  version: z.number().int(),
  timezone: z.string(),
  channels: z.array(z.string()),
  categories: z.array(z.string()),
  amountLimit: moneySchema,
  deadlines: z.array(
    z.object({
      name: z.string(),
      within: z.string(),
      clause: z.string(),
      clock: z.string(),
      calendar: z.string().optional(),
    }),
  ),
  calendars: z.array(z.object({ id: z.string(), version: z.number().int(), timezone: z.string() })),
  warnings: z.array(z.number()),
  pauses: z.record(z.string(), z.array(z.string())),
  dueDateOverride: z.array(z.string()),
  routes: z.record(z.string(), z.string()),
  ladder: z.array(z.string()),
  departments: z.array(z.object({ id: z.string(), name: z.string() })),
  versions: z.array(z.unknown()).optional(),
});

const who = z.object({ name: z.string(), role: z.string() });

export const outageSchema = z.object({
  id: z.string(),
  start: iso,
  end: iso.optional(),
  open: z.boolean(),
  reason: z.enum(['force_majeure', 'system_failure']),
  clause: z.string(),
  note: z.string(),
  scope: z.object({ contractId: z.string().optional(), channel: z.string().optional() }),
  declaredBy: who,
  declaredAt: iso,
  endedBy: who.optional(),
});

export const deadlineExplanationSchema = z.object({
  name: z.string(),
  clause: z.string(),
  within: z.string(),
  clock: z.enum(['calendar', 'business']),
  calendar: z.string().optional(),
  status: z.enum(DEADLINE_STATUSES),
  armedAt: iso,
  dueAt: iso,
  remainingMs: z.number().int().optional(),
  warnings: z.object({ at: z.array(z.number()), sent: z.number().int(), nextAt: iso.optional() }),
  pauses: z.array(
    z.object({
      reason: z.string(),
      clause: z.string(),
      by: z.string(),
      at: iso,
      note: z.string().optional(),
      outage: z.string().optional(),
    }),
  ),
  lateMs: z.number().int().optional(),
  excusedBy: z.string().optional(),
  steps: z.array(
    z.object({
      at: iso,
      step: z.string(),
      event: z.string(),
      by: who,
      clause: z.string(),
      dueAt: iso.optional(),
      calendar: z.string().optional(),
      remainingMs: z.number().int().optional(),
      reason: z.string().optional(),
      lateMs: z.number().int().optional(),
      outage: z.string().optional(),
      warning: z.number().int().optional(),
    }),
  ),
});
