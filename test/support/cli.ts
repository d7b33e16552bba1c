import { type ChildProcess, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/node-flags.ts';
import type { Cleanup } from './faults.ts';

// The real `intervene` CLI as a child process (`node --import tsx src/cli/main.ts ...`), with exactly the
// environment a test gives it (plus PATH and HOME): nothing leaks in from the test's own environment.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = 'src/cli/main.ts';

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface CliProcess {
  readonly process: ChildProcess;
  readonly exited: Promise<CliResult>;
  stdout(): string;
  stderr(): string;
  alive(): boolean;
}

/** Starts `intervene <args>`; `cleanup` SIGKILLs it if it still runs then. */
export function spawnCli(
  args: readonly string[],
  env: Record<string, string>,
  cleanup?: Cleanup,
  input?: string,
): CliProcess {
  const started = performance.now();
  const child = spawn(process.execPath, [...NODE_FLAGS, '--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir(), ...env },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin?.end(input);
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<CliResult>((resolve) => {
    child.once('close', (code, signal) =>
      resolve({ code, signal, stdout: out, stderr: err, ms: performance.now() - started }),
    );
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  cleanup?.add(
    async () => {
      if (alive()) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    () => child.kill('SIGKILL'),
  );
  return { process: child, exited, stdout: () => out, stderr: () => err, alive };
}

/** Runs `intervene <args>` to the end (SIGKILL after `timeoutMs`). */
export async function runCli(
  args: readonly string[],
  env: Record<string, string>,
  opts: { timeoutMs?: number } = {},
): Promise<CliResult> {
  const cli = spawnCli(args, env);
  const timer = setTimeout(() => cli.process.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
  try {
    return await cli.exited;
  } finally {
    clearTimeout(timer);
  }
}
