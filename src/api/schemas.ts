import { z } from 'zod';
import { moneySchema } from '../domain/money.ts';
import { CASE_STATES, DEADLINE_STATUSES, ROLES, TRIGGERS } from '../domain/vocabulary.ts';

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
    }),
  ),
  escalation: z
    .object({
      trigger: z.enum(TRIGGERS),
      department: z.string(),
      level: z.number().int(),
      handoff: z.enum(['pending', 'delivered', 'accepted', 'resolved']),
      delivery: z.enum(['pending', 'retrying', 'delivered', 'dead', 'no_endpoint']).optional(),
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
  deadlines: z.array(z.object({ name: z.string(), within: z.string(), clause: z.string(), clock: z.string() })),
  routes: z.record(z.string(), z.string()),
  departments: z.array(z.object({ id: z.string(), name: z.string() })),
  versions: z.array(z.unknown()).optional(),
});
