import './zod-messages.ts';
import { z } from 'zod';
import { fieldErrors, ValidationError } from './errors.ts';
import { type Money, moneySchema } from './money.ts';
import { PAUSE_REASONS, TRIGGERS, type Trigger } from './vocabulary.ts';

// The event vocabulary of VOCABULARY.md. Strict objects: an unknown field is an error, not ignored.
const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `at most ${max} characters`);
const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "_" or "-", 1 to 64 characters');

export const triggerSchema = z.enum(TRIGGERS, { error: `must be one of ${TRIGGERS.join(', ')}` });

const MANUAL_PAUSES = PAUSE_REASONS.filter((r) => r !== 'waiting_on_customer');
/** ISO-8601 date-time with an offset (`2026-10-09T17:30:00+08:00`, or `Z`). */
export const instantSchema = z.iso.datetime({
  offset: true,
  error: 'an ISO-8601 date-time with an offset, e.g. 2026-10-09T17:30:00+08:00',
});
const clauseSchema = z.string().regex(/^\d+(\.\d+)*$/, 'a clause number of the agreement such as "6.2"');

export const eventSchemas = {
  RESPOND: z.strictObject({ type: z.literal('RESPOND'), message: text(4000).optional() }),
  VERIFY: z.strictObject({
    type: z.literal('VERIFY'),
    identityVerified: z.literal(true, { error: 'must be true: identity is verified before deciding (2.2.2)' }),
    serviceUsageConfirmed: z.literal(true, {
      error: 'must be true: service usage is confirmed before deciding (2.2.2)',
    }),
    method: text(200).optional(),
  }),
  RESOLVE: z.strictObject({ type: z.literal('RESOLVE'), resolution: text(4000), adjustment: moneySchema.optional() }),
  COORDINATE: z.strictObject({ type: z.literal('COORDINATE'), department: id, request: text(4000) }),
  DEPARTMENT_REPLY: z.strictObject({ type: z.literal('DEPARTMENT_REPLY'), department: id, reply: text(4000) }),
  ESCALATE: z.strictObject({
    type: z.literal('ESCALATE'),
    reason: text(2000),
    preliminaryJudgment: text(4000),
    recommendation: id,
  }),
  FLAG: z.strictObject({ type: z.literal('FLAG'), flag: triggerSchema, note: text(2000).optional() }),
  HANDOFF_ACCEPT: z.strictObject({ type: z.literal('HANDOFF_ACCEPT'), department: id }),
  ESCALATION_RESOLVE: z.strictObject({ type: z.literal('ESCALATION_RESOLVE'), outcome: text(4000) }),
  REQUEST_INFO: z.strictObject({ type: z.literal('REQUEST_INFO'), request: text(2000) }),
  CUSTOMER_REPLY: z.strictObject({ type: z.literal('CUSTOMER_REPLY'), message: text(4000).optional() }),
  CLOSE: z.strictObject({ type: z.literal('CLOSE') }),
  REOPEN: z.strictObject({ type: z.literal('REOPEN'), reason: text(2000) }),
  PAUSE: z.strictObject({
    type: z.literal('PAUSE'),
    reason: z.enum(MANUAL_PAUSES, {
      error: `must be one of ${MANUAL_PAUSES.join(', ')} (6.2; waiting on the customer is REQUEST_INFO)`,
    }),
    note: text(2000),
  }),
  RESUME: z.strictObject({ type: z.literal('RESUME'), note: text(2000).optional() }),
  MOVE_DUE: z.strictObject({
    type: z.literal('MOVE_DUE'),
    deadline: z.string().regex(/^[a-z][A-Za-z0-9_]{0,63}$/, 'a deadline name such as firstResponse'),
    dueAt: instantSchema,
    reason: text(2000),
    clause: clauseSchema,
  }),
  SURVEY_RESULT: z.strictObject({
    type: z.literal('SURVEY_RESULT'),
    score: z.number().int('must be an integer from 1 to 5').min(1, 'at least 1').max(5, 'at most 5'),
    comment: text(2000).optional(),
  }),
} as const;

export type PublicEventType = keyof typeof eventSchemas;
export const PUBLIC_EVENT_TYPES = Object.keys(eventSchemas) as PublicEventType[];

export type PublicEvent = { [K in PublicEventType]: z.infer<(typeof eventSchemas)[K]> }[PublicEventType];

/** An outage window as events carry it (ms since epoch). */
export interface OutageSpan {
  readonly id: string;
  readonly start: number;
  readonly end?: number;
  readonly reason: 'force_majeure' | 'system_failure';
}

/** Raised by the system only (a deadline job firing); refused from any caller. */
export interface DeadlineEvent {
  readonly type: 'DEADLINE';
  readonly name: string;
  readonly epoch: number;
  /** A warning timer: the index of the warning fraction, not the deadline itself. */
  readonly warning?: number;
  /** Outage windows in the case's scope that overlap the clock's running time (6.2). */
  readonly outages?: readonly OutageSpan[];
}

/** System events of the outage and migration commands; refused from any caller. */
export type SystemEvent =
  | { readonly type: 'OUTAGE_END'; readonly outage: OutageSpan }
  | { readonly type: 'EXCUSE'; readonly outage: OutageSpan }
  | {
      readonly type: 'MIGRATE';
      readonly policyVersion: number;
      readonly reason: string;
      /** Per running deadline: the time it had run under the old version, in its old clock. */
      readonly elapsed: Readonly<Record<string, number>>;
    };

export const SYSTEM_EVENT_TYPES = ['DEADLINE', 'OUTAGE_END', 'EXCUSE', 'MIGRATE'] as const;

export type CaseEvent = PublicEvent | DeadlineEvent | SystemEvent;

/** Parses an event sent by a caller. `DEADLINE` is refused: only the deadline worker raises it. */
export function parseEvent(input: unknown): PublicEvent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError('event must be a JSON object', [{ path: '(root)', message: 'must be an object' }]);
  }
  const type = (input as { type?: unknown }).type;
  if (type === 'DEADLINE') {
    throw new ValidationError('DEADLINE is raised by the system only', [
      { path: 'type', message: 'DEADLINE is raised by deadline timers only and refused from any caller' },
    ]);
  }
  if ((SYSTEM_EVENT_TYPES as readonly unknown[]).includes(type)) {
    throw new ValidationError(`${String(type)} is raised by the system only`, [
      { path: 'type', message: `${String(type)} is raised by the outage and migration commands only` },
    ]);
  }
  if (typeof type !== 'string' || !(type in eventSchemas)) {
    throw new ValidationError('unknown event type', [
      { path: 'type', message: `must be one of ${PUBLIC_EVENT_TYPES.join(', ')}` },
    ]);
  }
  const result = eventSchemas[type as PublicEventType].safeParse(input);
  if (!result.success) {
    throw new ValidationError(`invalid ${type} event`, fieldErrors(result.error.issues));
  }
  return result.data as PublicEvent;
}

// Opening a case (2.1, 3.1.2): what must be recorded, accurately and completely.
export const openCaseSchema = z.strictObject({
  contractId: z.string().min(1, 'must not be empty').max(64),
  channel: z.string().min(1, 'must not be empty').max(32),
  category: z.string().min(1, 'must not be empty').max(64),
  customer: z.strictObject({
    id: text(128),
    name: text(200),
    phone: z
      .string()
      .regex(/^\+?[0-9 ()-]{5,32}$/, 'a phone number: digits, spaces, "+", "(", ")" or "-"')
      .optional(),
    email: z.email('an e-mail address').max(254).optional(),
  }),
  subject: text(500),
  description: text(8000),
  amount: moneySchema.optional(),
  flags: z.array(triggerSchema).max(TRIGGERS.length).optional(),
  externalRef: text(200).optional(),
});

export interface OpenCase {
  readonly contractId: string;
  readonly channel: string;
  readonly category: string;
  readonly customer: { readonly id: string; readonly name: string; readonly phone?: string; readonly email?: string };
  readonly subject: string;
  readonly description: string;
  readonly amount?: Money;
  readonly flags?: readonly Trigger[];
  readonly externalRef?: string;
}

export function parseOpenCase(input: unknown): OpenCase {
  const result = openCaseSchema.safeParse(input);
  if (!result.success) throw new ValidationError('invalid case', fieldErrors(result.error.issues));
  return result.data as OpenCase;
}
