import type { Role } from '../domain/vocabulary.ts';
import {
  auditTree,
  childOf,
  type FieldRule,
  isPersonal,
  type MaskRule,
  type RuleTree,
  UNCLASSIFIED,
  VIEW_TREE,
} from './classification.ts';

// 4.1 / 4.2: what each role and department sees of a case, decided here from the classification, for
// every surface (API, dashboard, CLI). CS roles and backends see it whole; a department sees what its
// policy entry lists (need to know); ops and auditors see personal data masked, free text withheld.

export interface Viewer {
  readonly role: Role | 'system';
  readonly department?: string;
}

/** Department policy entries: the need-to-know names each lists (`customer.name`, `subject`, …). */
export type NeedToKnow = Readonly<Record<string, { readonly fields?: readonly string[] | undefined } | undefined>>;

type Audience = { kind: 'whole' } | { kind: 'department'; fields: ReadonlySet<string> } | { kind: 'masked' };

const WHOLE: ReadonlySet<string> = new Set(['service', 'agent', 'supervisor']);

function audienceOf(viewer: Viewer, departments: NeedToKnow): Audience {
  if (WHOLE.has(viewer.role)) return { kind: 'whole' };
  if (viewer.role === 'department') {
    return { kind: 'department', fields: new Set(departments[viewer.department ?? '']?.fields ?? []) };
  }
  return { kind: 'masked' };
}

/** Whether a role sees personal data in clear (the dashboard uses this to say so). */
export const seesWhole = (viewer: Viewer) => WHOLE.has(viewer.role);

export const WITHHELD = '[redacted]';

const maskName = (name: string) => `${[...name][0] ?? ''}${'*'.repeat(Math.max(1, [...name].length - 1))}`;
/** `13812345678` → `138****5678`; a `+<country code> ` prefix is kept: `+86 139****5678`. */
function maskPhone(phone: string): string {
  const match = /^(\+\d{1,3}[ -])?(.*)$/.exec(phone.trim());
  const country = match?.[1] ?? '';
  const digits = (match?.[2] ?? '').replace(/\D/g, '');
  if (digits.length <= 7) return `${country}${'*'.repeat(Math.max(1, digits.length - 4))}${digits.slice(-4)}`;
  return `${country}${digits.slice(0, 3)}${'*'.repeat(digits.length - 7)}${digits.slice(-4)}`;
}
const maskEmail = (email: string) => email.replace(/^(.).*(@.*)$/, '$1***$2');

/** Deterministic: the same value always masks the same way. */
export function mask(rule: MaskRule, value: unknown): unknown {
  if (typeof value !== 'string') return rule === 'keep' ? value : WITHHELD;
  switch (rule) {
    case 'keep':
      return value;
    case 'name':
      return maskName(value);
    case 'phone':
      return maskPhone(value);
    case 'email':
      return maskEmail(value);
    default:
      return WITHHELD;
  }
}

/** What one projection showed of personal data: in clear, and masked. Paths are the view's. */
export interface Shown {
  readonly clear: Set<string>;
  readonly masked: Set<string>;
}

const OMIT = Symbol('omit');

function projectValue(
  value: unknown,
  node: RuleTree | undefined,
  inherited: FieldRule | undefined,
  audience: Audience,
  path: string,
  shown: Shown,
): unknown {
  if (value === null || value === undefined) return value;
  // An empty list or object carries nothing.
  if (typeof value === 'object' && Object.keys(value).length === 0) return value;
  const rule = node?.rule ?? inherited;
  if (node && node.children.size > 0 && typeof value === 'object') {
    if (Array.isArray(value)) {
      return value.map((v, i) => {
        const out = projectValue(v, childOf(node, String(i)), rule, audience, `${path}.${i}`, shown);
        return out === OMIT ? WITHHELD : out;
      });
    }
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      const projected = projectValue(inner, childOf(node, key), rule, audience, path ? `${path}.${key}` : key, shown);
      if (projected !== OMIT) out[key] = projected;
    }
    return out;
  }
  const r = rule ?? UNCLASSIFIED;
  const personal = isPersonal(r);
  if (audience.kind === 'whole') {
    if (personal) shown.clear.add(path);
    return value;
  }
  if (audience.kind === 'department') {
    // 4.1: what the policy lists is shown whole; a pseudonymous id as to everyone; the rest is left out.
    if (r.needToKnow !== undefined) {
      if (!audience.fields.has(r.needToKnow)) return OMIT;
    } else if (personal && r.mask !== 'keep') return OMIT;
    if (personal) shown.clear.add(path);
    return value;
  }
  if (!personal) return value;
  if (r.mask === 'keep') shown.clear.add(path);
  else shown.masked.add(path);
  return mask(r.mask ?? 'withhold', value);
}

function project<T>(value: T, tree: RuleTree, viewer: Viewer, departments: NeedToKnow, shown: Shown): T {
  return projectValue(value, tree, undefined, audienceOf(viewer, departments), '', shown) as T;
}

/** The case view as `viewer` may see it. Records in `sink` what personal data it showed (the access log reads that). */
export function projectView<V extends { id?: unknown }>(
  view: V,
  viewer: Viewer,
  departments: NeedToKnow,
  sink: Disclosures | undefined,
): V {
  const shown: Shown = { clear: new Set(), masked: new Set() };
  const out = project(view, VIEW_TREE, viewer, departments, shown);
  if (typeof view.id === 'string') disclose(sink, view.id, shown);
  return out;
}

/** Audit entries as `viewer` may see them: each event's personal fields by the same rules. */
export function projectHistory(
  caseId: string,
  entries: readonly object[],
  viewer: Viewer,
  departments: NeedToKnow,
  sink: Disclosures | undefined,
): object[] {
  const shown: Shown = { clear: new Set(), masked: new Set() };
  const out = entries.map((entry) => {
    const type = String((entry as { event?: unknown }).event ?? '');
    return project(entry, auditTree(type), viewer, departments, shown);
  });
  disclose(sink, caseId, { clear: prefixed('history', shown.clear), masked: prefixed('history', shown.masked) });
  return out;
}

/** The customer part alone (the dashboard's header line). Not recorded: the view it belongs to is. */
export function projectCustomer<C extends object>(customer: C, viewer: Viewer, departments: NeedToKnow): Partial<C> {
  const shown: Shown = { clear: new Set(), masked: new Set() };
  return (project({ customer }, VIEW_TREE, viewer, departments, shown) as { customer?: Partial<C> }).customer ?? {};
}

function prefixed(prefix: string, paths: Set<string>): Set<string> {
  // History paths are `<entry>.data.<field>`: keep the field, once.
  return new Set([...paths].map((p) => `${prefix}.${p.split('.').slice(1).join('.')}`));
}

// ── disclosures of one request (API, dashboard, CLI), for the access log ────────────────────────────

/** Per case: the personal fields a request showed in clear and masked. */
export type Disclosures = Map<string, Shown>;

// Passed explicitly, not through AsyncLocalStorage: on Node 20 that turns on promise hooks for the whole
// process, which cost the API ~10 % of its throughput (measured with the HTTP bench).
function disclose(store: Disclosures | undefined, caseId: string, shown: Shown): void {
  if (!store || (shown.clear.size === 0 && shown.masked.size === 0)) return;
  const seen = store.get(caseId) ?? { clear: new Set<string>(), masked: new Set<string>() };
  for (const p of shown.clear) seen.clear.add(p);
  for (const p of shown.masked) seen.masked.add(p);
  store.set(caseId, seen);
}
