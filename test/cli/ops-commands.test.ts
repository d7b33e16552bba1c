import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { TimerPromoter } from '../../src/deadlines/promoter.ts';
import { type Policy, parsePolicy } from '../../src/policy/policy.ts';
import type { Runtime } from '../../src/runtime.ts';
import { readCase } from '../support/cases.ts';
import { type CliResult, runCli } from '../support/cli.ts';
import { Cleanup, tempDir } from '../support/faults.ts';
import { exampleDocument, openCase } from '../support/policy.ts';
import { agent, closeRuntime, redisUrl, testRuntime, VERIFY } from '../support/runtime.ts';
import { sleep } from '../support/wait.ts';

// The operations commands run as the real CLI (a child process) against the test Redis: output, --json,
// --help and exit codes. The cases are opened in this process; the CLI reads them.

const cleanup = new Cleanup();
let dir: string;
let rt: Runtime;
let env: Record<string, string>;
const ids = { received: '', verified: '', escalated: '' };
const PERSON = { id: 'cust-cli-0815', name: '王五', phone: '+86 137 0000 1111' };

/** The example policy on wall clocks without warnings: one document, for this runtime and the CLI's file. */
function policyDocument(): Record<string, any> {
  const doc = exampleDocument();
  for (const d of Object.values(doc.deadlines) as Record<string, unknown>[]) {
    d.clock = 'calendar';
    delete d.calendar;
  }
  doc.warnings = { at: [] };
  return doc;
}

const cli = (...args: string[]) => runCli(args, env);
const json = (r: CliResult) => {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

beforeAll(async () => {
  dir = tempDir(cleanup, 'cli-ops');
  const doc = policyDocument();
  writeFileSync(join(dir, 'policy.yaml'), stringify(doc));
  const policy: Policy = parsePolicy(doc, 'cli test policy');
  rt = await testRuntime({ policies: [policy] });
  env = {
    REDIS_URL: redisUrl(),
    INTERVENE_PREFIX: rt.config.INTERVENE_PREFIX,
    INTERVENE_QUEUE_PREFIX: rt.config.INTERVENE_QUEUE_PREFIX,
    INTERVENE_PARTITIONS: String(rt.config.INTERVENE_PARTITIONS),
    INTERVENE_POLICIES: join(dir, 'policy.yaml'),
    // The same local state (development data keys) as this process's runtime, so the CLI reads its cases.
    INTERVENE_VAR_DIR: rt.config.INTERVENE_VAR_DIR,
    LOG_LEVEL: 'warn',
  };
  const open = (extra: Record<string, unknown> = {}) =>
    rt.engine.open(openCase({ customer: PERSON, ...extra }), agent).then((r) => r.caseId);
  // A few ms apart: lists are newest first by opening time.
  ids.received = await open();
  await sleep(5);
  ids.verified = await open();
  await sleep(5);
  await rt.engine.apply(ids.verified, VERIFY, agent);
  ids.escalated = await open({ flags: ['legal_dispute'] });
  // The first responses (15 min) are promoted into the deadlines queue, as a deadline worker does in the
  // last seconds before due; the hand-off (2 h) stays in its partition's timers set. The CLI reads both.
  const promoted = await new TimerPromoter({
    store: rt.store,
    queue: rt.deadlineQueue,
    leadMs: 200,
    aheadMs: 30 * 60_000,
  }).promote();
  expect(promoted).toBe(2);
}, 30_000);

afterAll(async () => {
  if (rt) await closeRuntime(rt);
  await cleanup.run();
});

/** The earliest armed deadline of a case, as stored. */
async function earliest(id: string): Promise<{ deadline: string; dueAt: number }> {
  const entries = Object.entries((await readCase(rt, id)).context.deadlines).filter(([, d]) => d.status === 'armed');
  const [deadline, d] = entries.sort((a, b) => a[1].dueAt - b[1].dueAt)[0] as [string, { dueAt: number }];
  return { deadline, dueAt: d.dueAt };
}

describe('intervene cases list', () => {
  it('lists cases newest first, with no customer data, and filters by state and contract', async () => {
    const [all, escalated, other, text] = await Promise.all([
      cli('cases', 'list', '--json'),
      cli('cases', 'list', '--state', 'escalated', '--json'),
      cli('cases', 'list', '--contract', 'MC-OTHER', '--json'),
      cli('cases', 'list'),
    ]);
    const items = json(all).items as { id: string; state: string; escalatedTo: string | null }[];
    expect(items.map((c) => c.id)).toEqual([ids.escalated, ids.verified, ids.received]);
    expect(items.map((c) => c.state)).toEqual(['escalated', 'verified', 'received']);
    expect(items[0]?.escalatedTo).toBe('legal');
    expect(json(escalated).items.map((c: { id: string }) => c.id)).toEqual([ids.escalated]);
    expect(json(other).items).toEqual([]);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^CASE\s+STATE\s+CONTRACT/);
    for (const out of [all.stdout, text.stdout]) {
      for (const pii of [PERSON.id, PERSON.name, PERSON.phone, 'appointment?']) expect(out).not.toContain(pii);
    }
  });

  it('--at-risk: each case’s soonest armed deadline with time left, soonest first (queue and timers sets)', async () => {
    const [risk, one, escalatedOnly, text] = await Promise.all([
      cli('cases', 'list', '--at-risk', '--json'),
      cli('cases', 'list', '--at-risk', '--limit', '1', '--json'),
      cli('cases', 'list', '--at-risk', '--state', 'escalated', '--json'),
      cli('cases', 'list', '--at-risk'),
    ]);
    const rows = json(risk).items as { caseId: string; deadline: string; dueAt: string; remainingMs: number }[];
    const expected = await Promise.all(
      [ids.received, ids.verified, ids.escalated].map(async (id) => ({ caseId: id, ...(await earliest(id)) })),
    );
    expected.sort((a, b) => a.dueAt - b.dueAt);
    expect(rows.map((r) => [r.caseId, r.deadline, Date.parse(r.dueAt)])).toEqual(
      expected.map((e) => [e.caseId, e.deadline, e.dueAt]),
    );
    expect(rows.map((r) => r.deadline)).toEqual(['firstResponse', 'firstResponse', 'handoff']);
    for (const r of rows) expect(r.remainingMs).toBeGreaterThan(0);
    expect(json(one).items).toHaveLength(1);
    expect(json(one).items[0].caseId).toBe(rows[0]?.caseId);
    expect(json(escalatedOnly).items.map((r: { caseId: string }) => r.caseId)).toEqual([ids.escalated]);
    expect(text.stdout).toMatch(/^CASE\s+STATE\s+CONTRACT\s+DEADLINE\s+CLAUSE\s+DUE\s+LEFT/);
    expect(text.stdout).toMatch(/firstResponse\s+3\.1\.3\s+\S+\s+1[45]m \d\ds/);
  });

  it('names the flag and the rule of a bad value, exit 2', async () => {
    const [state, limit, unknown] = await Promise.all([
      cli('cases', 'list', '--state', 'nope'),
      cli('cases', 'list', '--limit', '0'),
      cli('cases', 'list', '--sort', 'due'),
    ]);
    expect(state.code).toBe(2);
    expect(state.stderr).toContain('--state: must be one of received, verified');
    expect(limit.code).toBe(2);
    expect(limit.stderr).toContain('--limit: must be an integer from 1 to 200');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--sort'/);
    expect(state.stdout + limit.stdout).toBe('');
  });
});

describe('intervene deadlines list', () => {
  it('--case: every deadline of the case with its status and clause; an unknown case is exit 4', async () => {
    const [one, missing] = await Promise.all([
      cli('deadlines', 'list', '--case', ids.escalated, '--json'),
      cli('deadlines', 'list', '--case', 'cnope'),
    ]);
    const body = json(one);
    expect(body.state).toBe('escalated');
    const stored = (await readCase(rt, ids.escalated)).context.deadlines;
    expect(
      Object.fromEntries(body.items.map((d: { deadline: string; status: string }) => [d.deadline, d.status])),
    ).toEqual(Object.fromEntries(Object.entries(stored).map(([n, d]) => [n, d.status])));
    expect(body.items.find((d: { deadline: string }) => d.deadline === 'handoff')).toMatchObject({
      status: 'armed',
      clause: '3.2.3',
    });
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('case cnope does not exist');
  });

  it('--due-within: every armed deadline due within the duration, soonest first', async () => {
    const [soon, hours, all] = await Promise.all([
      cli('deadlines', 'list', '--due-within', 'PT20M', '--json'),
      cli('deadlines', 'list', '--due-within', 'PT3H', '--json'),
      cli('deadlines', 'list', '--json'),
    ]);
    const rows = (r: CliResult) =>
      json(r).items.map((d: { caseId: string; deadline: string }) => `${d.caseId}:${d.deadline}`);
    expect(rows(soon).sort()).toEqual([`${ids.received}:firstResponse`, `${ids.verified}:firstResponse`].sort());
    expect(rows(hours)).toContain(`${ids.escalated}:handoff`);
    expect(rows(hours)).not.toContain(`${ids.received}:initialNotice`);
    // Without a bound: every armed deadline of every case (4 h initial notices included).
    const armed = await Promise.all(
      Object.values(ids).map(async (id) =>
        Object.entries((await readCase(rt, id)).context.deadlines)
          .filter(([, d]) => d.status === 'armed')
          .map(([name]) => `${id}:${name}`),
      ),
    );
    expect(rows(all).sort()).toEqual(armed.flat().sort());
    const due = json(all).items.map((d: { dueAt: string }) => Date.parse(d.dueAt));
    expect(due).toEqual([...due].sort((a, b) => a - b));
  });

  it('refuses a duration that is not ISO-8601, and --case with --due-within, exit 2', async () => {
    const [bad, both] = await Promise.all([
      cli('deadlines', 'list', '--due-within', '15m'),
      cli('deadlines', 'list', '--case', ids.received, '--due-within', 'PT1H'),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--due-within: not an ISO-8601 duration');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--case lists one case');
  });
});

describe('intervene policy check', () => {
  it('accepts the shipped example and names the path and rule of every error, exit 2', async () => {
    const bad = policyDocument();
    bad.deadlines.firstResponse.within = '15 minutes';
    delete bad.channels;
    writeFileSync(join(dir, 'bad.yaml'), stringify(bad));
    const route = policyDocument();
    route.escalation.routes.legal_dispute = 'lawyers';
    writeFileSync(join(dir, 'route.yaml'), stringify(route));
    const [good, text, asJson] = await Promise.all([
      cli('policy', 'check', 'policies/example.yaml'),
      cli('policy', 'check', join(dir, 'bad.yaml')),
      cli('policy', 'check', join(dir, 'bad.yaml'), join(dir, 'route.yaml'), 'policies', '--json'),
    ]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toContain('policies/example.yaml: valid — MC-2026-001 version 1');
    expect(text.code).toBe(2);
    expect(text.stdout).toContain(`${join(dir, 'bad.yaml')}: invalid`);
    expect(text.stdout).toContain('  deadlines.firstResponse.within: not an ISO-8601 duration');
    expect(text.stdout).toContain('  channels: required');
    expect(asJson.code).toBe(2);
    const report = JSON.parse(asJson.stdout);
    expect(report.valid).toBe(false);
    expect(report.files.map((f: { valid: boolean }) => f.valid)).toEqual([false, false, true]);
    expect(report.files[0].errors.map((e: { path: string }) => e.path).sort()).toEqual(
      ['channels', 'deadlines.firstResponse.within'].sort(),
    );
    expect(report.files[1].errors).toEqual([
      {
        path: 'escalation.routes.legal_dispute',
        message: 'names department "lawyers", which departments does not define',
      },
    ]);
  });

  it('refuses one contract version given twice with different content, and a missing file', async () => {
    const edited = policyDocument();
    edited.deadlines.firstResponse.within = 'PT10M';
    writeFileSync(join(dir, 'edited.yaml'), stringify(edited));
    const [twice, missing, none] = await Promise.all([
      cli('policy', 'check', 'policies/example.yaml', join(dir, 'edited.yaml')),
      cli('policy', 'check', join(dir, 'missing.yaml')),
      cli('policy', 'check'),
    ]);
    expect(twice.code).toBe(2);
    expect(twice.stdout).toContain(
      'contract.version: MC-2026-001@1 is also in policies/example.yaml with different content',
    );
    expect(missing.code).toBe(2);
    expect(missing.stdout).toContain('(file): no such file or directory');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('policy check needs an argument');
  });
});

describe('intervene config print', () => {
  it('shows every setting with its source, the file under the environment, and hides secrets', async () => {
    const file = join(dir, 'intervene.yaml');
    writeFileSync(
      file,
      stringify({
        INTERVENE_SWEEP_INTERVAL_MS: 750,
        LOG_LEVEL: 'debug',
        INTERVENE_GRACE_MS: 45000,
        INTERVENE_SECRET_LEGAL: 'whsec_c2VjcmV0LWZyb20tdGhlLWZpbGU=',
      }),
    );
    const secretEnv = { ...env, REDIS_URL: 'redis://ops:s3cret-pass@127.0.0.1:6390/0', LOG_LEVEL: 'error' };
    const [byFlag, byEnv, text] = await Promise.all([
      runCli(['config', 'print', '--json', '--config', file], secretEnv),
      runCli(['config', 'print', '--json'], { ...secretEnv, INTERVENE_CONFIG: file }),
      runCli(['config', 'print', '--config', file], secretEnv),
    ]);
    const body = json(byFlag);
    const setting = (name: string) => body.settings.find((s: { name: string }) => s.name === name);
    expect(body.file).toBe(file);
    expect(setting('INTERVENE_SWEEP_INTERVAL_MS')).toEqual({
      name: 'INTERVENE_SWEEP_INTERVAL_MS',
      value: 750,
      source: 'file',
    });
    expect(setting('INTERVENE_PARTITIONS')).toMatchObject({ value: 4, source: 'env' });
    expect(setting('INTERVENE_GRACE_MS')).toEqual({ name: 'INTERVENE_GRACE_MS', value: 45000, source: 'file' });
    // The environment wins over the file.
    expect(setting('LOG_LEVEL')).toEqual({ name: 'LOG_LEVEL', value: 'error', source: 'env' });
    expect(setting('PORT')).toEqual({ name: 'PORT', value: 3000, source: 'default' });
    expect(setting('REDIS_URL').value).toBe('redis://ops:****@127.0.0.1:6390/0');
    expect(setting('INTERVENE_CONFIG')).toMatchObject({ value: file, source: 'flag' });
    expect(body.secrets).toContainEqual({ name: 'INTERVENE_SECRET_LEGAL', set: true, source: 'file' });
    expect(body.secrets).toContainEqual({ name: 'INTERVENE_SECRET_NOTICES', set: false, source: null });
    expect(json(byEnv).settings).toEqual(
      body.settings.map((s: { name: string }) => (s.name === 'INTERVENE_CONFIG' ? { ...s, source: 'env' } : s)),
    );
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^INTERVENE_SWEEP_INTERVAL_MS=750\s+# file$/m);
    expect(text.stdout).toMatch(/^INTERVENE_SECRET_LEGAL=\*{8}\s+# file$/m);
    for (const out of [byFlag.stdout, byEnv.stdout, text.stdout]) {
      expect(out).not.toContain('s3cret-pass');
      expect(out).not.toContain('c2VjcmV0LWZyb20tdGhlLWZpbGU');
    }
  });

  it('reports one line per bad value, naming the setting, where it came from and the rule, exit 2', async () => {
    const file = join(dir, 'bad-config.yaml');
    writeFileSync(file, stringify({ INTERVENE_NOTIFY_ATTEMPTS: 500, INTERVENE_PARTITION: 8, PORT: [1] }));
    const [bad, missing] = await Promise.all([
      runCli(['config', 'print', '--config', file], { ...env, INTERVENE_GRACE_MS: 'soon', LOG_LEVEL: 'loud' }),
      runCli(['config', 'print', '--config', join(dir, 'nope.yaml')], env),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    const lines = bad.stderr.trim().split('\n');
    expect(lines[0]).toBe('intervene: invalid configuration:');
    expect(lines.slice(1).sort()).toEqual(
      [
        `  INTERVENE_PARTITION (in ${file}): not a setting Intervene knows (see docs/ops.md, "Configuration")`,
        `  PORT (in ${file}): must be a single value (a string, a number or true/false)`,
        `  INTERVENE_NOTIFY_ATTEMPTS (in ${file}): at most 100`,
        '  INTERVENE_GRACE_MS: must be a number',
        '  LOG_LEVEL: one of fatal, error, warn, info, debug, trace, silent',
      ].sort(),
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`INTERVENE_CONFIG (${join(dir, 'nope.yaml')}): cannot be read (ENOENT)`);
  });
});

describe('--help and bad usage', () => {
  it('prints the usage of every command, exit 0', async () => {
    const commands = [
      ['serve'],
      ['worker'],
      ['cases', 'list'],
      ['deadlines', 'list'],
      ['policy', 'check'],
      ['config', 'print'],
    ];
    const results = await Promise.all(commands.map((c) => cli(...c, '--help')));
    results.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: intervene ${(commands[i] as string[]).join(' ')}`));
      expect(r.stdout).toContain('Exit codes');
    });
    const top = await cli('--help');
    for (const c of commands) expect(top.stdout).toContain(`intervene ${c.join(' ')}`);
  });

  it('worker --only refuses the API and names an unknown worker, exit 2', async () => {
    const [api, bogus] = await Promise.all([
      cli('worker', '--only', 'deadlines,api'),
      cli('worker', '--only', 'deadlines,timers'),
    ]);
    expect(api.code).toBe(2);
    expect(api.stderr).toContain('--only: a worker runs no HTTP API; use intervene serve');
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain(
      '--only: "timers" is not a worker; choose from deadlines, notify, dispatcher, intake, reports',
    );
  });
});
