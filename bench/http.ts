// HTTP section of `npm run bench` (issue 3): sustained events/s over keep-alive connections, and
// p50/p99 latency at a fixed 1,000 events/s. The API runs in its own process (as `npm start` would,
// workers off), autocannon drives it from this one, on the bench's Redis.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { stringify } from 'yaml';
import { newKey, sha256 } from '../src/api/keys.ts';
import { freePort } from '../src/store/redis.ts';

export interface HttpFigures {
  httpEventsPerSec: number;
  httpP50MsAt1000: number;
  httpP99MsAt1000: number;
  httpNon2xx: number;
}

const CASES = Number(process.env.BENCH_HTTP_CASES ?? 2_000);
const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 50);

const OPEN = (i: number) =>
  JSON.stringify({
    contractId: 'MC-2026-001',
    channel: 'chat',
    category: 'inquiry',
    customer: { id: `bench-${i}`, name: 'Bench Customer' },
    subject: 'How do I use the service?',
    description: 'A question about the service, asked by the HTTP benchmark.',
  });
const RESPOND = JSON.stringify({ type: 'RESPOND', message: 'Thanks, we are looking into it.' });

export async function httpBench(redisUrl: string, log: (line: string) => void): Promise<HttpFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'intervene-bench-http-'));
  const key = newKey();
  writeFileSync(join(dir, 'keys.yaml'), stringify([{ name: 'bench', role: 'service', sha256: sha256(key) }]));
  const port = await freePort();
  const server = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      REDIS_URL: redisUrl,
      PORT: String(port),
      INTERVENE_WORKERS: 'api',
      INTERVENE_KEYS: join(dir, 'keys.yaml'),
      INTERVENE_VAR_DIR: dir,
      INTERVENE_PREFIX: 'http:',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  try {
    for (let i = 0; ; i++) {
      if (
        await fetch(`${base}/readyz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (i > 200) throw new Error('the API did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Cases to send events to: spread over many so per-case ordering is not what is measured.
    const ids: string[] = [];
    for (let i = 0; i < CASES; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, CASES - i) }, (_, j) =>
          fetch(`${base}/v1/cases`, { method: 'POST', headers, body: OPEN(i + j) }).then(
            (r) => r.json() as Promise<{ id: string }>,
          ),
        ),
      );
      ids.push(...batch.map((c) => c.id));
    }
    let next = 0;
    const requests = [
      {
        method: 'POST' as const,
        headers,
        body: RESPOND,
        setupRequest: ((req: { path: string }) => {
          req.path = `/v1/cases/${ids[next++ % ids.length]}/events`;
          return req;
        }) as never,
      },
    ];
    const run = (opts: Record<string, unknown>) =>
      autocannon({ url: base, connections: CONNECTIONS, duration: SECONDS, requests, ...opts }) as Promise<{
        requests: { average: number };
        latency: { p50: number; p99: number };
        non2xx: number;
        errors: number;
      }>;
    const sustained = await run({});
    log(
      `  sustained: ${Math.round(sustained.requests.average)} events/s over ${CONNECTIONS} keep-alive connections ` +
        `for ${SECONDS} s (p50 ${sustained.latency.p50} ms, p99 ${sustained.latency.p99} ms, non-2xx ${sustained.non2xx})`,
    );
    const fixed = await run({ overallRate: 1_000 });
    log(
      `  at 1,000 events/s: p50 ${fixed.latency.p50} ms, p99 ${fixed.latency.p99} ms (non-2xx ${fixed.non2xx}, errors ${fixed.errors})`,
    );
    return {
      httpEventsPerSec: Math.round(sustained.requests.average),
      httpP50MsAt1000: fixed.latency.p50,
      httpP99MsAt1000: fixed.latency.p99,
      httpNon2xx: sustained.non2xx + fixed.non2xx,
    };
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

// `npx tsx bench/http.ts` runs this section alone against a private redis-server.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { startRedisServer } = await import('../src/store/redis.ts');
  const dir = mkdtempSync(join(tmpdir(), 'intervene-bench-redis-'));
  const redis = await startRedisServer(dir);
  try {
    const figures = await httpBench(redis.url, (line) => process.stdout.write(`${line}\n`));
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
