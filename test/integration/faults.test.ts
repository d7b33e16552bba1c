import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { ApplyResult } from '../../src/engine/engine.ts';
import { loadPolicyFiles } from '../../src/policy/policy.ts';
import type { CommitRequest } from '../../src/store/case-store.ts';
import { startRedisServer } from '../../src/store/redis.ts';
import { type AuditEntry, auditOf } from '../support/cases.ts';
import { Cleanup, lossyProxy, sleep, spawnNode, stallingProxy, tempDir, waitFor } from '../support/faults.ts';
import { exampleDocument, openCase, testPolicy } from '../support/policy.ts';
import { agent, closeRuntime, redisUrl, testRuntime, VERIFY } from '../support/runtime.ts';

// Fault injection against real Redis and real processes (DESIGN.md invariants 2, 4, 5, 6).
// Each test owns what it starts (redis-server, worker processes, temp dirs) and stops it when it
// finishes, passed or failed (onTestFinished).

/**
 * A private redis-server, a test runtime (which opens cases and dispatches their timers, but runs no
 * worker) and the environment for `workers/deadlines.ts` child processes on the same prefixes.
 */
async function deadlineRig(cleanup: Cleanup, name: string, opts: { firstResponse: string; leadMs: number }) {
  const dir = tempDir(cleanup, name);
  const server = await startRedisServer(join(dir, 'redis'));
  cleanup.add(
    () => server.stop(),
    () => server.kill('SIGKILL'),
  );
  // One policy file for the test runtime and the worker processes: pinning refuses other content.
  const policyFile = join(dir, 'policy.yaml');
  const doc = exampleDocument();
  doc.deadlines.firstResponse.within = opts.firstResponse;
  // One firing per case: no warnings before the breach.
  doc.warnings = { at: [] };
  writeFileSync(policyFile, stringify(doc));
  const policies = await loadPolicyFiles(policyFile);
  // The lead is the producer's: the runtime that commits queues each timer `leadMs` before due.
  const lead = String(opts.leadMs);
  const rt = await testRuntime({
    url: server.url,
    policies,
    env: { INTERVENE_VAR_DIR: join(dir, 'var-test'), INTERVENE_TIMER_LEAD_MS: lead },
  });
  cleanup.add(() => rt.close());
  const queue = rt.deadlineQueue;
  const workerEnv = {
    REDIS_URL: server.url,
    INTERVENE_PREFIX: rt.config.INTERVENE_PREFIX,
    INTERVENE_QUEUE_PREFIX: rt.config.INTERVENE_QUEUE_PREFIX,
    INTERVENE_PARTITIONS: String(rt.config.INTERVENE_PARTITIONS),
    INTERVENE_POLICIES: policyFile,
    // The same var dir: the development data key (docs/privacy.md) is generated there, shared by every process.
    INTERVENE_VAR_DIR: join(dir, 'var-test'),
    INTERVENE_TIMER_LEAD_MS: lead,
    INTERVENE_LOCK_MS: '2000',
    INTERVENE_STALLED_INTERVAL_MS: '1000',
    LOG_LEVEL: 'silent',
  };
  const counts = async () => {
    const c = await queue.getJobCounts('active', 'waiting', 'delayed', 'failed');
    const escalated = (await rt.store.page('state:escalated', 'desc', 10_000)).length;
    return {
      active: c.active ?? 0,
      waiting: c.waiting ?? 0,
      delayed: c.delayed ?? 0,
      failed: c.failed ?? 0,
      escalated,
    };
  };
  /** Spawns a deadline worker process and waits until it listens on the queue. */
  const startWorker = async () => {
    const before = await queue.getWorkersCount();
    const child = spawnNode(cleanup, 'workers/deadlines.ts', workerEnv);
    await waitFor(
      async () => ((await queue.getWorkersCount()) > before ? true : undefined),
      20_000,
      () => `the worker process did not start: ${child.output()}`,
    );
    return child;
  };
  return { rt, queue, counts, startWorker, workerEnv };
}

describe('faults', () => {
  it('kill -9 a worker process holding running deadline jobs: every case escalates exactly once', async ({
    annotate,
    onTestFinished,
  }) => {
    const cleanup = new Cleanup();
    onTestFinished(() => cleanup.run(), 60_000);
    const { rt, counts, startWorker, workerEnv } = await deadlineRig(cleanup, 'kill-worker', {
      firstResponse: 'PT2S',
      leadMs: 1_500,
    });

    const first = await startWorker();

    // 30 cases in 10 waves 200 ms apart: each job is picked up 500 ms after its open (2 s minus the
    // 1.5 s lead) and held until due, so while early cases escalate, later ones are held in the worker.
    const N = 30;
    const opened: ApplyResult[] = [];
    for (let wave = 0; wave < 10; wave++) {
      const batch = await Promise.all(
        [0, 1, 2].map((i) => rt.engine.open(openCase(), agent, { idempotencyKey: `kill-${wave}-${i}` })),
      );
      opened.push(...batch);
      if (wave < 9) await sleep(200);
    }
    expect(opened).toHaveLength(N);

    // Kill it while it holds running jobs, after it has already fired some (those must not fire again).
    const atKill = await waitFor(
      async () => {
        const c = await counts();
        return c.active > 0 && c.escalated > 0 ? c : undefined;
      },
      10_000,
      async () => `worker 1 never held jobs while others had fired: ${JSON.stringify(await counts())}`,
      10,
    );
    first.process.kill('SIGKILL');
    expect(await first.exited).toMatchObject({ signal: 'SIGKILL' });
    const killedAt = Date.now();
    const afterKill = await counts();
    // The killed worker's jobs are still "active" in Redis, their locks left to expire.
    expect(afterKill.active).toBeGreaterThan(0);
    expect(afterKill.escalated).toBeLessThan(N);

    const second = spawnNode(cleanup, 'workers/deadlines.ts', workerEnv);
    await waitFor(
      async () => ((await counts()).escalated === N ? true : undefined),
      30_000,
      async () => `not every case escalated: ${JSON.stringify(await counts())}; worker 2: ${second.output()}`,
      50,
    );
    const recoveredMs = Date.now() - killedAt;
    // Quiet: nothing running, waiting or delayed; each case's one remaining timer is its hand-off
    // wake-up (PT2H), committed to the timers set and not yet within the promotion horizon.
    await waitFor(
      async () => {
        const c = await counts();
        let timers = 0;
        for (let p = 0; p < rt.store.keys.partitions; p++) timers += await rt.redis.zcard(rt.store.keys.timers(p));
        return c.active === 0 && c.waiting === 0 && c.delayed === 0 && timers === N ? c : undefined;
      },
      10_000,
      async () => `queue did not settle: ${JSON.stringify(await counts())}`,
    );
    // Longer than a stalled-check interval: a duplicate run of a recovered job would show up by now.
    await sleep(1_500);
    const final = await counts();
    expect(final).toMatchObject({ active: 0, waiting: 0, failed: 0, delayed: 0, escalated: N });
    const armed: string[] = [];
    for (let p = 0; p < rt.store.keys.partitions; p++)
      armed.push(...(await rt.redis.zrange(rt.store.keys.timers(p), '0', '-1')));
    expect(armed.map((id) => id.split('.')[1])).toEqual(Array(N).fill('handoff'));

    for (const { caseId } of opened) {
      const found = await rt.engine.get(caseId);
      expect(found?.stored).toMatchObject({ version: 2, state: 'escalated' });
      const ctx = found?.stored.context;
      expect(ctx?.escalation).toMatchObject({ trigger: 'deadline_missed', department: 'team_lead' });
      expect(ctx?.deadlines.firstResponse?.status).toBe('breached');
      const audit = await auditOf(rt, caseId);
      expect(audit.map((e) => [e.v, e.event])).toEqual([
        [1, 'OPEN'],
        [2, 'DEADLINE'],
      ]);
      const missed = audit[1] as AuditEntry;
      expect(missed).toMatchObject({
        from: 'received',
        to: 'escalated',
        clause: '3.1.3',
        actor: { name: 'intervene-timers', role: 'system' },
        data: { name: 'firstResponse' },
      });
      // Never before due, even though the job was queued 1.5 s early and re-run after a crash.
      expect(Date.parse(missed.at)).toBeGreaterThanOrEqual(ctx?.deadlines.firstResponse?.dueAt ?? Infinity);
    }
    // Deliveries committed by the killed worker wait in the outbox for the orphan sweep (5 s grace).
    await waitFor(
      async () => {
        let pending = 0;
        for (let p = 0; p < rt.store.keys.partitions; p++) pending += await rt.redis.xlen(rt.store.keys.outbox(p));
        return pending === 0 ? true : undefined;
      },
      20_000,
      async () => 'the outbox never drained',
    );
    // What a department or customer sees: one hand-off and one notice per case, not two.
    const notices = await rt.notifyQueue.getWaiting();
    const ids = notices.map((j) => j.id as string).sort();
    expect(ids).toEqual(opened.flatMap(({ caseId }) => [`${caseId}.handoff.1`, `${caseId}.notice.2`]).sort());

    await annotate(
      `at kill: ${atKill.active} jobs active in worker 1, ${atKill.escalated}/${N} cases escalated; ` +
        `all ${N} escalated ${recoveredMs} ms after the kill (lock 2 s, stalled check 1 s)`,
    );
  }, 90_000);

  // Invariant 6 says any worker can be killed at any instruction. BullMQ's default maxStalledCount (1)
  // fails a job for good the second time it is found stalled, and nothing re-arms that deadline: the
  // outbox entry that scheduled it is long gone. The deadline worker therefore tolerates repeated
  // stalls (its firing is idempotent: job id as idempotency key, epoch check).
  it('a deadline job held by two workers that are both killed -9 still fires, once', async ({
    annotate,
    onTestFinished,
  }) => {
    const cleanup = new Cleanup();
    onTestFinished(() => cleanup.run(), 60_000);
    // Queued 10 s early (the largest lead the configuration allows) and held, so the job stays active
    // long enough for two workers to die holding it, each after the other has recovered it.
    const { rt, queue, counts, startWorker } = await deadlineRig(cleanup, 'double-stall', {
      firstResponse: 'PT12S',
      leadMs: 10_000,
    });
    const first = await startWorker();
    const opened = await Promise.all(
      [0, 1, 2].map((i) => rt.engine.open(openCase(), agent, { idempotencyKey: `double-${i}` })),
    );
    const dueAt = Math.max(
      ...(await Promise.all(
        opened.map(async (o) => (await rt.engine.get(o.caseId))?.stored.context.deadlines.firstResponse?.dueAt ?? 0),
      )),
    );
    const held = (stalls: number) => async () => {
      const active = await queue.getActive();
      return active.length === opened.length && active.every((j) => j.stalledCounter === stalls) ? true : undefined;
    };
    await waitFor(held(0), 10_000, async () => `worker 1 never held the jobs: ${JSON.stringify(await counts())}`);
    first.process.kill('SIGKILL');
    await first.exited;
    const second = await startWorker();
    await waitFor(held(1), 15_000, async () => `worker 2 never re-held the jobs: ${JSON.stringify(await counts())}`);
    const secondKillBeforeDueMs = dueAt - Date.now();
    expect(secondKillBeforeDueMs).toBeGreaterThan(0);
    second.process.kill('SIGKILL');
    await second.exited;
    await startWorker();

    const outcome = await waitFor(
      async () => {
        const c = await counts();
        return c.escalated === opened.length || c.failed > 0 ? c : undefined;
      },
      Math.max(0, dueAt - Date.now()) + 10_000,
      async () => `neither escalated nor failed: ${JSON.stringify(await counts())}`,
      50,
    );
    const failed = await queue.getFailed();
    await annotate(
      `second kill ${secondKillBeforeDueMs} ms before due; then ${JSON.stringify(outcome)}; failed jobs: ` +
        JSON.stringify(failed.map((j) => `${j.id}: ${j.failedReason}`)),
    );
    expect(failed.map((j) => j.failedReason)).toEqual([]);
    await waitFor(
      async () => ((await counts()).escalated === opened.length ? true : undefined),
      Math.max(0, dueAt - Date.now()) + 10_000,
      async () => `not every case escalated: ${JSON.stringify(await counts())}`,
      50,
    );
    for (const { caseId } of opened) {
      expect((await auditOf(rt, caseId)).map((e) => e.event)).toEqual(['OPEN', 'DEADLINE']);
    }
  }, 90_000);

  it('a Redis restart with AOF mid-run loses nothing accepted', async ({ annotate, onTestFinished }) => {
    const cleanup = new Cleanup();
    onTestFinished(() => cleanup.run(), 60_000);
    const dir = tempDir(cleanup, 'aof-restart');
    const redisDir = join(dir, 'redis');
    // The shipped settings: appendonly yes, appendfsync everysec, and no RDB (`--save ''`), so a
    // restart can only recover what is in the AOF.
    let server = await startRedisServer(redisDir);
    cleanup.add(
      () => server.stop(),
      () => server.kill('SIGKILL'),
    );
    const rt = await testRuntime({ url: server.url, env: { INTERVENE_VAR_DIR: join(dir, 'var') } });
    cleanup.add(() => rt.close());
    // The runtime's BullMQ queues emit connection errors while Redis is down; without a listener
    // BullMQ prints each one to stderr (runtime.ts attaches none).
    const queueErrors: string[] = [];
    for (const q of [rt.deadlineQueue, rt.notifyQueue]) q.on('error', (err) => queueErrors.push(err.message));

    type Ack = { caseId: string; version: number; event: string; at: number };
    const acks: Ack[] = [];
    const failures: { ms: number; message: string; at: number }[] = [];
    let stopped = false;

    /** Retries one request (same idempotency key, same body) until it is acknowledged. */
    const step = async (event: string, send: () => Promise<ApplyResult>): Promise<ApplyResult | undefined> => {
      while (!stopped) {
        const started = Date.now();
        try {
          const result = await send();
          acks.push({ caseId: result.caseId, version: result.version, event, at: Date.now() });
          return result;
        } catch (error) {
          failures.push({ ms: Date.now() - started, message: (error as Error).message, at: started });
          await sleep(20);
        }
      }
      return undefined;
    };
    const events = [VERIFY, { type: 'RESPOND', message: 'On it.' }, { type: 'CUSTOMER_REPLY' }] as const;
    const client = async (n: number) => {
      for (let i = 0; !stopped; i++) {
        const opened = await step('OPEN', () => rt.engine.open(openCase(), agent, { idempotencyKey: `aof-${n}-${i}` }));
        if (!opened) return;
        for (const [j, event] of events.entries()) {
          const key = `${opened.caseId}-${j}`;
          const done = await step(event.type, () =>
            rt.engine.apply(opened.caseId, event, agent, { idempotencyKey: key }),
          );
          if (!done) return;
        }
      }
    };
    const clients = Promise.all(Array.from({ length: 8 }, (_, n) => client(n)));

    // Writes run for 2.5 s, then redis-server is killed -9. With `everysec`, Redis write()s the AOF
    // before it answers, and fsyncs in the background about once a second: writes acknowledged in the
    // last second or so may not be fsynced yet, only in the OS page cache. They survive a kill -9 of the
    // process (the kernel still has them), not an OS crash or power loss, which this test does not cover.
    await sleep(2_500);
    server.kill('SIGKILL');
    const killedAt = Date.now();
    const ackedBeforeKill = acks.length;
    const inLastSecond = acks.filter((a) => a.at > killedAt - 1_000).length;

    // While Redis is down, requests fail fast (enableOfflineQueue: false) and are not "accepted".
    await sleep(1_000);
    const failedWhileDown = failures.filter((f) => f.at + f.ms >= killedAt);
    expect(failedWhileDown.length).toBeGreaterThan(0);
    const slowest = Math.max(...failedWhileDown.map((f) => f.ms));
    expect(slowest).toBeLessThan(1_000);

    const restartAt = Date.now();
    server = await startRedisServer(redisDir, server.port);
    await waitFor(
      async () => (rt.redis.status === 'ready' ? true : undefined),
      20_000,
      () => `the runtime did not reconnect: ${rt.redis.status}`,
    );
    const reconnectedAt = Date.now();
    await sleep(1_000);
    stopped = true;
    await clients;
    const ackedAfterRestart = acks.filter((a) => a.at >= restartAt).length;
    // Nothing is acknowledged while Redis is down (beyond replies already on the wire at the kill).
    expect(acks.filter((a) => a.at > killedAt + 100 && a.at < restartAt)).toEqual([]);

    expect(ackedBeforeKill).toBeGreaterThan(100);
    expect(inLastSecond).toBeGreaterThan(0);
    expect(ackedAfterRestart).toBeGreaterThan(0);
    // Every failure is Redis being unreachable, never a refusal or a conflict.
    for (const f of failures) {
      expect(f.message).toMatch(/writeable|Connection is closed|max retries|ECONNREFUSED|LOADING|ECONNRESET|EPIPE/i);
    }

    const byCase = new Map<string, Ack[]>();
    for (const a of acks) byCase.set(a.caseId, [...(byCase.get(a.caseId) ?? []), a]);
    let lost = 0;
    for (const [caseId, list] of byCase) {
      const { stored } = await rt.store.load(caseId);
      const audit = await auditOf(rt, caseId);
      const top = Math.max(...list.map((a) => a.version));
      if (!stored || stored.version < top) lost++;
      expect(stored?.version, `case ${caseId}`).toBeGreaterThanOrEqual(top);
      // The audit is gapless and each acknowledged event sits at the version it was acknowledged with.
      expect(audit.map((e) => e.v)).toEqual(audit.map((_, i) => i + 1));
      expect(audit.length).toBe(stored?.version);
      for (const a of list) expect(audit[a.version - 1]?.event, `case ${caseId} v${a.version}`).toBe(a.event);
    }
    expect(lost).toBe(0);

    await annotate(
      `${acks.length} acknowledged writes on ${byCase.size} cases, ${ackedBeforeKill} before the kill ` +
        `(${inLastSecond} in its last second, possibly not yet fsynced), ${ackedAfterRestart} after the restart; ` +
        `${failedWhileDown.length} requests failed while Redis was down, slowest in ${slowest} ms; ` +
        `Redis restarted and the runtime reconnected in ${reconnectedAt - restartAt} ms; 0 lost`,
    );
  }, 60_000);

  it('a commit executed twice is one transition; an idempotency key replays or conflicts', async ({
    onTestFinished,
  }) => {
    const cleanup = new Cleanup();
    onTestFinished(() => cleanup.run(), 60_000);
    const dir = tempDir(cleanup, 'commit-twice');
    const rt = await testRuntime({ env: { INTERVENE_VAR_DIR: dir } });
    cleanup.add(() => closeRuntime(rt));
    const { store } = rt;

    const opened = await rt.engine.open(openCase(), agent, { idempotencyKey: 'twice-open' });
    await rt.dispatcher.flush();
    const { stored } = await store.load(opened.caseId);
    if (!stored) throw new Error('the opened case is missing');
    const outbox = store.keys.forCase(opened.caseId).outbox;
    const outboxBefore = await rt.redis.xlen(outbox);
    const at = stored.context.updatedAt + 1;

    // What the engine would send for a RESPOND, sent twice as ioredis does after a reconnect.
    const request: CommitRequest = {
      caseId: opened.caseId,
      expectedVersion: 1,
      state: 'received',
      indexes: [],
      ...(stored.opened ? { opened: stored.opened } : {}),
      policyVersion: stored.policyVersion,
      context: { ...stored.context, responded: true, updatedAt: at },
      idempotencyKey: 'resent-commit',
      bodyHash: 'body-1',
      audit: { v: 2, at: new Date(at).toISOString(), event: 'RESPOND', from: 'received', to: 'received' },
      result: { caseId: opened.caseId, version: 2, state: 'received', outcome: 'applied' },
      outbox: [
        { kind: 'timer.cancel', caseId: opened.caseId, name: 'firstResponse', epoch: 1 },
        { kind: 'timer.arm', caseId: opened.caseId, name: 'initialNotice', epoch: 2, dueAt: at + 3_600_000 },
      ],
    };
    const once = await store.commit(request);
    expect(once).toMatchObject({ kind: 'ok', version: 2 });
    const twice = await store.commit(request);
    expect(twice).toEqual({ kind: 'replay', result: request.result });
    expect((await store.load(opened.caseId)).stored?.version).toBe(2);
    expect((await auditOf(rt, opened.caseId)).map((e) => e.v)).toEqual([1, 2]);
    expect(await rt.redis.xlen(outbox)).toBe(outboxBefore + 2);

    // Both copies in flight at once: the script is atomic, one applies and the other replays.
    const concurrent = {
      ...request,
      expectedVersion: 2,
      idempotencyKey: 'resent-concurrently',
      result: { ...request.result, version: 3 },
      audit: { ...request.audit, v: 3 },
      outbox: [],
    };
    const pair = await Promise.all([store.commit(concurrent), store.commit(concurrent)]);
    expect(pair.map((r) => r.kind).sort()).toEqual(['ok', 'replay']);
    expect((await store.load(opened.caseId)).stored?.version).toBe(3);
    expect(await store.history(opened.caseId)).toHaveLength(3);

    // The same key with another body is a conflict, and writes nothing.
    expect(await store.commit({ ...request, bodyHash: 'body-2' })).toEqual({ kind: 'conflict' });
    expect((await store.load(opened.caseId)).stored?.version).toBe(3);

    // engine.apply: the same key and body replays the first answer and changes nothing.
    await rt.dispatcher.flush();
    const first = await rt.engine.apply(opened.caseId, VERIFY, agent, { idempotencyKey: 'verify-1' });
    expect(first).toMatchObject({ version: 4, state: 'verified', outcome: 'applied' });
    await rt.dispatcher.flush();
    const auditBefore = await store.history(opened.caseId);
    const outboxNow = await rt.redis.xlen(outbox);
    const again = await rt.engine.apply(opened.caseId, VERIFY, agent, { idempotencyKey: 'verify-1' });
    expect(again).toEqual({ ...first, outcome: 'replayed' });
    expect(await store.history(opened.caseId)).toEqual(auditBefore);
    expect(await rt.redis.xlen(outbox)).toBe(outboxNow);
    expect((await store.load(opened.caseId)).stored?.version).toBe(4);

    // ... and the same key with another body is IDEMPOTENCY_CONFLICT, writing nothing.
    await expect(
      rt.engine.apply(opened.caseId, { type: 'RESPOND', message: 'hello' }, agent, { idempotencyKey: 'verify-1' }),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    expect(await store.history(opened.caseId)).toEqual(auditBefore);
    expect((await store.load(opened.caseId)).stored?.version).toBe(4);

    // A replayed open returns the same case, a reused open key with another body conflicts.
    const reopened = await rt.engine.open(openCase(), agent, { idempotencyKey: 'twice-open' });
    expect(reopened).toEqual({ ...opened, outcome: 'replayed' });
    await expect(
      rt.engine.open(openCase({ subject: 'Another subject' }), agent, { idempotencyKey: 'twice-open' }),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
  });

  it('a commit whose reply is lost is re-sent by ioredis and applied once', async ({ annotate, onTestFinished }) => {
    const cleanup = new Cleanup();
    onTestFinished(() => cleanup.run(), 60_000);
    const dir = tempDir(cleanup, 'lost-reply');
    // ioredis sends the commit script as EVALSHA <sha>, or EVAL <source> when Redis lacks it.
    const source = readFileSync(new URL('../../src/store/scripts/commit-event.lua', import.meta.url), 'utf8');
    const sha = createHash('sha1').update(source).digest('hex');
    const isCommit = (chunk: Buffer) => chunk.includes(sha) || chunk.includes('Commits one accepted event');
    const shared = new URL(redisUrl());
    const target = { host: shared.hostname, port: Number(shared.port || 6379) };
    const proxy = await lossyProxy(cleanup, target, isCommit);
    const rt = await testRuntime({ url: proxy.url, env: { INTERVENE_VAR_DIR: dir } });
    cleanup.add(() => closeRuntime(rt));

    const { caseId } = await rt.engine.open(openCase(), agent, { idempotencyKey: 'lost-reply-open' });
    await rt.dispatcher.flush();
    const outbox = rt.store.keys.forCase(caseId).outbox;
    expect(await rt.redis.xlen(outbox)).toBe(0);
    const sentBefore = proxy.matches();

    const lost = proxy.loseNextReply();
    // RESPOND meets firstResponse: the case's wake-up moves to initialNotice (a cancel and an arm).
    const respond = { type: 'RESPOND', message: 'We are on it.' } as const;
    const result = await rt.engine.apply(caseId, respond, agent, { idempotencyKey: 'lost-reply-respond' });
    await lost;
    // Sent, run, reply lost, connection reset; ioredis reconnected and sent it again.
    expect(proxy.matches() - sentBefore).toBe(2);
    expect(result).toMatchObject({ caseId, version: 2, state: 'received' });
    const { stored } = await rt.store.load(caseId);
    expect(stored).toMatchObject({ version: 2, state: 'received' });
    expect(stored?.context.deadlines.firstResponse?.status).toBe('met');
    expect((await auditOf(rt, caseId)).map((e) => [e.v, e.event])).toEqual([
      [1, 'OPEN'],
      [2, 'RESPOND'],
    ]);
    // The second run answered 'replay', so the engine could not dispatch by entry id: it sweeps the
    // partition at once instead. The timer moves to initialNotice exactly once, and the outbox empties.
    // The wake-up timer moved to initialNotice exactly once, inside the (single) commit.
    const initialNotice = stored?.context.deadlines.initialNotice;
    const timers = rt.store.keys.timers(rt.store.partitionOf(caseId));
    expect(await rt.redis.zrange(timers, '0', '-1')).toEqual([`${caseId}.initialNotice.${initialNotice?.epoch}`]);
    await waitFor(
      async () => ((await rt.redis.xlen(outbox)) === 0 ? true : undefined),
      5_000,
      async () => `outbox still holds ${await rt.redis.xlen(outbox)} entries`,
    );
    await annotate(`commit sent twice through the proxy, applied once; apply() answered outcome '${result.outcome}'`);
  });

  it('close() with a stalled Redis ends: the workers get the grace period, then their connections are dropped', async ({
    onTestFinished,
  }) => {
    const cleanup = new Cleanup();
    onTestFinished(() => cleanup.run(), 60_000);
    const shared = new URL(redisUrl());
    const proxy = await stallingProxy(cleanup, { host: shared.hostname, port: Number(shared.port || 6379) });
    const rt = await testRuntime({
      url: proxy.url,
      env: { INTERVENE_VAR_DIR: tempDir(cleanup, 'stalled'), INTERVENE_GRACE_MS: '1000' },
      policies: [testPolicy({ firstResponse: 'PT1S' })],
    });
    let closed = false;
    cleanup.add(async () => {
      if (!closed) await closeRuntime(rt);
    });
    const deadlines = rt.startWorkers().find((w) => w.name === 'deadlines');
    const active = new Promise<void>((resolve) => deadlines?.once('active', () => resolve()));
    await rt.engine.open(openCase(), agent);
    // A deadline job is active (held until its due time, then fired): Redis stops answering, every
    // connection left open.
    await active;
    proxy.stall();
    const started = performance.now();
    await rt.close();
    closed = true;
    const took = performance.now() - started;
    // The job could not finish: close() waited out the grace period (1 s) ...
    expect(took).toBeGreaterThanOrEqual(1_000);
    // ... and then no step longer than its bound (2 s to disconnect the workers, 5 s each for the dispatcher
    // and retention loops, 2 s for the queues, 2 s for the worker connections). Before, it waited for ever.
    expect(took).toBeLessThan(1_000 + 2_000 + 2 * 5_000 + 2_000 + 2_000);
  }, 60_000);
});
