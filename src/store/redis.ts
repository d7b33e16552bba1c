import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { useOnePassEncoding } from './wire.ts';

/**
 * The shipped Redis settings (README "Running it"; docker-compose.yml runs Redis with exactly these, which
 * a test checks). AOF with fsync every second; no RDB snapshots besides the AOF's own base (`save ""`);
 * no eviction (BullMQ needs it); hz 100 (BullMQ's delayed jobs are promoted on Redis's tick); and no LZF
 * compression of the AOF base: the rewrite's child then takes ~36 % less time and CPU (1.33 → 0.85 s on a
 * 250 MB dataset here) for a ~24 % larger base file. The case records are already compressed.
 */
export const REDIS_SETTINGS = [
  '--appendonly',
  'yes',
  '--appendfsync',
  'everysec',
  '--save',
  '',
  '--rdbcompression',
  'no',
  '--maxmemory-policy',
  'noeviction',
  '--hz',
  '100',
];

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  stop(): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Starts a private `redis-server` from the PATH with the shipped settings; resolves once it answers PING. */
export async function startRedisServer(dir: string, port?: number): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const absolute = resolve(dir);
  mkdirSync(absolute, { recursive: true });
  const child = spawn(
    'redis-server',
    ['--port', String(p), '--bind', '127.0.0.1', '--dir', absolute, ...REDIS_SETTINGS],
    {
      stdio: 'ignore',
    },
  );
  const exited = new Promise<never>((_, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}`)));
  });
  const url = `redis://127.0.0.1:${p}`;
  await Promise.race([waitForPing(url, 10_000), exited]);
  child.removeAllListeners('exit');
  return {
    url,
    port: p,
    dir: absolute,
    kill: (signal) => child.kill(signal),
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
}

export async function waitForPing(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ping(url)) return;
    if (Date.now() > deadline) throw new Error(`no Redis answered at ${url} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function ping(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 500,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** A client for commands: fails fast when Redis is down instead of queueing (STACK-NOTES). */
export function commandClient(url: string): Redis {
  useOnePassEncoding();
  // A stalled Redis answers nothing: time commands out so callers get a 503 within a second, not a hang.
  return new Redis(url, {
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 800,
  });
}

/** A client for BullMQ: workers need `maxRetriesPerRequest: null`. */
export function queueClient(url: string): Redis {
  useOnePassEncoding();
  return new Redis(url, { maxRetriesPerRequest: null });
}
