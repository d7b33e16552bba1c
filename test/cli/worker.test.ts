import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { NODE_FLAGS } from '../../src/node-flags.ts';
import { parsePolicy } from '../../src/policy/policy.ts';
import { freePort } from '../../src/store/redis.ts';
import { waitForState } from '../support/cases.ts';
import { spawnCli } from '../support/cli.ts';
import { Cleanup, tempDir } from '../support/faults.ts';
import { exampleDocument, openCase } from '../support/policy.ts';
import { agent, closeRuntime, dropPrefix, redisUrl, testRuntime, uniquePrefix } from '../support/runtime.ts';
import { waitFor } from '../support/wait.ts';

// `intervene worker --only deadlines,dispatcher --config FILE`: a worker process without the HTTP API,
// configured by a file, fires the deadlines of cases another process opened, and stops cleanly.

describe('intervene worker', () => {
  it('runs only the workers asked for, from a configuration file, and stops cleanly on SIGTERM', async () => {
    const cleanup = new Cleanup();
    onTestFinished(() => cleanup.run());
    const dir = tempDir(cleanup, 'cli-worker');
    const doc = exampleDocument();
    for (const d of Object.values(doc.deadlines) as Record<string, unknown>[]) {
      d.clock = 'calendar';
      delete d.calendar;
    }
    doc.warnings = { at: [] };
    doc.deadlines.firstResponse.within = 'PT1S';
    writeFileSync(join(dir, 'policy.yaml'), stringify(doc));
    const rt = await testRuntime({ policies: [parsePolicy(doc, 'worker test policy')] });
    cleanup.add(() => closeRuntime(rt));

    const port = await freePort();
    const file = join(dir, 'intervene.yaml');
    writeFileSync(
      file,
      stringify({
        REDIS_URL: redisUrl(),
        PORT: port,
        INTERVENE_PREFIX: rt.config.INTERVENE_PREFIX,
        INTERVENE_QUEUE_PREFIX: rt.config.INTERVENE_QUEUE_PREFIX,
        INTERVENE_PARTITIONS: rt.config.INTERVENE_PARTITIONS,
        INTERVENE_POLICIES: join(dir, 'policy.yaml'),
        INTERVENE_VAR_DIR: rt.config.INTERVENE_VAR_DIR,
        INTERVENE_GRACE_MS: 10_000,
      }),
    );
    // Only LOG_LEVEL comes from the environment; everything else from the file.
    const worker = spawnCli(
      ['worker', '--only', 'deadlines,dispatcher', '--config', file],
      { LOG_LEVEL: 'info' },
      cleanup,
    );
    await waitFor(() => worker.stdout().includes('intervene running') || !worker.alive(), {
      timeoutMs: 20_000,
      what: 'the worker to start',
    });
    expect(worker.alive(), worker.stderr()).toBe(true);
    expect(worker.stdout()).toContain('"workers":["deadlines","dispatcher"]');

    // A case opened here misses its first response; the worker process fires it (3.1.3).
    const { caseId } = await rt.engine.open(openCase(), agent);
    const escalated = await waitForState(rt, caseId, 'escalated', 10_000);
    expect(escalated.context.deadlines.firstResponse?.status).toBe('breached');
    // No HTTP API in a worker process.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();

    worker.process.kill('SIGTERM');
    const exit = await worker.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stdout).toContain('stopped cleanly');
    expect(exit.stdout).not.toContain('node started without');
  }, 60_000);

  it('stops gracefully through bin/intervene.js (npx intervene): the wrapper passes SIGTERM on', async () => {
    const cleanup = new Cleanup();
    onTestFinished(() => cleanup.run());
    const wrapper = await startWorker(cleanup, ['bin/intervene.js', 'worker', '--only', 'dispatcher']);
    await wrapper.running;
    wrapper.process.kill('SIGTERM');
    expect(await wrapper.exited, wrapper.output()).toBe(0);
    expect(wrapper.output()).toContain('stopped cleanly');
    // The wrapper starts the CLI with the service's Node flags (src/node-flags.ts).
    expect(wrapper.output()).not.toContain('node started without');
  }, 60_000);

  it('warns when node was started without the service flags', async () => {
    const cleanup = new Cleanup();
    onTestFinished(() => cleanup.run());
    const worker = await startWorker(cleanup, ['--import', 'tsx', 'src/cli/main.ts', 'worker', '--only', 'dispatcher']);
    await worker.running;
    const warning = worker
      .output()
      .split('\n')
      .find((line) => line.includes('node started without'));
    expect(warning, worker.output()).toBeDefined();
    expect(JSON.parse(warning as string)).toMatchObject({ level: 40, missing: [...NODE_FLAGS] });
    worker.process.kill('SIGTERM');
    expect(await worker.exited, worker.output()).toBe(0);
  }, 60_000);
});

/** A worker's environment on prefixes of its own (dropped at cleanup), logging at info. */
async function wrapperEnv(cleanup: Cleanup): Promise<Record<string, string>> {
  const prefix = uniquePrefix();
  cleanup.add(async () => {
    await dropPrefix(redisUrl(), `${prefix}:`);
    await dropPrefix(redisUrl(), `${prefix}-bull`);
  });
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    REDIS_URL: redisUrl(),
    INTERVENE_PREFIX: `${prefix}:`,
    INTERVENE_QUEUE_PREFIX: `${prefix}-bull`,
    INTERVENE_VAR_DIR: join(tempDir(cleanup, 'cli-wrapper'), 'var'),
    LOG_LEVEL: 'info',
  };
}

/** `node <args>` from the repository root with a worker's environment (wrapperEnv); `running` waits for it. */
async function startWorker(cleanup: Cleanup, args: readonly string[]) {
  const child = spawn(process.execPath, args, {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: await wrapperEnv(cleanup),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanup.add(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const running = (async () => {
    await waitFor(() => out.includes('intervene running') || child.exitCode !== null, {
      timeoutMs: 20_000,
      what: 'the worker to start',
    });
    expect(child.exitCode, out).toBeNull();
  })();
  return { process: child, exited, running, output: () => out };
}
