// The public names of ../shared/VOCABULARY.md. Integrators write code against these strings.

/** Clause 1.1–1.4: the categories every policy may authorize; 1.5 lets a policy add more. */
export const BASE_CATEGORIES = [
  'inquiry',
  'complaint',
  'suggestion',
  'feedback',
  'appointment',
  'change_request',
  'small_claim',
  'fee_waiver',
] as const;

/** Clause 1.4: categories whose amount is bounded by `authority.amountLimit`. */
export const AMOUNT_BOUND_CATEGORIES: readonly string[] = ['small_claim', 'fee_waiver'];

/** Clause 3.1.1: intake channels; a policy may add more. */
export const BASE_CHANNELS = ['phone', 'chat', 'email'] as const;

/** Clause 1, last paragraph: what forces an escalation. Ordered from the most to the least severe. */
export const TRIGGERS = [
  'legal_dispute',
  'core_term_change',
  'major_breach',
  'customer_requests_management',
  'beyond_authority',
  'deadline_missed',
] as const;
export type Trigger = (typeof TRIGGERS)[number];

export const ROLES = ['service', 'agent', 'supervisor', 'department', 'ops', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** `cancelled`: the obligation lapsed without being met or missed (e.g. leaving coordination by escalation). */
export const DEADLINE_STATUSES = ['armed', 'paused', 'met', 'breached', 'excused', 'cancelled'] as const;
export type DeadlineStatus = (typeof DEADLINE_STATUSES)[number];

/** The deadlines every policy must define (the agreement's `[time]` blanks). */
export const REQUIRED_DEADLINES = ['firstResponse', 'initialNotice', 'handoff', 'coordination', 'followUp'] as const;
export type DeadlineName = (typeof REQUIRED_DEADLINES)[number];

export const CASE_STATES = [
  'received',
  'verified',
  'coordinating',
  'awaitingCustomer',
  'escalated',
  'resolved',
  'closed',
] as const;
export type CaseState = (typeof CASE_STATES)[number];

/** 6.2: the only reasons a clock may stop. `waiting_on_customer` comes with REQUEST_INFO and ends with CUSTOMER_REPLY. */
export const PAUSE_REASONS = ['waiting_on_customer', 'customer_caused', 'force_majeure', 'system_failure'] as const;
export type PauseReason = (typeof PAUSE_REASONS)[number];
