import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { IntakeKeys } from '../../src/intake/sealing.ts';
import { parseDataKeys } from '../../src/privacy/data-keys.ts';
import { spawnCli } from '../support/cli.ts';
import { dropPrefix, redisUrl } from '../support/runtime.ts';
import { dataKey } from './helpers.ts';

// The CLI side of 4.2 / 6.1 (docs/privacy.md): the same projection as the API for `case show`, every read
// in the access log, rotation with progress, key usage, a new key, erasure by hand, the chain check.

const prefix = `cli${randomUUID().slice(0, 8)}`;
const varDir = join(tmpdir(), `intervene-privacy-cli-${prefix}`);
const k1 = dataKey('k1');
const base = {
  REDIS_URL: redisUrl(),
  INTERVENE_PREFIX: `${prefix}:`,
  INTERVENE_QUEUE_PREFIX: `${prefix}-bull`,
  INTERVENE_VAR_DIR: varDir,
  INTERVENE_PARTITIONS: '4',
  INTERVENE_DATA_KEYS: k1,
};
const cli = (args: string[], env: Record<string, string> = {}) => spawnCli(args, { ...base, ...env }).exited;

afterAll(async () => {
  rmSync(varDir, { recursive: true, force: true });
  for (const p of [`${prefix}:`, `${prefix}-bull`, `${prefix}-access:`]) await dropPrefix(redisUrl(), p);
});

describe('intervene data / access and case show', () => {
  let caseId: string;
  const customer = { id: 'cli-cust-1', name: '钱七', phone: '13700001234', email: 'qian7@example.com' };

  it('case show applies the acting role’s projection and records the read', async () => {
    const opened = await cli([
      'case',
      'open',
      '--json',
      '--json-body',
      JSON.stringify({
        contractId: 'MC-2026-001',
        channel: 'phone',
        category: 'inquiry',
        customer,
        subject: 'a question',
        description: 'asks about a visit',
      }),
    ]);
    expect(opened.code, opened.stderr).toBe(0);
    const view = JSON.parse(opened.stdout);
    caseId = view.id;
    expect(view.customer).toEqual(customer);
    const ops = await cli(['case', 'show', caseId, '--json', '--as', 'ops', '--name', 'ops-cli']);
    expect(ops.code, ops.stderr).toBe(0);
    expect(JSON.parse(ops.stdout).customer).toEqual({
      id: 'cli-cust-1',
      name: '钱*',
      phone: '137****1234',
      email: 'q***@example.com',
    });
    expect(ops.stdout).not.toContain('钱七');
    const log = await cli(['access', 'log', '--case', caseId, '--json', '--as', 'auditor', '--name', 'aud-cli']);
    expect(log.code, log.stderr).toBe(0);
    const entries = JSON.parse(log.stdout);
    expect(entries[0]).toMatchObject({
      actor: { name: 'ops-cli', role: 'ops' },
      action: 'read',
      via: 'cli',
      fields: ['customer.id'],
      masked: ['customer.email', 'customer.name', 'customer.phone', 'subject'],
    });
    expect(entries[1]).toMatchObject({ actor: { name: 'cli', role: 'service' }, action: 'read', via: 'cli' });
  }, 30_000);

  it('data keys generate, data status and data rotate move the case to the new key, with progress', async () => {
    const generated = await cli(['data', 'keys', 'generate', '--id', 'k2']);
    expect(generated.code, generated.stderr).toBe(0);
    const line = generated.stdout.split('\n')[0] as string;
    expect(line).toMatch(/^k2:[A-Za-z0-9+/]{43}=$/);
    expect(generated.stdout).toContain('INTERVENE_DATA_KEY_ID=k2');
    const both = { INTERVENE_DATA_KEYS: `${k1},${line}`, INTERVENE_DATA_KEY_ID: 'k2' };
    const before = await cli(['data', 'status', '--json'], both);
    expect(JSON.parse(before.stdout)).toMatchObject({ current: 'k2', configured: ['k1', 'k2'], usage: { k1: 1 } });
    const rotated = await cli(['data', 'rotate', '--json'], both);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(JSON.parse(rotated.stdout)).toMatchObject({ scanned: 1, rewrapped: 1, keyId: 'k2' });
    expect(rotated.stderr).toMatch(/rotation: 1 cases scanned, 1 re-wrapped/);
    const after = await cli(['data', 'status', '--json'], { INTERVENE_DATA_KEYS: line });
    expect(JSON.parse(after.stdout).usage).toMatchObject({ k2: 1 });
    // The old key gone, the case still reads whole.
    const show = await cli(['case', 'show', caseId, '--json'], { INTERVENE_DATA_KEYS: line });
    expect(JSON.parse(show.stdout).customer.name).toBe('钱七');
    base.INTERVENE_DATA_KEYS = line;
  }, 60_000);

  it('data erase is role-gated (exit 6, logged) and erases; access verify checks the chain', async () => {
    const refused = await cli(['data', 'erase', '--customer', customer.id, '--as', 'agent', '--name', 'li']);
    expect(refused.code).toBe(6);
    expect(refused.stderr).toMatch(/may not erase personal data \(service, supervisor may\) \(clause 4\.2\)/);
    const erased = await cli([
      'data',
      'erase',
      '--customer',
      customer.id,
      '--as',
      'supervisor',
      '--name',
      'dpo',
      '--json',
    ]);
    expect(erased.code, erased.stderr).toBe(0);
    expect(JSON.parse(erased.stdout)).toEqual({ erased: 1, cases: [caseId], intakeJobs: 0 });
    const show = await cli(['case', 'show', caseId, '--json']);
    expect(JSON.parse(show.stdout).customer.name).toBe('[erased]');
    const verify = await cli(['access', 'verify', '--case', caseId]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^ok: \d+ entries, chain intact/);
    const byPerson = await cli(['access', 'log', '--actor', 'li', '--json']);
    expect(JSON.parse(byPerson.stdout)[0]).toMatchObject({ action: 'erase', withinAuthority: false, via: 'cli' });
  }, 60_000);

  it('data intake-key publishes and prints the key producers seal to, derived from the current data key', async () => {
    const res = await cli(['data', 'intake-key', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const printed = JSON.parse(res.stdout);
    // By now the current (and only) data key is k2 (rotated above).
    expect(printed).toEqual(new IntakeKeys(parseDataKeys(base.INTERVENE_DATA_KEYS, undefined)).publicKey());
    expect(printed.kid).toBe('k2');
    const redis = new Redis(redisUrl());
    try {
      expect(JSON.parse((await redis.get(`${prefix}-bull:intake-key`)) as string)).toEqual(printed);
    } finally {
      redis.disconnect();
    }
  }, 30_000);

  it('bad usage names the flag (exit 2)', async () => {
    const res = await cli(['access', 'log']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/access log needs --case ID, --actor NAME or --customer ID/);
    const bad = await cli(['data', 'rotate', '--batch', 'many']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--batch: must be an integer from 1 to 10000/);
  }, 30_000);
});
