import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../src/node-flags.ts';

// Helpers for fault-injection tests: child processes that can be killed, temp dirs, and clean-up that
// runs whatever happened (a failed assertion must not leave a worker or a redis-server running).

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const STEP_TIMEOUT_MS = 5_000;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Clean-up steps, run last-in first-out; every step runs even if an earlier one throws. Register
 * `run` with the test's `onTestFinished`, so it also runs when the test fails or times out. Steps given
 * an `onExit` (synchronous: SIGKILL a child, remove a dir) also run if this process exits before `run`.
 */
export class Cleanup {
  readonly #steps: (() => unknown)[] = [];
  readonly #onExit: (() => void)[] = [];
  readonly #exitHook = () => {
    for (const step of this.#onExit.reverse()) {
      try {
        step();
      } catch {
        // best effort: the process is exiting
      }
    }
  };

  constructor() {
    process.once('exit', this.#exitHook);
  }

  add(step: () => unknown, onExit?: () => void): void {
    this.#steps.push(step);
    if (onExit) this.#onExit.push(onExit);
  }

  async run(): Promise<void> {
    process.off('exit', this.#exitHook);
    const errors: unknown[] = [];
    while (this.#steps.length > 0) {
      const step = this.#steps.pop() as () => unknown;
      let timer: NodeJS.Timeout | undefined;
      try {
        // A step that hangs (e.g. closing a client whose Redis is gone) must not keep the others from running.
        await Promise.race([
          step(),
          new Promise((_, fail) => {
            timer = setTimeout(
              () => fail(new Error(`a clean-up step took over ${STEP_TIMEOUT_MS} ms`)),
              STEP_TIMEOUT_MS,
            );
          }),
        ]);
      } catch (error) {
        errors.push(error);
      } finally {
        clearTimeout(timer);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'clean-up failed');
  }
}

export function tempDir(cleanup: Cleanup, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `intervene-${name}-`));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  cleanup.add(remove, remove);
  return dir;
}

export interface ChildHandle {
  readonly pid: number;
  readonly process: ChildProcess;
  /** Resolves when the process has exited, with its code or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What the process wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  alive(): boolean;
}

/**
 * Spawns `node --import tsx <script>` from the repository root with exactly the given environment
 * (plus PATH and HOME). The process is SIGKILLed by `cleanup` if it is still running then.
 */
export function spawnNode(cleanup: Cleanup, script: string, env: Record<string, string>): ChildHandle {
  const child = spawn(process.execPath, [...NODE_FLAGS, '--import', 'tsx', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  cleanup.add(
    async () => {
      if (alive()) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    () => child.kill('SIGKILL'),
  );
  if (child.pid === undefined) throw new Error(`could not spawn node for ${script}`);
  return { pid: child.pid, process: child, exited, output: () => out, alive };
}

/** Polls `probe` until it returns a value other than `undefined`; fails with `describe()` on timeout. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  describe: () => string | Promise<string>,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await describe()}`);
    await sleep(intervalMs);
  }
}

export interface LossyProxy {
  readonly url: string;
  /** How many client-to-Redis chunks matched `watch` so far (e.g. how often a script was sent). */
  matches(): number;
  /**
   * The next chunk that matches `watch` is forwarded to Redis, but Redis's reply on that connection is
   * thrown away and the connection is reset shortly after: the command ran, the client never heard.
   * Resolves once that has happened.
   */
  loseNextReply(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of Redis on a free local port: `relay` wires each client connection to its own
 * upstream one (both are destroyed together when either closes). Closed by `cleanup`.
 */
async function tcpProxy(
  cleanup: Cleanup,
  target: { host: string; port: number },
  relay: (client: Socket, upstream: Socket) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop).on('error', drop);
    upstream.on('close', drop).on('error', drop);
    relay(client, upstream);
  });
  await new Promise<void>((ready, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ready());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const close = () =>
    new Promise<void>((done) => {
      for (const s of sockets) s.destroy();
      server.close(() => done());
    });
  cleanup.add(close);
  return { url: `redis://127.0.0.1:${port}`, close };
}

/** A TCP proxy in front of Redis that can lose a reply (a connection reset between execution and answer). */
export async function lossyProxy(
  cleanup: Cleanup,
  target: { host: string; port: number },
  watch: (chunk: Buffer) => boolean,
): Promise<LossyProxy> {
  let matched = 0;
  let armed: (() => void) | undefined;
  const proxy = await tcpProxy(cleanup, target, (client, upstream) => {
    let swallow = false;
    upstream.on('data', (chunk: Buffer) => {
      if (!swallow) client.write(chunk);
    });
    client.on('data', (chunk: Buffer) => {
      const hit = watch(chunk);
      if (hit) matched++;
      upstream.write(chunk);
      if (hit && armed) {
        const done = armed;
        armed = undefined;
        swallow = true;
        // Long enough for Redis to run the command and answer; the answer goes nowhere.
        setTimeout(() => {
          client.resetAndDestroy();
          upstream.destroy();
          done();
        }, 100);
      }
    });
  });
  return {
    ...proxy,
    matches: () => matched,
    loseNextReply: () => new Promise<void>((done) => (armed = done)),
  };
}

export interface StallingProxy {
  readonly url: string;
  /** From now on nothing passes either way, and the connections stay open: Redis hangs, it is not down. */
  stall(): void;
}

/** A TCP proxy in front of Redis that can stall: every connection stays up, no byte gets through. */
export async function stallingProxy(cleanup: Cleanup, target: { host: string; port: number }): Promise<StallingProxy> {
  let stalled = false;
  const proxy = await tcpProxy(cleanup, target, (client, upstream) => {
    upstream.on('data', (chunk: Buffer) => {
      if (!stalled) client.write(chunk);
    });
    client.on('data', (chunk: Buffer) => {
      if (!stalled) upstream.write(chunk);
    });
  });
  return {
    url: proxy.url,
    stall: () => {
      stalled = true;
    },
  };
}
