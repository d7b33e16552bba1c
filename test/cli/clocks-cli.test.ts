import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { dropPrefix, redisUrl, uniquePrefix } from '../support/runtime.ts';

// `intervene case why`, `outage declare|end|list` and `policy migrate`, run as the real CLI in a child process.

const run = promisify(execFile);
const prefix = uniquePrefix();
const varDir = mkdtempSync(join(tmpdir(), 'intervene-cli-'));
const env = {
  ...process.env,
  REDIS_URL: redisUrl(),
  INTERVENE_PREFIX: `${prefix}:`,
  INTERVENE_QUEUE_PREFIX: `${prefix}-bull`,
  INTERVENE_VAR_DIR: varDir,
  LOG_LEVEL: 'silent',
};

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      env,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

afterAll(async () => {
  await dropPrefix(redisUrl(), prefix);
  rmSync(varDir, { recursive: true, force: true });
});

const CASE = {
  contractId: 'MC-2026-001',
  channel: 'phone',
  category: 'inquiry',
  customer: { id: 'cli-1', name: 'Li Lei' },
  subject: 'Opening hours',
  description: 'Asks when the service desk opens.',
};

describe('the clock commands', () => {
  it('case why explains each deadline, in text and JSON', async () => {
    const opened = await cli('case', 'open', '--json-body', JSON.stringify(CASE), '--json');
    expect(opened.code, opened.stderr).toBe(0);
    const id = JSON.parse(opened.stdout).id as string;
    const paused = await cli(
      'case',
      'send',
      id,
      '--as',
      'agent',
      '--json-body',
      JSON.stringify({ type: 'PAUSE', reason: 'customer_caused', note: 'wrong contract number' }),
    );
    expect(paused.code, paused.stderr).toBe(0);
    const text = await cli('case', 'why', id);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(
      /initialNotice \(clause 3\.1\.3, PT4H on a business clock, calendar cs_hours@1\): paused/,
    );
    expect(text.stdout).toMatch(/paused since .* for customer_caused by cli \(clause 6\.2\)/);
    const json = await cli('case', 'why', id, '--json');
    const items = JSON.parse(json.stdout).items as { name: string; steps: { step: string }[] }[];
    expect(items.find((d) => d.name === 'firstResponse')?.steps.map((s) => s.step)).toEqual(['armed', 'paused']);
    expect((await cli('case', 'why', 'c-none')).code).toBe(4);
  });

  it('outage declare, list and end; a bad value is exit 2 naming the field', async () => {
    const bad = await cli('outage', 'declare', '--start', 'now', '--reason', 'system_failure', '--note', 'x');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/start: an ISO-8601 date-time with an offset/);
    const agent = await cli(
      'outage',
      'declare',
      '--as',
      'agent',
      '--start',
      '2026-11-25T10:00:00Z',
      '--reason',
      'system_failure',
      '--note',
      'x',
    );
    expect(agent.code).toBe(2);
    const declared = await cli(
      'outage',
      'declare',
      '--start',
      new Date(Date.now() + 3_600_000).toISOString(),
      '--reason',
      'force_majeure',
      '--note',
      'typhoon warning',
      '--channel',
      'phone',
      '--json',
    );
    expect(declared.code, declared.stderr).toBe(0);
    const outage = JSON.parse(declared.stdout);
    expect(outage).toMatchObject({ open: true, reason: 'force_majeure', scope: { channel: 'phone' } });
    const list = await cli('outage', 'list');
    expect(list.stdout).toContain(outage.id);
    const ended = await cli('outage', 'end', outage.id, '--end', new Date(Date.now() + 7_200_000).toISOString());
    expect(ended.code, ended.stderr).toBe(0);
    expect((await cli('outage', 'end', outage.id)).code).toBe(5);
  });

  it('policy migrate needs a reason and names what it would migrate', async () => {
    const missing = await cli('policy', 'migrate', '--contract', 'MC-2026-001', '--to-version', '1');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--reason/);
    const dry = await cli(
      'policy',
      'migrate',
      '--contract',
      'MC-2026-001',
      '--to-version',
      '1',
      '--reason',
      'check',
      '--dry-run',
      '--json',
    );
    expect(dry.code, dry.stderr).toBe(0);
    // Every case here is on version 1 already.
    expect(JSON.parse(dry.stdout)).toMatchObject({ toVersion: 1, dryRun: true, cases: [] });
  });
});
