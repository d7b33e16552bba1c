import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { CalendarSpec } from '../domain/calendar.ts';
import { parseDuration } from '../domain/duration.ts';
import { DomainError, type FieldError, fieldErrors } from '../domain/errors.ts';
import type { Money } from '../domain/money.ts';
import type { PauseReason, Role, Trigger } from '../domain/vocabulary.ts';
import type { ReportsPolicy } from './reports.ts';
import { type PolicyDocument, policySchema } from './schema.ts';

export interface DeadlinePolicy {
  readonly within: string;
  readonly withinMs: number;
  readonly clause: string;
  readonly clock: 'calendar' | 'business';
  /** With a business clock: the key of `calendars`. */
  readonly calendar?: string;
  /** Fractions of the duration at which the owner is warned (per deadline, else `warnings.at`). */
  readonly warnAt: readonly number[];
}

/** A validated contract policy, immutable. `digest` identifies its content for pinning. */
export interface Policy {
  readonly contract: { readonly id: string; readonly name: string; readonly version: number };
  readonly timezone: string;
  readonly channels: readonly string[];
  readonly authority: { readonly categories: readonly string[]; readonly amountLimit: Money };
  readonly deadlines: Readonly<Record<string, DeadlinePolicy>>;
  readonly departments: PolicyDocument['departments'];
  readonly calendars: Readonly<Record<string, CalendarSpec>>;
  /** 6.2: roles allowed to pause, per reason (`waiting_on_customer` comes with REQUEST_INFO). */
  readonly pauses: Readonly<Partial<Record<PauseReason, readonly Role[]>>>;
  readonly dueDateOverride: { readonly roles: readonly Role[] };
  /** `ladder`: the rungs a missed deadline climbs, lowest first (default: the `deadline_missed` route). */
  readonly escalation: { readonly routes: Readonly<Record<Trigger, string>>; readonly ladder: readonly string[] };
  readonly notices: PolicyDocument['notices'];
  /** 3.3: scheduled reports and their targets (absent: the defaults of `reportSettings`). */
  readonly reports?: ReportsPolicy;
  /** 4.2: a closed case's personal data is erased this long after it closed (absent: kept until erased on request). */
  readonly retention?: { readonly personalData: string; readonly personalDataMs: number };
  /** The validated document as written: what is pinned in Redis. */
  readonly document: PolicyDocument;
  readonly digest: string;
}

export class PolicyError extends DomainError {
  readonly source: string;
  constructor(source: string, errors: FieldError[]) {
    super('POLICY_INVALID', `${source}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
    this.name = 'PolicyError';
    this.source = source;
  }
}

/** Validates a parsed policy document. Errors name the path and the rule. */
export function parsePolicy(document: unknown, source = 'policy'): Policy {
  const result = policySchema.safeParse(document);
  if (!result.success) throw new PolicyError(source, fieldErrors(result.error.issues));
  const doc = result.data;
  const deadlines: Record<string, DeadlinePolicy> = {};
  for (const [name, d] of Object.entries(doc.deadlines)) {
    deadlines[name] = {
      within: d.within,
      withinMs: parseDuration(d.within) as number,
      clause: d.clause,
      clock: d.clock,
      ...(d.calendar ? { calendar: d.calendar } : {}),
      warnAt: d.warnAt ?? doc.warnings.at,
    };
  }
  const routes = doc.escalation.routes as Record<Trigger, string>;
  const body = {
    contract: doc.contract,
    timezone: doc.timezone,
    channels: doc.channels,
    authority: doc.authority,
    deadlines,
    calendars: Object.fromEntries(Object.entries(doc.calendars).map(([id, c]) => [id, { id, ...c }])),
    pauses: doc.pauses as Policy['pauses'],
    dueDateOverride: doc.dueDateOverride,
    departments: doc.departments,
    escalation: { routes, ladder: doc.escalation.ladder ?? [routes.deadline_missed] },
    notices: doc.notices,
    ...(doc.reports ? { reports: doc.reports } : {}),
    ...(doc.retention
      ? { retention: { ...doc.retention, personalDataMs: parseDuration(doc.retention.personalData) as number } }
      : {}),
  };
  const digest = createHash('sha256').update(JSON.stringify(doc)).digest('hex').slice(0, 16);
  return deepFreeze({ ...body, document: doc, digest });
}

export function parsePolicyYaml(text: string, source: string): Policy {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    const message = error instanceof YAMLParseError ? error.message.split('\n')[0] : String(error);
    throw new PolicyError(source, [{ path: '(root)', message: `not valid YAML: ${message}` }]);
  }
  return parsePolicy(document, source);
}

/** Loads one policy file, or every `.yaml`/`.yml` file of a directory. */
export async function loadPolicyFiles(path: string): Promise<Policy[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new PolicyError(path, [{ path: '(file)', message: 'no such file or directory' }]);
  const files = info.isDirectory()
    ? (await readdir(path))
        .filter((f) => ['.yaml', '.yml'].includes(extname(f)))
        .sort()
        .map((f) => join(path, f))
    : [path];
  if (files.length === 0) throw new PolicyError(path, [{ path: '(dir)', message: 'holds no .yaml policy file' }]);
  return Promise.all(files.map(async (file) => parsePolicyYaml(await readFile(file, 'utf8'), file)));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
