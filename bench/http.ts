// HTTP section of `npm run bench` (issue 3): sustained events/s over keep-alive connections (autocannon), and
// p50/p99 latency at a fixed 1,000 events/s, paced evenly (an open loop of this file's own: autocannon's
// `overallRate` sends each connection's quota for a second as fast as it can at the start of that second,
// so it measures bursts at the sustained rate, not a steady 1,000/s). The API runs in its own process (as
// `npm start` would, workers off), on the bench's Redis.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { stringify } from 'yaml';
import { newKey, sha256 } from '../src/api/keys.ts';
import { NODE_FLAGS } from '../src/node-flags.ts';
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
  // Started as `npm start` starts the service: with its Node flags.
  const server = spawn(process.execPath, [...NODE_FLAGS, '--import', 'tsx', 'src/main.ts'], {
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
    const fixed = await paced(base, headers, (i) => `/v1/cases/${ids[i % ids.length]}/events`, 1_000, SECONDS);
    log(
      `  at 1,000 events/s (paced: one request every 1 ms, latency from its scheduled time): p50 ${fixed.latency.p50} ms, ` +
        `p99 ${fixed.latency.p99} ms, max ${fixed.latency.max} ms (${fixed.sent} sent, non-2xx ${fixed.non2xx}, errors ${fixed.errors})`,
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

/**
 * An open loop at `rate` requests/s for `seconds`: request i is due at start + i / rate and is sent then,
 * whatever earlier requests are doing, over up to CONNECTIONS keep-alive sockets. Latency runs from the
 * scheduled time, so a server that falls behind shows it (no coordinated omission).
 */
async function paced(
  base: string,
  headers: Record<string, string>,
  path: (i: number) => string,
  rate: number,
  seconds: number,
): Promise<{ latency: { p50: number; p99: number; max: number }; sent: number; non2xx: number; errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const { hostname, port } = new URL(base);
  const total = rate * seconds;
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const inFlight: Promise<void>[] = [];
  const send = (i: number, due: number) =>
    new Promise<void>((done) => {
      const req = request(
        {
          host: hostname,
          port,
          method: 'POST',
          path: path(i),
          headers: { ...headers, 'content-length': Buffer.byteLength(RESPOND) },
          agent,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - due);
            if (res.statusCode === undefined || res.statusCode >= 300) non2xx++;
            done();
          });
        },
      );
      req.on('error', () => {
        errors++;
        done();
      });
      req.end(RESPOND);
    });
  const start = performance.now() + 10;
  for (let i = 0; i < total; ) {
    const now = performance.now();
    for (; i < total && start + (i * 1000) / rate <= now; i++) inFlight.push(send(i, start + (i * 1000) / rate));
    if (i < total) await new Promise((r) => setTimeout(r, Math.max(0, start + (i * 1000) / rate - performance.now())));
  }
  await Promise.all(inFlight);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return { latency: { p50: at(0.5), p99: at(0.99), max: at(1) }, sent: total, non2xx, errors };
}

// `node --max-semi-space-size=64 --import tsx bench/http.ts` runs this section alone against a private redis-server.
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
