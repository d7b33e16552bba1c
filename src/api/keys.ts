import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import type { Actor } from '../../machines/types.ts';
import { fieldErrors } from '../domain/errors.ts';
import { ROLES } from '../domain/vocabulary.ts';

// API keys (VOCABULARY.md): a YAML list of `{ name, role, department?, sha256 }`. The key itself is never stored.
const entrySchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, ".", "_" or "-"'),
    role: z.enum(ROLES, { error: `one of ${ROLES.join(', ')}` }),
    department: z.string().min(1).optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'the lower-case hex SHA-256 of the key'),
  })
  .refine((e) => (e.role === 'department') === (e.department !== undefined), {
    message: 'department is required for role department, and only for it',
    path: ['department'],
  });
const fileSchema = z.array(entrySchema).nullable();

export type KeyEntry = z.infer<typeof entrySchema>;
export type Principal = Actor & { readonly role: KeyEntry['role'] };

export const sha256 = (key: string) => createHash('sha256').update(key).digest('hex');

export function newKey(): string {
  return `ivk_${randomBytes(24).toString('base64url')}`;
}

export function readKeysFile(file: string): KeyEntry[] {
  if (!existsSync(file)) return [];
  const result = fileSchema.safeParse(parse(readFileSync(file, 'utf8')));
  if (!result.success) {
    const lines = fieldErrors(result.error.issues).map((e) => `${e.path}: ${e.message}`);
    throw new Error(`${file}: ${lines.join('; ')}`);
  }
  return result.data ?? [];
}

/** Appends a key entry and returns the key, which is shown once and never stored. */
export function createKey(file: string, entry: Omit<KeyEntry, 'sha256'>): string {
  const entries = readKeysFile(file);
  if (entries.some((e) => e.name === entry.name)) throw new Error(`${file}: a key named ${entry.name} exists`);
  const key = newKey();
  const checked = entrySchema.parse({ ...entry, sha256: sha256(key) });
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, stringify([...entries, checked]), { mode: 0o600 });
  return key;
}

export class KeyRing {
  readonly #byHash: Map<string, Principal>;

  constructor(entries: readonly KeyEntry[]) {
    this.#byHash = new Map(
      entries.map((e) => [
        e.sha256,
        { name: e.name, role: e.role, ...(e.department ? { department: e.department } : {}) },
      ]),
    );
  }

  get size(): number {
    return this.#byHash.size;
  }

  authenticate(key: string): Principal | undefined {
    return this.#byHash.get(sha256(key));
  }
}

/**
 * A development start without a keys file gets one under the var directory with a key per role
 * (and per department), printed once.
 */
export function developmentKeys(
  file: string,
  departments: readonly string[],
): { key: string; entry: Omit<KeyEntry, 'sha256'> }[] {
  if (existsSync(file)) return [];
  const wanted: Omit<KeyEntry, 'sha256'>[] = [
    { name: 'dev-service', role: 'service' },
    { name: 'dev-agent', role: 'agent' },
    { name: 'dev-supervisor', role: 'supervisor' },
    { name: 'dev-ops', role: 'ops' },
    { name: 'dev-auditor', role: 'auditor' },
    ...departments.map((d) => ({ name: `dev-${d}`, role: 'department' as const, department: d })),
  ];
  return wanted.map((entry) => ({ key: createKey(file, entry), entry }));
}
