import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKey, developmentKeys, KeyRing, readKeysFile, sha256 } from '../../src/api/keys.ts';

const tmp = () => join(mkdtempSync(join(tmpdir(), 'keys-')), 'keys.yaml');

describe('API keys file (hashed at rest)', () => {
  it('appends a key, stores only its SHA-256, and authenticates it', () => {
    const file = tmp();
    const key = createKey(file, { name: 'billing-backend', role: 'service' });
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(key);
    expect(text).toContain(sha256(key));
    const ring = new KeyRing(readKeysFile(file));
    expect(ring.authenticate(key)).toEqual({ name: 'billing-backend', role: 'service' });
    expect(ring.authenticate(`${key}x`)).toBeUndefined();
  });

  it('requires a department on department keys, and only there', () => {
    const file = tmp();
    expect(() => createKey(file, { name: 'legal', role: 'department' })).toThrow(/department is required/);
    expect(() => createKey(file, { name: 'x', role: 'agent', department: 'legal' })).toThrow(/department is required/);
    expect(new KeyRing(readKeysFile(file)).size).toBe(0);
  });

  it('refuses a duplicate name', () => {
    const file = tmp();
    createKey(file, { name: 'a', role: 'agent' });
    expect(() => createKey(file, { name: 'a', role: 'ops' })).toThrow(/a key named a exists/);
  });

  it('names the entry and the rule of a malformed file', () => {
    const file = tmp();
    writeFileSync(file, '- { name: a, role: boss, sha256: xyz }\n');
    expect(() => readKeysFile(file)).toThrow(/0\.role: one of service.*0\.sha256: the lower-case hex SHA-256/);
  });

  it('makes development keys once: one per role and per department', () => {
    const file = tmp();
    const made = developmentKeys(file, ['legal', 'finance']);
    expect(made.map((m) => m.entry.name)).toEqual([
      'dev-service',
      'dev-agent',
      'dev-supervisor',
      'dev-ops',
      'dev-auditor',
      'dev-legal',
      'dev-finance',
    ]);
    expect(developmentKeys(file, ['legal'])).toEqual([]);
    const ring = new KeyRing(readKeysFile(file));
    expect(ring.authenticate(made[5]?.key as string)).toEqual({
      name: 'dev-legal',
      role: 'department',
      department: 'legal',
    });
  });
});
