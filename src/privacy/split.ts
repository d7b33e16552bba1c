import { childOf, type FieldRule, isPersonal, type RuleTree, UNCLASSIFIED } from './classification.ts';

// Splits a JSON value by classification into what may stay in clear and what must be sealed, and
// puts the two back together. The sealed part mirrors the value's shape (array positions as keys), so
// merging restores the original exactly; `null` carries nothing and always stays in clear.

export interface Split {
  readonly clear?: unknown;
  readonly secret?: unknown;
}

export function split(value: unknown, node: RuleTree | undefined, inherited?: FieldRule): Split {
  if (value === null || value === undefined) return { clear: value };
  // An empty list or object carries nothing.
  if (typeof value === 'object' && Object.keys(value).length === 0) return { clear: value };
  const rule = node?.rule ?? inherited;
  if (!node || node.children.size === 0 || typeof value !== 'object') {
    return isPersonal(rule ?? UNCLASSIFIED) ? { secret: value } : { clear: value };
  }
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.entries(value as Record<string, unknown>);
  const clear: Record<string, unknown> | unknown[] = Array.isArray(value) ? [] : {};
  let secret: Record<string, unknown> | undefined;
  for (const [key, inner] of entries) {
    const part = split(inner, childOf(node, key), rule);
    if (Array.isArray(clear)) clear.push(part.clear === undefined ? null : part.clear);
    else if (part.clear !== undefined) clear[key] = part.clear;
    if ('secret' in part) {
      secret ??= {};
      secret[key] = part.secret;
    }
  }
  if (!secret) return { clear };
  // An object left empty by the split is dropped from the clear part (merging restores it): fewer bytes.
  if (!Array.isArray(clear) && Object.keys(clear).length === 0) return { secret };
  return { clear, secret };
}

export function merge(clear: unknown, secret: unknown): unknown {
  if (secret === undefined) return clear;
  if (clear === null || clear === undefined || typeof clear !== 'object' || typeof secret !== 'object' || !secret) {
    return secret;
  }
  const out: Record<string, unknown> | unknown[] = Array.isArray(clear) ? [...clear] : { ...clear };
  for (const [key, inner] of Object.entries(secret as Record<string, unknown>)) {
    const current = (out as Record<string, unknown>)[key];
    (out as Record<string, unknown>)[key] = merge(current, inner);
  }
  return out;
}

/** Every leaf path of a value that no rule covers: what a new field needs before it is shown or kept in clear. */
export function unclassifiedPaths(
  value: unknown,
  node: RuleTree | undefined,
  covered = false,
  path: readonly string[] = [],
): string[] {
  const here = covered || node?.rule !== undefined;
  if (value === null || value === undefined) return [];
  if (typeof value !== 'object' || !node || node.children.size === 0) return here ? [] : [path.join('.')];
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.entries(value as Record<string, unknown>);
  return entries.flatMap(([key, inner]) => unclassifiedPaths(inner, childOf(node, key), here, [...path, key]));
}
