// 4.2: every field of a case, classified in one place. Encryption at rest, the role and department
// projections, log redaction and erasure are all driven from these tables; nothing else lists fields.

export const DATA_CLASSES = ['public', 'internal', 'personal', 'sensitive-personal'] as const;
/**
 * `public`: vocabulary values, fit for metrics labels. `internal`: business data, not about a person
 * (ids, times, amounts). `personal`: identifies or describes the customer. `sensitive-personal`: free
 * text written by or about the customer, which may hold anything (health, finances, ID numbers).
 */
export type DataClass = (typeof DATA_CLASSES)[number];

/** How a personal field is shown to a role that may see it only masked (ops, auditor). */
export type MaskRule = 'keep' | 'name' | 'phone' | 'email' | 'withhold';

export interface FieldRule {
  readonly class: DataClass;
  /** The mask for roles that see personal data masked; personal fields only. */
  readonly mask?: MaskRule;
  /** The name a department's policy entry lists to receive the field (4.1 need to know). */
  readonly needToKnow?: string;
}

const pub: FieldRule = { class: 'public' };
const internal: FieldRule = { class: 'internal' };
const freeText: FieldRule = { class: 'sensitive-personal', mask: 'withhold' };

/** What an unclassified field is taken to be: the safe side (sealed at rest, withheld from masked roles). */
export const UNCLASSIFIED: FieldRule = { class: 'sensitive-personal', mask: 'withhold' };

/**
 * The stored case (the machine's context), by dotted path; `*` matches any key or array index, and a
 * rule covers everything beneath it unless a deeper rule says otherwise.
 */
export const CASE_FIELDS: Readonly<Record<string, FieldRule>> = {
  caseId: internal,
  'open.contractId': pub,
  'open.channel': pub,
  'open.category': pub,
  // A pseudonymous reference to the backend's customer record: shown to every role that may read the
  // case (it correlates cases with the CRM), but encrypted at rest, never logged, and erased on request.
  'open.customer.id': { class: 'personal', mask: 'keep' },
  'open.customer.name': { class: 'personal', mask: 'name', needToKnow: 'customer.name' },
  'open.customer.phone': { class: 'personal', mask: 'phone', needToKnow: 'customer.phone' },
  'open.customer.email': { class: 'personal', mask: 'email', needToKnow: 'customer.email' },
  'open.subject': { class: 'personal', mask: 'withhold', needToKnow: 'subject' },
  'open.description': { ...freeText, needToKnow: 'description' },
  // The machine reasons on the amount (1.4, 2.2.4): business data, not personal.
  'open.amount': { class: 'internal', needToKnow: 'amount' },
  'open.flags': pub,
  'open.externalRef': { class: 'internal', needToKnow: 'externalRef' },
  flags: pub,
  deadlines: internal,
  epoch: internal,
  responded: internal,
  verified: internal,
  resumeTo: internal,
  accepted: internal,
  createdAt: internal,
  updatedAt: internal,
  'escalation.trigger': pub,
  'escalation.department': pub,
  'escalation.level': internal,
  'escalation.seq': internal,
  'escalation.status': pub,
  'escalation.reason': freeText,
  'escalation.preliminaryJudgment': { ...freeText, needToKnow: 'preliminaryJudgment' },
  'escalation.recommendation': { class: 'internal', needToKnow: 'recommendation' },
  'escalation.clause': pub,
  'escalation.at': internal,
  'coordination.department': pub,
  'coordination.request': freeText,
  'coordination.reply': freeText,
  'coordination.at': internal,
  'resolution.by': pub,
  'resolution.text': freeText,
  'resolution.adjustment': internal,
  'resolution.at': internal,
  'survey.score': internal,
  'survey.comment': freeText,
  'survey.at': internal,
  'holds.*.reason': pub,
  'holds.*.clause': pub,
  'holds.*.by': internal,
  'holds.*.role': pub,
  'holds.*.at': internal,
  'holds.*.outage': internal,
  'holds.*.note': freeText,
  outages: internal,
};

/** Event fields, as the audit trail records them (`data`): free text is sensitive, the rest internal. */
const EVENT_FIELDS: Readonly<Record<string, FieldRule>> = {
  department: internal,
  recommendation: internal,
  flag: pub,
  score: internal,
  adjustment: internal,
  identityVerified: internal,
  serviceUsageConfirmed: internal,
  deadline: internal,
  dueAt: internal,
  clause: internal,
  name: internal,
  epoch: internal,
  warning: internal,
  outage: internal,
  outages: internal,
  policyVersion: internal,
  elapsed: internal,
  message: freeText,
  method: freeText,
  resolution: freeText,
  request: freeText,
  reply: freeText,
  reason: freeText,
  preliminaryJudgment: { ...freeText, needToKnow: 'preliminaryJudgment' },
  note: freeText,
  outcome: freeText,
  comment: freeText,
};

/** Per event type, where a field name means something else (PAUSE's `reason` is a vocabulary value). */
const EVENT_OVERRIDES: Readonly<Record<string, Readonly<Record<string, FieldRule>>>> = {
  PAUSE: { reason: pub },
  PERSONAL_DATA_ERASED: { basis: pub },
};

/**
 * The case view every read shows (src/engine/view.ts), by path. Personal fields point at the case field
 * they come from, so masks and need-to-know names are defined once, above.
 */
export const VIEW_FIELDS: Readonly<Record<string, FieldRule>> = {
  id: internal,
  contractId: pub,
  policyVersion: internal,
  state: pub,
  version: internal,
  category: pub,
  channel: pub,
  'customer.id': CASE_FIELDS['open.customer.id'] as FieldRule,
  'customer.name': CASE_FIELDS['open.customer.name'] as FieldRule,
  'customer.phone': CASE_FIELDS['open.customer.phone'] as FieldRule,
  'customer.email': CASE_FIELDS['open.customer.email'] as FieldRule,
  subject: CASE_FIELDS['open.subject'] as FieldRule,
  description: CASE_FIELDS['open.description'] as FieldRule,
  amount: CASE_FIELDS['open.amount'] as FieldRule,
  externalRef: CASE_FIELDS['open.externalRef'] as FieldRule,
  flags: pub,
  deadlines: internal,
  'escalation.trigger': pub,
  'escalation.department': pub,
  'escalation.level': internal,
  'escalation.handoff': pub,
  'escalation.delivery': pub,
  'escalation.clause': pub,
  'escalation.at': internal,
  'coordination.department': pub,
  'coordination.replied': internal,
  'resolution.by': pub,
  'resolution.adjustment': internal,
  'resolution.at': internal,
  'survey.score': internal,
  'survey.at': internal,
  'pauses.*.reason': pub,
  'pauses.*.clause': pub,
  'pauses.*.since': internal,
  'pauses.*.outage': internal,
  createdAt: internal,
  updatedAt: internal,
};

/** The audit entry (src/engine/engine.ts `auditEntry`): `data` holds the event's fields, classified below. */
export const AUDIT_FIELDS: Readonly<Record<string, FieldRule>> = {
  v: internal,
  at: internal,
  actor: internal,
  event: pub,
  from: pub,
  to: pub,
  clause: pub,
  effects: internal,
  /** The clocks the event changed (name, status, epoch, due time): what `case why` explains. */
  clocks: internal,
  /** Set when reading an entry whose personal part was erased (never stored). */
  erased: internal,
};

export const isPersonal = (rule: FieldRule) => rule.class === 'personal' || rule.class === 'sensitive-personal';

/** A compiled path table: exact keys first, then `*`; the deepest rule on the way applies. */
export interface RuleTree {
  readonly rule?: FieldRule;
  readonly children: ReadonlyMap<string, RuleTree>;
}

export function ruleTree(table: Readonly<Record<string, FieldRule>>): RuleTree {
  type Node = { rule?: FieldRule; children: Map<string, Node> };
  const root: Node = { children: new Map() };
  for (const [path, rule] of Object.entries(table)) {
    let node = root;
    for (const segment of path.split('.')) {
      let child = node.children.get(segment);
      if (!child) {
        child = { children: new Map() };
        node.children.set(segment, child);
      }
      node = child;
    }
    node.rule = rule;
  }
  return root;
}

export const CASE_TREE = ruleTree(CASE_FIELDS);
export const VIEW_TREE = ruleTree(VIEW_FIELDS);

export function childOf(tree: RuleTree | undefined, key: string): RuleTree | undefined {
  return tree?.children.get(key) ?? tree?.children.get('*');
}

/** The rule of one concrete path (`['open', 'customer', 'name']`); UNCLASSIFIED when no rule covers it. */
export function classify(tree: RuleTree, path: readonly string[]): FieldRule {
  let node: RuleTree | undefined = tree;
  let rule = tree.rule;
  for (const segment of path) {
    node = childOf(node, segment);
    if (!node) break;
    if (node.rule) rule = node.rule;
  }
  return rule ?? UNCLASSIFIED;
}

const eventTrees = new Map<string, RuleTree>();

/** The rule tree of one event type's fields (the audit entry's `data`). */
export function eventTree(type: string): RuleTree {
  let tree = eventTrees.get(type);
  if (!tree) {
    tree = ruleTree({ ...EVENT_FIELDS, ...EVENT_OVERRIDES[type] });
    eventTrees.set(type, tree);
  }
  return tree;
}

export const AUDIT_TREE = ruleTree(AUDIT_FIELDS);

const auditTrees = new Map<string, RuleTree>();

/** An audit entry's tree: its own fields, and `data` classified by the event's type. */
export function auditTree(type: string): RuleTree {
  let tree = auditTrees.get(type);
  if (!tree) {
    tree = { children: new Map([...AUDIT_TREE.children, ['data', eventTree(type)]]) };
    auditTrees.set(type, tree);
  }
  return tree;
}

/** An event field as the audit trail records it; an unknown field is taken as free text. */
export function eventFieldRule(type: string, field: string): FieldRule {
  return EVENT_OVERRIDES[type]?.[field] ?? EVENT_FIELDS[field] ?? UNCLASSIFIED;
}

/**
 * What the logger redacts wherever it appears (top level and one level down): the objects that carry
 * personal data, and the personal field names distinctive enough not to hide ordinary log fields (a
 * bare `name` or `message` is left alone: `err.message` and deadline names must stay readable).
 */
export const LOG_REDACTED_KEYS: readonly string[] = [
  'customer',
  'open',
  'context',
  'data',
  'body',
  'package',
  'notice',
  'snapshot',
  'entry',
  'phone',
  'email',
  'subject',
  'description',
  'preliminaryJudgment',
  'resolution',
  'comment',
  'outcome',
];

/** Credentials: never logged either. */
export const LOG_SECRET_KEYS: readonly string[] = ['authorization', 'cookie', 'apiKey', 'key', 'secret', 'dataKeys'];
