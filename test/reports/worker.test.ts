import { afterEach, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/policy.ts';
import { ReportFolder } from '../../src/reports/folder.ts';
import { localDay, previousPeriod } from '../../src/reports/periods.ts';
import { Reports } from '../../src/reports/reports.ts';
import { createReportsQueue, startReportsWorker } from '../../src/reports/worker.ts';
import type { Runtime } from '../../src/runtime.ts';
import { queueClient } from '../../src/store/redis.ts';
import { ReportStore } from '../../src/store/report-store.ts';
import { exampleDocument, openCase } from '../support/policy.ts';
import { agent, closeRuntime, redisUrl, testRuntime, VERIFY } from '../support/runtime.ts';
import { waitFor } from '../support/wait.ts';

// The reports worker: its fold loop, the BullMQ job schedulers it upserts from the policy, and a
// scheduled run producing a stored report. Real BullMQ, real Redis.

const TZ = 'Asia/Shanghai';
let rt: Runtime | undefined;
afterEach(async () => {
  if (rt) await closeRuntime(rt);
  rt = undefined;
});

/** The example policy with wall clocks, no warnings and the given `reports:` section. */
function policyWith(reports?: Record<string, unknown>) {
  const doc = exampleDocument();
  for (const d of Object.values(doc.deadlines) as Record<string, unknown>[]) {
    d.clock = 'calendar';
    delete d.calendar;
  }
  doc.warnings = { at: [] };
  if (reports) doc.reports = reports;
  return parsePolicy(doc, 'test policy');
}

describe('the reports worker', () => {
  it('upserts one job scheduler per configured period, in the policy time zone, and drops the others', async () => {
    rt = await testRuntime({ policies: [policyWith({ periods: ['daily', 'monthly'], at: '06:15' })] });
    const connection = queueClient(redisUrl());
    const queue = createReportsQueue(connection, rt.config.INTERVENE_QUEUE_PREFIX);
    try {
      // A weekly scheduler left over from an earlier policy version.
      await queue.upsertJobScheduler('report.MC-2026-001.weekly', { pattern: '0 0 * * 1', tz: TZ }, { name: 'report' });
      rt.startWorkers(['reports']);
      const schedulers = await waitFor(
        async () => {
          const list = await queue.getJobSchedulers(0, -1, true);
          return list.length === 2 && !list.some((s) => s.key.endsWith('.weekly')) ? list : undefined;
        },
        { timeoutMs: 10_000, what: 'the report schedulers' },
      );
      expect(schedulers.map((s) => [s.key, s.pattern, s.tz, s.template?.data]).sort()).toEqual([
        ['report.MC-2026-001.daily', '15 6 * * *', TZ, { contractId: 'MC-2026-001', period: 'daily' }],
        ['report.MC-2026-001.monthly', '15 6 1 * *', TZ, { contractId: 'MC-2026-001', period: 'monthly' }],
      ]);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it('folds committed facts into the aggregates by itself, within a second or two', async () => {
    rt = await testRuntime({ policies: [policyWith()] });
    rt.startWorkers(['reports']);
    const { caseId } = await rt.engine.open(openCase() as never, agent);
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    await rt.engine.apply(caseId, VERIFY, agent);
    const reports = new Reports({ store: rt.store, policies: rt.policies, catchUpMs: 0 });
    const today = localDay(Date.now(), TZ);
    const report = await waitFor(
      async () => {
        const r = await reports.render('MC-2026-001', { from: today, to: today });
        return r.pendingFacts === 0 && r.volume.opened === 1 ? r : undefined;
      },
      { timeoutMs: 10_000, what: 'the worker to fold the facts' },
    );
    expect(report.volume.events).toEqual([
      { type: 'OPEN', count: 1 },
      { type: 'RESPOND', count: 1 },
      { type: 'VERIFY', count: 1 },
    ]);
    expect(report.deadlines[0]).toMatchObject({ name: 'firstResponse', met: 1 });
  });

  it('a scheduled run reports the last complete period and stores it', async () => {
    // The cases happened yesterday (policy time zone); the scheduler runs now, as at its first run.
    const yesterday = previousPeriod('daily', Date.now(), TZ).from;
    let now = Date.parse(`${yesterday}T10:00:00+08:00`);
    rt = await testRuntime({ policies: [policyWith({ periods: ['daily', 'weekly'] })], clock: () => now });
    const a = await rt.engine.open(
      openCase({ subject: 'Invoice wrong', description: 'the total is wrong' }) as never,
      agent,
    );
    now += 5 * 60_000;
    await rt.engine.apply(a.caseId, { type: 'RESPOND' }, agent);
    now += 60_000;
    await rt.engine.open(
      openCase({ channel: 'email', subject: 'Invoice missing', description: 'never came' }) as never,
      agent,
    );
    const reports = new Reports({ store: rt.store, policies: rt.policies });
    const worker = startReportsWorker({
      connection: queueClient(redisUrl()),
      prefix: rt.config.INTERVENE_QUEUE_PREFIX,
      reports,
      policies: rt.policies,
      immediately: true,
    });
    try {
      const stored = await waitFor(
        async () => {
          const list = await reports.list('MC-2026-001', undefined, 10);
          return list.length === 2 ? list : undefined;
        },
        { timeoutMs: 15_000, what: 'the scheduled reports to be stored' },
      );
      const week = previousPeriod('weekly', Date.now(), TZ);
      expect(stored).toEqual(
        expect.arrayContaining([
          { contractId: 'MC-2026-001', period: 'daily', from: yesterday, to: yesterday },
          { contractId: 'MC-2026-001', period: 'weekly', ...week },
        ]),
      );
      const daily = await reports.load('MC-2026-001', 'daily', yesterday);
      expect(daily.period).toMatchObject({ kind: 'daily', from: yesterday, to: yesterday, days: 1 });
      expect(daily.volume).toMatchObject({
        opened: 2,
        byChannel: [
          { channel: 'email', count: 1, previous: 0 },
          { channel: 'phone', count: 1, previous: 0 },
        ],
      });
      expect(daily.deadlines[0]).toMatchObject({
        name: 'firstResponse',
        met: 1,
        breached: 0,
        turnaround: { count: 1, meanMs: 300_000 },
      });
      expect(daily.themes[0]).toEqual({ term: 'invoice', count: 2, previous: 0, change: 2, trend: 'new' });
      expect(
        await rt.redis.ttl(reports.store.report({ contractId: 'MC-2026-001', period: 'daily', from: yesterday })),
      ).toBeGreaterThan(399 * 86_400);
    } finally {
      await worker.close();
      await worker.disconnect();
    }
  });

  it('two folders at once count every fact exactly once', async () => {
    rt = await testRuntime({ policies: [policyWith()] });
    const runtime = rt;
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        runtime.engine.open(openCase({ subject: `Invoice ${i}`, description: 'late' }) as never, agent),
      ),
    );
    // Small batches, so the folders really race over the same partitions and cursors.
    const make = () =>
      new ReportFolder({
        store: new ReportStore(runtime.redis, runtime.store.keys),
        policies: runtime.policies,
        batch: 3,
      });
    const folded = await Promise.all([make().drain(), make().drain(), make().drain()]);
    expect(folded.reduce((x, y) => x + y, 0)).toBe(40);
    const today = localDay(Date.now(), TZ);
    const report = await new Reports({ store: runtime.store, policies: runtime.policies }).render('MC-2026-001', {
      from: today,
      to: today,
    });
    expect(report.pendingFacts).toBe(0);
    expect(report.volume.opened).toBe(40);
    expect(report.themes).toEqual([
      { term: 'invoice', count: 40, previous: 0, change: 40, trend: 'new' },
      { term: 'late', count: 40, previous: 0, change: 40, trend: 'new' },
    ]);
  });
});
