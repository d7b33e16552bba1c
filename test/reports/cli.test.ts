import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Reports } from '../../src/reports/reports.ts';
import { runCli } from '../support/cli.ts';
import { exampleDocument } from '../support/policy.ts';
import { closeRuntime, redisUrl } from '../support/runtime.ts';
import { parseCsv } from './csv-parse.ts';
import { at, CANARY, CONTRACT, type Seeded, seed } from './seed.ts';

// `intervene report`, run as the real CLI in a child process against the seeded data set.

let seeded: Seeded;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  seeded = await seed();
  dir = mkdtempSync(join(tmpdir(), 'intervene-report-cli-'));
  // The same policy the seeded runtime pinned (testPolicy: wall clocks, no warnings), as a file.
  const doc = exampleDocument();
  for (const d of Object.values(doc.deadlines) as Record<string, unknown>[]) {
    d.clock = 'calendar';
    delete d.calendar;
  }
  doc.warnings = { at: [] };
  writeFileSync(join(dir, 'policy.yaml'), stringify(doc));
  const { config } = seeded.rt;
  env = {
    REDIS_URL: redisUrl(),
    INTERVENE_PREFIX: config.INTERVENE_PREFIX,
    INTERVENE_QUEUE_PREFIX: config.INTERVENE_QUEUE_PREFIX,
    INTERVENE_PARTITIONS: String(config.INTERVENE_PARTITIONS),
    INTERVENE_POLICIES: join(dir, 'policy.yaml'),
    INTERVENE_VAR_DIR: join(dir, 'var'),
    LOG_LEVEL: 'silent',
  };
  await new Reports({ store: seeded.rt.store, policies: seeded.rt.policies }).produce(
    CONTRACT,
    'daily',
    at('11-03', '00:30'),
  );
}, 60_000);

afterAll(async () => {
  if (seeded) await closeRuntime(seeded.rt);
  rmSync(dir, { recursive: true, force: true });
});

describe('intervene report', () => {
  it('prints the JSON report of a period, and writes CSV and HTML to a file', async () => {
    const period = ['report', '--contract', CONTRACT, '--from', '2026-11-02', '--to', '2026-11-03'];
    const json = await runCli(period, env);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({ volume: { opened: 5 }, breaches: { real: 2 }, satisfaction: { average: 3.5 } });

    const file = join(dir, 'report.csv');
    const csv = await runCli([...period, '--format', 'csv', '--out', file], env);
    expect(csv.code).toBe(0);
    expect(csv.stdout).toBe('');
    expect(csv.stderr).toContain(`written to ${file} (csv)`);
    const rows = parseCsv(readFileSync(file, 'utf8'));
    expect(
      rows.find(
        (r) => r[0] === 'deadlines' && r[1] === 'attainment' && r[2] === 'name=firstResponse;clause=3.1.3',
      )?.[3],
    ).toBe('0.8');

    const page = join(dir, 'report.html');
    expect((await runCli([...period, '--format', 'html', '--out', page], env)).code).toBe(0);
    const html = readFileSync(page, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    for (const value of [CANARY.name, CANARY.email, CANARY.phoneDigits]) expect(html).not.toContain(value);
  }, 60_000);

  it('lists and prints stored scheduled reports', async () => {
    const list = await runCli(['report', '--contract', CONTRACT, '--list', '--json'], env);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual({
      items: [{ contractId: CONTRACT, period: 'daily', from: '2026-11-02', to: '2026-11-02' }],
    });
    const stored = await runCli(
      ['report', '--contract', CONTRACT, '--scheduled', 'daily', '--from', '2026-11-02'],
      env,
    );
    expect(stored.code).toBe(0);
    expect(JSON.parse(stored.stdout)).toMatchObject({
      period: { kind: 'daily', from: '2026-11-02' },
      volume: { opened: 3 },
    });
    const missing = await runCli(
      ['report', '--contract', CONTRACT, '--scheduled', 'weekly', '--from', '2026-11-02'],
      env,
    );
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('no stored weekly report of contract MC-2026-001 from 2026-11-02');
  }, 60_000);

  it('names the flag and the rule of bad input (exit 2)', async () => {
    const cases: [string[], string][] = [
      [['--contract', CONTRACT, '--from', '2026-11-31', '--to', '2026-12-01'], '--from: a date YYYY-MM-DD'],
      [
        ['--contract', CONTRACT, '--from', '2026-11-03', '--to', '2026-11-02'],
        '--to: must be on or after from (2026-11-03)',
      ],
      [
        ['--contract', 'MC-NOPE', '--from', '2026-11-02', '--to', '2026-11-03'],
        '--contract: no policy is loaded for contract MC-NOPE',
      ],
      [
        ['--contract', CONTRACT, '--from', '2026-11-02', '--to', '2026-11-03', '--format', 'pdf'],
        '--format: one of json, csv, html',
      ],
      [['--contract', CONTRACT, '--from', '2026-11-02'], '--to: required'],
      [['--contract', CONTRACT, '--list', '--period', 'hourly'], '--period: daily, weekly or monthly'],
      [['--contract', CONTRACT, '--colour', 'red'], "Unknown option '--colour'"],
    ];
    for (const [args, message] of cases) {
      const res = await runCli(['report', ...args], env);
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(2);
      expect(res.stderr).toContain(message);
    }
  }, 90_000);
});
