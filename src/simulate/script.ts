import '../domain/zod-messages.ts';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import type { Actor } from '../../machines/types.ts';
import { parseDuration } from '../domain/duration.ts';
import { DomainError, type FieldError, fieldErrors, ValidationError } from '../domain/errors.ts';
import { instantSchema, type OpenCase, openCaseSchema, type PublicEvent, parseEvent } from '../domain/events.ts';
import { BASE_CATEGORIES, ROLES } from '../domain/vocabulary.ts';
import type { Policy } from '../policy/policy.ts';

// A what-if script (docs/simulator.md): a case, the outage windows in its scope, scripted events at
// times relative to the start or absolute, and how long to run the clocks. Parsed once, here; every
// error names the field and the rule, and the runner trusts what comes out.

const TIME_RULE =
  'a duration from start such as PT5M or P1D, or an ISO-8601 date-time with an offset such as 2026-10-09T10:00:00+08:00';

const isDuration = (text: string) => parseDuration(text) !== undefined;
const isInstant = (text: string) => instantSchema.safeParse(text).success;

/** A point in simulated time: an ISO-8601 duration after `start`, or an absolute date-time with its offset. */
const timeRef = z.string({ error: TIME_RULE }).refine((text) => isDuration(text) || isInstant(text), TIME_RULE);

const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "_" or "-", 1 to 64 characters');

const outageSchema = z.strictObject({
  id,
  start: timeRef,
  /** Absent: the window is still open when the run ends. */
  end: timeRef.optional(),
  reason: z.enum(['force_majeure', 'system_failure'], { error: 'force_majeure or system_failure (6.2)' }),
  /** When ops declared it (default: its start); a later declaration excuses breaches after the fact. */
  declared: timeRef.optional(),
});

const stepSchema = z.strictObject({
  at: timeRef,
  as: z.enum(ROLES, { error: `one of the roles ${ROLES.join(', ')}` }),
  name: z.string().trim().min(1, 'must not be empty').max(64, 'at most 64 characters').optional(),
  department: id.optional(),
  event: z.unknown(),
});

export const scriptSchema = z.strictObject({
  start: instantSchema,
  /** The case as `POST /v1/cases` takes it, without `contractId`: it belongs to the policy's contract. */
  case: openCaseSchema.omit({ contractId: true }),
  outages: z.array(outageSchema).default([]),
  events: z.array(stepSchema).default([]),
  until: timeRef,
});

export interface ScriptOutage {
  readonly id: string;
  readonly start: number;
  readonly end?: number;
  readonly reason: 'force_majeure' | 'system_failure';
  /** When the window became known to the engine (ms since epoch). */
  readonly declared: number;
}

export interface ScriptStep {
  /** Position in the script's `events` (for messages). */
  readonly index: number;
  readonly at: number;
  readonly actor: Actor;
  readonly event: PublicEvent;
}

/** A validated script, times resolved to ms since epoch. */
export interface Script {
  readonly start: number;
  readonly until: number;
  readonly open: OpenCase;
  readonly outages: readonly ScriptOutage[];
  readonly events: readonly ScriptStep[];
}

/** Validates a parsed script document against the policy it will run under. */
export function parseScript(document: unknown, policy: Policy): Script {
  const result = scriptSchema.safeParse(document);
  if (!result.success) throw invalid(fieldErrors(result.error.issues));
  const doc = result.data;
  const errors: FieldError[] = [];
  const start = Date.parse(doc.start);
  const time = (text: string) => {
    const ms = parseDuration(text);
    return ms === undefined ? Date.parse(text) : start + ms;
  };
  const until = time(doc.until);
  if (until <= start) errors.push({ path: 'until', message: 'must be after start' });

  // 3.1.1, 3.1.2: the engine opens only channels and categories the contract knows.
  const open: OpenCase = { contractId: policy.contract.id, ...doc.case } as OpenCase;
  if (!policy.channels.includes(open.channel)) {
    errors.push({ path: 'case.channel', message: `must be one of ${policy.channels.join(', ')} (3.1.1)` });
  }
  const categories = new Set<string>([...BASE_CATEGORIES, ...policy.authority.categories]);
  if (!categories.has(open.category)) {
    errors.push({ path: 'case.category', message: `must be one of ${[...categories].join(', ')} (1.1–1.5)` });
  }

  const outages: ScriptOutage[] = [];
  for (const [i, o] of doc.outages.entries()) {
    const path = `outages.${i}`;
    const first = doc.outages.findIndex((other) => other.id === o.id);
    if (first !== i) errors.push({ path: `${path}.id`, message: `"${o.id}" is already the id of outages.${first}` });
    const window = { id: o.id, start: time(o.start), reason: o.reason };
    const end = o.end === undefined ? undefined : time(o.end);
    if (end !== undefined && end <= window.start) {
      errors.push({ path: `${path}.end`, message: 'must be after the outage starts' });
    }
    const declared = o.declared === undefined ? window.start : time(o.declared);
    outages.push({ ...window, ...(end === undefined ? {} : { end }), declared });
  }

  const events: ScriptStep[] = [];
  let previous = { at: start, index: -1 };
  for (const [i, s] of doc.events.entries()) {
    const path = `events.${i}`;
    const at = time(s.at);
    if (at < start) errors.push({ path: `${path}.at`, message: 'must not be before start' });
    else if (at < previous.at) {
      const message = `is before events.${previous.index}.at: events run in the order written`;
      errors.push({ path: `${path}.at`, message });
    }
    if (at > until) errors.push({ path: `${path}.at`, message: 'is after until: the run ends before it' });
    if (at >= previous.at) previous = { at, index: i };
    if (s.as === 'department' && s.department === undefined) {
      errors.push({ path: `${path}.department`, message: 'required when as is department: the department that acts' });
    }
    if (s.as !== 'department' && s.department !== undefined) {
      errors.push({ path: `${path}.department`, message: 'only a department actor (as: department) names one' });
    }
    let event: PublicEvent | undefined;
    try {
      event = parseEvent(s.event);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      const inner = error.errors.length > 0 ? error.errors : [{ path: '(root)', message: error.message }];
      for (const e of inner) {
        errors.push({ path: e.path === '(root)' ? `${path}.event` : `${path}.event.${e.path}`, message: e.message });
      }
    }
    const actor: Actor = {
      name: s.name ?? s.as,
      role: s.as,
      ...(s.department === undefined ? {} : { department: s.department }),
    };
    if (event) events.push({ index: i, at, actor, event });
  }
  if (errors.length > 0) throw invalid(errors);
  return { start, until, open, outages, events };
}

/** Parses the YAML text of a script; `source` names the file in messages. */
export function parseScriptYaml(text: string, policy: Policy, source = 'script'): Script {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    const message = error instanceof YAMLParseError ? error.message.split('\n')[0] : String(error);
    throw new ValidationError(`${source} is not valid YAML`, [
      { path: '(root)', message: `not valid YAML: ${message}` },
    ]);
  }
  try {
    return parseScript(document, policy);
  } catch (error) {
    if (error instanceof ValidationError) throw new ValidationError(`${source}: ${error.message}`, [...error.errors]);
    throw error;
  }
}

function invalid(errors: FieldError[]): ValidationError {
  return new ValidationError(`invalid script (${errors.length} error${errors.length === 1 ? '' : 's'})`, errors);
}
