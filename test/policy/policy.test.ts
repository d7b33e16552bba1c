import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicyFiles, PolicyError, parsePolicy, parsePolicyYaml } from '../../src/policy/policy.ts';
import { PolicyRegistry } from '../../src/policy/registry.ts';
import { exampleDocument, testPolicy } from '../support/policy.ts';

function errorsOf(mutate: (doc: Record<string, any>) => void): string[] {
  const doc = exampleDocument();
  mutate(doc);
  try {
    parsePolicy(doc, 'p.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    return (error as PolicyError).errors.map((e) => `${e.path}: ${e.message}`);
  }
  return [];
}

describe('contract policy validation', () => {
  it('loads the shipped example with every blank of the agreement filled', async () => {
    const [policy] = await loadPolicyFiles('policies');
    expect(policy?.contract).toEqual({ id: 'MC-2026-001', name: '某某服务主合同', version: 1 });
    expect(policy?.deadlines.firstResponse).toEqual({
      within: 'PT15M',
      withinMs: 900_000,
      clause: '3.1.3',
      clock: 'calendar',
      warnAt: [0.5, 0.75, 0.9],
    });
    expect(policy?.authority.amountLimit).toEqual({ amount: '500.00', currency: 'CNY' });
    expect(Object.isFrozen(policy?.deadlines)).toBe(true);
  });

  it('names the path and the rule of a bad duration', () => {
    expect(errorsOf((d) => (d.deadlines.firstResponse.within = '15 minutes'))).toEqual([
      'deadlines.firstResponse.within: not an ISO-8601 duration of weeks, days, hours, minutes or seconds (e.g. PT15M, P1D), greater than zero',
    ]);
  });

  it.each([
    [
      'a missing required deadline',
      (d: any) => delete d.deadlines.handoff,
      'deadlines.handoff: required by the agreement',
    ],
    [
      'a route to an undefined department',
      (d: any) => (d.escalation.routes.legal_dispute = 'lawyers'),
      'escalation.routes.legal_dispute: names department "lawyers", which departments does not define',
    ],
    [
      'a trigger without a route',
      (d: any) => delete d.escalation.routes.major_breach,
      'escalation.routes.major_breach: every trigger needs a route',
    ],
    [
      'a float amount limit',
      (d: any) => (d.authority.amountLimit.amount = 500),
      'authority.amountLimit.amount: must be a decimal string such as "300.00", not a number',
    ],
    [
      'an unknown time zone',
      (d: any) => (d.timezone = 'Mars/Olympus'),
      'timezone: not an IANA time zone such as Asia/Shanghai',
    ],
    [
      'a bad clause',
      (d: any) => (d.deadlines.handoff.clause = 'three'),
      'deadlines.handoff.clause: a clause number of the agreement such as "3.1.3"',
    ],
    [
      'a bad secretEnv',
      (d: any) => (d.departments.legal.webhook.secretEnv = 'lower'),
      'departments.legal.webhook.secretEnv: an environment variable name such as INTERVENE_SECRET_LEGAL',
    ],
    ['an unknown field', (d: any) => (d.extra = 1), expect.stringMatching(/extra/)],
    [
      'a version that is not a positive integer',
      (d: any) => (d.contract.version = 0),
      'contract.version: a positive integer',
    ],
  ])('rejects %s', (_name, mutate, message) => {
    expect(errorsOf(mutate)).toContainEqual(message);
  });

  it('reports YAML syntax errors with the file', () => {
    expect(() => parsePolicyYaml('contract: [', 'bad.yaml')).toThrow(/^bad\.yaml: \(root\): not valid YAML/);
  });

  it('loads a directory of policies and keeps every version (pinning, invariant 7)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'policies-'));
    const v2 = exampleDocument();
    v2.contract.version = 2;
    v2.authority.amountLimit.amount = '800.00';
    writeFileSync(join(dir, 'a.yaml'), JSON.stringify(exampleDocument()));
    writeFileSync(join(dir, 'b.yml'), JSON.stringify(v2));
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    const registry = new PolicyRegistry(await loadPolicyFiles(dir));
    expect(registry.current('MC-2026-001').contract.version).toBe(2);
    expect(registry.find('MC-2026-001', 1)?.authority.amountLimit.amount).toBe('500.00');
  });

  it('refuses the same version loaded twice with different content', () => {
    const registry = new PolicyRegistry([testPolicy()]);
    expect(() => registry.add(testPolicy({ firstResponse: 'PT1M' }))).toThrow(/loaded twice with different content/);
  });

  it('says when a path holds no policy', async () => {
    await expect(loadPolicyFiles('/nonexistent/policies')).rejects.toThrow(/no such file or directory/);
  });
});

describe('need-to-know lists (4.1)', () => {
  it('a department with a webhook must list the fields it needs to know', () => {
    const doc = exampleDocument();
    delete doc.departments.legal.fields;
    expect(() => parsePolicy(doc, 'p')).toThrow(
      /departments\.legal\.fields: a department with a webhook lists the fields/,
    );
  });
});
