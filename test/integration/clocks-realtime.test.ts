import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/policy.ts';
import type { Runtime } from '../../src/runtime.ts';
import { auditOf, readCase } from '../support/cases.ts';
import { exampleDocument, openCase, testPolicy } from '../support/policy.ts';
import { agent, closeRuntime, testRuntime, uniquePrefix } from '../support/runtime.ts';
import { sleep, waitFor } from '../support/wait.ts';

// Issue "clocks" on real time, real Redis and real BullMQ: the ladder with several workers, warnings,
// and catching up after the workers were down.

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Several runtimes on one prefix: workers of one service in several processes. */
async function cluster(n: number, policy = testPolicy()) {
  const prefix = uniquePrefix();
  // One var dir: the development data key that seals personal data is generated there (docs/privacy.md).
  const env = {
    INTERVENE_PREFIX: `${prefix}:`,
    INTERVENE_QUEUE_PREFIX: `${prefix}-bull`,
    INTERVENE_VAR_DIR: join(tmpdir(), `intervene-test-var-${prefix}`),
  };
  const runtimes: Runtime[] = [];
  for (let i = 0; i < n; i++) runtimes.push(await testRuntime({ policies: [policy], env }));
  cleanups.push(async () => {
    for (const rt of runtimes.slice(1)) await rt.close();
    await closeRuntime(runtimes[0] as Runtime);
  });
  return runtimes;
}

describe('the escalation ladder on real time', () => {
  it('climbs every rung exactly once with three deadline workers racing, then records the miss at the top', async () => {
    const runtimes = await cluster(3, testPolicy({ handoff: 'PT1S' }));
    for (const rt of runtimes) rt.startWorkers(['deadlines', 'dispatcher']);
    const rt = runtimes[0] as Runtime;
    const { caseId } = await rt.engine.open(openCase({ flags: ['legal_dispute'] }), agent);
    // legal → team_lead → contract_management → management, then breached at the top: 4 firings ~1 s apart.
    await waitFor(async () => (await readCase(rt, caseId)).context.deadlines.handoff?.status === 'breached', {
      timeoutMs: 9_000,
      what: 'the hand-off to be breached at the top rung',
    });
    await sleep(300);
    const audit = await auditOf(rt, caseId);
    const firings = audit.filter((e) => e.event === 'DEADLINE');
    expect(firings).toHaveLength(4);
    const handoffs = audit.flatMap((e) => (e.effects ?? []).filter((x) => x.startsWith('handoff:') && x.includes('@')));
    expect(handoffs).toEqual([
      'handoff:legal@1',
      'handoff:team_lead@2',
      'handoff:contract_management@3',
      'handoff:management@4',
    ]);
    const c = await readCase(rt, caseId);
    expect(c.context.escalation).toMatchObject({ department: 'management', level: 4, seq: 4 });
    // One hand-off package per rung: ids are <case>.handoff.<seq>.
    const packages = await rt.redis.keys(`${rt.config.INTERVENE_PREFIX}*delivery:${caseId}.handoff.*`);
    expect(packages.sort()).toHaveLength(4);
  });
});

describe('warnings on real time', () => {
  it('sends each warning once per arming through the deadline worker', async () => {
    const doc = exampleDocument();
    for (const d of Object.values(doc.deadlines) as Record<string, unknown>[]) {
      d.clock = 'calendar';
      delete d.calendar;
    }
    doc.deadlines.firstResponse.within = 'PT2S';
    doc.warnings = { at: [0.5, 0.75] };
    const runtimes = await cluster(2, parsePolicy(doc, 'warning policy'));
    for (const rt of runtimes) rt.startWorkers(['deadlines', 'dispatcher']);
    const rt = runtimes[0] as Runtime;
    const { caseId } = await rt.engine.open(openCase(), agent);
    const armedAt = (await readCase(rt, caseId)).context.deadlines.firstResponse!.armedAt;
    await waitFor(async () => (await readCase(rt, caseId)).state === 'escalated', {
      timeoutMs: 5_000,
      what: 'the breach',
    });
    const audit = await auditOf(rt, caseId);
    const warnings = audit.filter((e) => e.event === 'DEADLINE' && e.data?.warning !== undefined);
    expect(warnings.map((e) => e.data?.warning)).toEqual([0, 1]);
    // Never early: 50 % is 1 s after arming, 75 % is 1.5 s.
    expect(Date.parse(warnings[0]!.at) - armedAt).toBeGreaterThanOrEqual(1_000);
    expect(Date.parse(warnings[1]!.at) - armedAt).toBeGreaterThanOrEqual(1_500);
    const sent = await rt.redis.keys(`${rt.config.INTERVENE_PREFIX}*delivery:${caseId}.warning.*`);
    expect(sent).toHaveLength(2);
  });
});

describe('after downtime', () => {
  it('fires every overdue deadline once on restart, in due order, recording its real lateness', async () => {
    const [rt] = (await cluster(1, testPolicy({ firstResponse: 'PT1S' }))) as [Runtime];
    // No workers: the service is down while five deadlines fall due, 100 ms apart.
    const cases: string[] = [];
    for (let i = 0; i < 5; i++) {
      cases.push((await rt.engine.open(openCase({ subject: `case ${i}` }), agent)).caseId);
      await sleep(100);
    }
    await sleep(2_000);
    for (const caseId of cases) expect((await readCase(rt, caseId)).state).toBe('received');
    rt.startWorkers(['deadlines', 'dispatcher']);
    const fired = await waitFor(
      async () => {
        const all = await Promise.all(cases.map((id) => readCase(rt, id)));
        return all.every((c) => c.state === 'escalated') ? all : undefined;
      },
      { timeoutMs: 5_000, what: 'every overdue deadline to fire' },
    );
    const clocks = fired.map((c) => c.context.deadlines.firstResponse!);
    // Real lateness recorded with each breach: well over the downtime's 1 s.
    for (const clock of clocks) expect(clock.lateMs).toBeGreaterThanOrEqual(1_000);
    // Exactly once each.
    for (const caseId of cases) {
      expect((await auditOf(rt, caseId)).filter((e) => e.event === 'DEADLINE')).toHaveLength(1);
    }
    // In due order: the breach times follow the due times.
    const byDue = [...clocks].sort((a, b) => a.dueAt - b.dueAt).map((c) => c.at);
    expect(byDue).toEqual([...byDue].sort((a, b) => (a ?? 0) - (b ?? 0)));
  });
});
