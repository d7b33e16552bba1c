import { writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { createKey } from '../../src/api/keys.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { generateSecret } from '../../src/notify/sign.ts';
import { loadPolicyFiles } from '../../src/policy/policy.ts';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { freePort } from '../../src/store/redis.ts';
import { auditOf } from '../support/cases.ts';
import { type CliProcess, spawnCli } from '../support/cli.ts';
import { Cleanup, tempDir } from '../support/faults.ts';
import { exampleDocument, openCase } from '../support/policy.ts';
import { dropPrefix, redisUrl, uniquePrefix } from '../support/runtime.ts';
import { sleep, waitFor } from '../support/wait.ts';

// SIGTERM to `intervene serve` while it is busy: the HTTP API stops taking requests, the workers stop
// fetching and finish what they hold, Redis is closed, and the process exits 0 within INTERVENE_GRACE_MS.
// Nothing it accepted is lost: every 201 case is in Redis, every webhook that reached the receiver was
// recorded as delivered, and a later process carries on with the rest, doing nothing twice.

interface Receiver {
  readonly url: string;
  /** Webhook ids received, in order (a retry would appear twice). */
  readonly ids: string[];
  /** Requests received and not yet answered. */
  inFlight(): number;
  /** How long to wait before answering 200; `null`: never answer. */
  delay(ms: number | null): void;
  close(): Promise<void>;
}

async function startReceiver(cleanup: Cleanup): Promise<Receiver> {
  const ids: string[] = [];
  const open = new Set<ServerResponse>();
  let delayMs: number | null = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      ids.push(String(req.headers['webhook-id']));
      open.add(res);
      res.on('close', () => open.delete(res));
      if (delayMs === null) return;
      setTimeout(() => res.writeHead(200).end('ok'), delayMs);
    });
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', () => ready()));
  const close = () =>
    new Promise<void>((done) => {
      server.closeAllConnections();
      server.close(() => done());
    });
  cleanup.add(close);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ids,
    inFlight: () => open.size,
    delay: (ms) => {
      delayMs = ms;
    },
    close,
  };
}

interface Site {
  readonly env: Record<string, string>;
  readonly key: string;
  readonly baseUrl: string;
  readonly prefix: string;
}

/** A policy file with every webhook on the receiver, an API key, and the environment of a service. */
function site(cleanup: Cleanup, receiver: Receiver, port: number, env: Record<string, string>): Site {
  const dir = tempDir(cleanup, 'graceful');
  const doc = exampleDocument();
  const secrets: Record<string, string> = {};
  const hook = (webhook: { url: string; secretEnv: string }, path: string) => {
    webhook.url = `${receiver.url}${path}`;
    secrets[webhook.secretEnv] = generateSecret();
  };
  for (const [id, d] of Object.entries<Record<string, any>>(doc.departments)) if (d.webhook) hook(d.webhook, `/${id}`);
  for (const [kind, n] of Object.entries<Record<string, any>>(doc.notices ?? {}))
    if (n.webhook) hook(n.webhook, `/${kind}`);
  for (const d of Object.values(doc.deadlines) as Record<string, unknown>[]) {
    d.clock = 'calendar';
    delete d.calendar;
  }
  doc.warnings = { at: [] };
  doc.deadlines.firstResponse.within = 'PT1S';
  writeFileSync(join(dir, 'policy.yaml'), stringify(doc));
  const keysFile = join(dir, 'keys.yaml');
  const key = createKey(keysFile, { name: 'crm-backend', role: 'service' });
  const prefix = uniquePrefix();
  cleanup.add(async () => {
    await dropPrefix(redisUrl(), `${prefix}:`);
    await dropPrefix(redisUrl(), `${prefix}-bull`);
  });
  return {
    key,
    prefix,
    baseUrl: `http://127.0.0.1:${port}`,
    env: {
      REDIS_URL: redisUrl(),
      HOST: '127.0.0.1',
      PORT: String(port),
      INTERVENE_PREFIX: `${prefix}:`,
      INTERVENE_QUEUE_PREFIX: `${prefix}-bull`,
      INTERVENE_PARTITIONS: '4',
      INTERVENE_POLICIES: join(dir, 'policy.yaml'),
      INTERVENE_KEYS: keysFile,
      INTERVENE_VAR_DIR: join(dir, 'var'),
      LOG_LEVEL: 'info',
      ...secrets,
      ...env,
    },
  };
}

/** A runtime in this process on the same Redis keys, to inspect and to carry on the work. */
async function sameSite(cleanup: Cleanup, s: Site): Promise<Runtime> {
  const config = loadConfig({ ...s.env, LOG_LEVEL: 'silent' });
  const rt = await createRuntime(config, createLogger('silent'), {
    redisUrl: redisUrl(),
    policies: await loadPolicyFiles(config.INTERVENE_POLICIES),
  });
  cleanup.add(() => rt.close());
  return rt;
}

async function waitReady(s: Site, cli: CliProcess): Promise<void> {
  await waitFor(
    async () => {
      if (!cli.alive()) throw new Error(`the service exited: ${cli.stderr()}${cli.stdout()}`);
      const res = await fetch(`${s.baseUrl}/readyz`).catch(() => undefined);
      return res?.status === 200;
    },
    { timeoutMs: 20_000, intervalMs: 100, what: 'the service to be ready' },
  );
}

const openBody = (n: number) => JSON.stringify(openCase({ subject: `graceful ${n}`, externalRef: `graceful-${n}` }));

/** Opens cases over HTTP until the service stops answering; returns the ids of those answered 201. */
async function openUntilRefused(s: Site, loop: number, accepted: string[], counts: { refused: number }) {
  for (let n = 0; ; n++) {
    try {
      const res = await fetch(`${s.baseUrl}/v1/cases`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${s.key}`,
          'content-type': 'application/json',
          'idempotency-key': `graceful-${loop}-${n}`,
        },
        body: openBody(loop * 100_000 + n),
      });
      const body = (await res.json()) as { id?: string };
      if (res.status !== 201) {
        counts.refused++;
        return;
      }
      accepted.push(body.id as string);
    } catch {
      counts.refused++;
      return;
    }
  }
}

describe('graceful stop (SIGTERM)', () => {
  it('stops taking work, finishes in-flight jobs and requests, exits 0 within the grace, loses nothing', async () => {
    const cleanup = new Cleanup();
    onTestFinished(() => cleanup.run());
    const receiver = await startReceiver(cleanup);
    // Deliveries take 1.5 s to be answered: at SIGTERM the notify worker holds some.
    receiver.delay(1_500);
    const s = site(cleanup, receiver, await freePort(), { INTERVENE_GRACE_MS: '20000' });
    const cli = spawnCli(['serve'], s.env, cleanup);
    await waitReady(s, cli);

    const accepted: string[] = [];
    const counts = { refused: 0 };
    const loops = Array.from({ length: 4 }, (_, i) => openUntilRefused(s, i, accepted, counts));
    // Busy: cases opening, firstResponse deadlines (1 s) firing and escalating, hand-offs in flight.
    await waitFor(() => receiver.inFlight() >= 2, { timeoutMs: 15_000, what: 'deliveries in flight' });
    const held = receiver.inFlight();
    const signalled = performance.now();
    cli.process.kill('SIGTERM');
    const exit = await cli.exited;
    const stopMs = performance.now() - signalled;
    await Promise.all(loops);

    expect(exit.code, `${exit.stderr}\n${exit.stdout.slice(-3000)}`).toBe(0);
    expect(stopMs).toBeLessThan(20_000);
    // The held deliveries were waited for (1.5 s each), not abandoned.
    expect(stopMs).toBeGreaterThan(200);
    expect(exit.stdout).toContain('stopped cleanly');
    expect(held).toBeGreaterThanOrEqual(2);
    expect(receiver.inFlight()).toBe(0);
    expect(accepted.length).toBeGreaterThan(10);
    expect(counts.refused).toBe(4);

    const rt = await sameSite(cleanup, s);
    // Every case answered 201 is in Redis.
    const found = await Promise.all(accepted.map((id) => rt.engine.get(id)));
    expect(found.filter((f) => f === undefined)).toEqual([]);
    // No job left locked by the stopped process: the in-flight ones were finished.
    for (const queue of [rt.deadlineQueue, rt.notifyQueue]) {
      expect((await queue.getJobCounts('active')).active, queue.name).toBe(0);
    }
    // Every webhook that reached the receiver was recorded as delivered by the worker that sent it.
    const received = [...new Set(receiver.ids)];
    expect(received.length).toBeGreaterThanOrEqual(held);
    for (const id of received) {
      const status = await rt.redis.hget(rt.store.keys.forCase(id.split('.')[0] as string).delivery(id), 'status');
      expect(status, id).toBe('delivered');
    }

    // Another process carries on: every accepted case misses its first response once and is handed off.
    receiver.delay(0);
    rt.startWorkers(['deadlines', 'dispatcher', 'notify']);
    await waitFor(
      async () => {
        const statuses = await Promise.all(
          accepted.map((id) => rt.redis.hget(rt.store.keys.forCase(id).delivery(`${id}.handoff.1`), 'status')),
        );
        return statuses.every((st) => st === 'delivered');
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'every accepted case handed off and delivered' },
    );
    await sleep(300);
    for (const id of accepted.slice(0, 50)) {
      const firings = (await auditOf(rt, id)).filter((e) => e.event === 'DEADLINE' && e.data?.name === 'firstResponse');
      expect(firings, id).toHaveLength(1);
    }
    // Nothing was sent twice: the deliveries finished at SIGTERM were not sent again.
    const twice = receiver.ids.filter((id, i) => receiver.ids.indexOf(id) !== i);
    expect(twice).toEqual([]);
  }, 90_000);

  it('cuts off work still running at the end of the grace period: exit 1; the job is re-run later', async () => {
    const cleanup = new Cleanup();
    onTestFinished(() => cleanup.run());
    const receiver = await startReceiver(cleanup);
    receiver.delay(null);
    const s = site(cleanup, receiver, await freePort(), {
      INTERVENE_GRACE_MS: '1000',
      INTERVENE_LOCK_MS: '2000',
      INTERVENE_STALLED_INTERVAL_MS: '1000',
    });
    const cli = spawnCli(['serve'], s.env, cleanup);
    await waitReady(s, cli);
    // Escalated at intake: its hand-off is delivered at once, to a receiver that never answers.
    const res = await fetch(`${s.baseUrl}/v1/cases`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.key}`, 'content-type': 'application/json' },
      body: JSON.stringify(openCase({ flags: ['legal_dispute'] })),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    await waitFor(() => receiver.ids.includes(`${id}.handoff.1`), { what: 'the hand-off to reach the receiver' });

    const signalled = performance.now();
    cli.process.kill('SIGTERM');
    const exit = await cli.exited;
    const stopMs = performance.now() - signalled;
    expect(exit.code, exit.stderr).toBe(1);
    expect(stopMs).toBeGreaterThanOrEqual(1_000);
    expect(stopMs).toBeLessThan(4_000);
    expect(exit.stdout).toContain('grace period over');

    // The job it held is re-run by another worker once its lock expires, and delivered.
    receiver.delay(0);
    const rt = await sameSite(cleanup, s);
    rt.startWorkers(['notify']);
    await waitFor(
      async () =>
        (await rt.redis.hget(rt.store.keys.forCase(id).delivery(`${id}.handoff.1`), 'status')) === 'delivered',
      { timeoutMs: 15_000, intervalMs: 200, what: 'the cut-off hand-off to be delivered by another worker' },
    );
  }, 60_000);
});
