import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpsReader } from '../../src/ops/read.ts';
import { parsePolicy } from '../../src/policy/policy.ts';
import { type Runtime, SYSTEM_ACTOR } from '../../src/runtime.ts';
import { exampleDocument, openCase, testPolicy } from '../support/policy.ts';
import { closeRuntime, service, testRuntime } from '../support/runtime.ts';

// The dashboard's read side (src/ops/read.ts) against a real Redis on fake time: what is about to
// breach, what broke and why, each from the partition indexes and bounded by its limit.

let now = Date.parse('2026-03-02T01:00:00Z');
let rt: Runtime;
let reader: OpsReader;
const ids: string[] = [];

function secondContract() {
  const doc = exampleDocument();
  doc.contract.id = 'MC-2026-002';
  return parsePolicy(doc, 'second contract');
}

async function open(overrides: Record<string, unknown> = {}): Promise<string> {
  const { caseId } = await rt.engine.open(openCase(overrides) as never, service);
  now += 60_000;
  return caseId;
}

/** Fires a case's armed deadline as the timer would, once it is due. */
async function miss(caseId: string, name: string): Promise<void> {
  const clock = (await rt.engine.get(caseId))?.stored.context.deadlines[name];
  if (clock?.status !== 'armed') throw new Error(`${name} of ${caseId} is not armed`);
  now = Math.max(now, clock.dueAt + 1);
  await rt.engine.apply(caseId, { type: 'DEADLINE', name, epoch: clock.epoch } as never, SYSTEM_ACTOR);
}

beforeAll(async () => {
  rt = await testRuntime({ policies: [testPolicy({ firstResponse: 'PT10M' }), secondContract()], clock: () => now });
  const queues = new Map<string, Queue>([
    ['deadlines', rt.deadlineQueue as Queue],
    ['notify', rt.notifyQueue as Queue],
  ]);
  reader = new OpsReader({ engine: rt.engine, queues, listLimit: 3, sampleLimit: 2 });
  for (let i = 0; i < 4; i++) ids.push(await open({ subject: `subject ${i}` }));
  ids.push(await open({ contractId: 'MC-2026-002' }));
  // The first case answered: its first response is met, so it waits on the later initial notice.
  await rt.engine.apply(ids[0] as string, { type: 'RESPOND', message: 'hello' } as never, service);
});

afterAll(async () => {
  if (rt) await closeRuntime(rt);
});

describe('the dashboard read side', () => {
  it('lists the soonest armed deadlines first, no more than the limit, without personal data', async () => {
    const rows = await reader.atRisk();
    expect(rows.map((r) => r.caseId)).toEqual([ids[1], ids[2], ids[3]]);
    expect(rows.map((r) => r.deadline)).toEqual(['firstResponse', 'firstResponse', 'firstResponse']);
    expect(rows[0]).toMatchObject({ contractId: 'MC-2026-001', state: 'received', clause: '3.1.3' });
    const opened = (await rt.engine.get(ids[1] as string))?.stored.context.createdAt as number;
    expect(rows[0]?.dueAt).toBe(opened + 10 * 60_000);
    const text = JSON.stringify(rows);
    for (const secret of ['张三', '+86 138', 'subject ', 'How do I']) expect(text).not.toContain(secret);
  });

  it('counts cases by state from the state indexes, and by contract over a bounded sample', async () => {
    const states = await reader.stateCounts();
    expect(states.find((s) => s.state === 'received')?.count).toBe(5);
    expect(states.map((s) => s.state)).toEqual(expect.arrayContaining(['received', 'verified', 'escalated', 'closed']));
    const rows = await reader.byContract(states);
    // Five received cases, a sample of two per state: the counts say they are not exact.
    expect(rows.every((r) => r.state === 'received' && !r.exact)).toBe(true);
    expect(rows.reduce((n, r) => n + r.count, 0)).toBe(2);
  });

  it('shows a missed deadline as a breach with its clause, and the escalation it caused (3.1.3)', async () => {
    expect(await reader.breaches()).toEqual([]);
    await miss(ids[1] as string, 'firstResponse');
    const breaches = await reader.breaches();
    expect(breaches).toEqual([
      expect.objectContaining({
        caseId: ids[1],
        deadline: 'firstResponse',
        clause: '3.1.3',
        state: 'escalated',
        level: 1,
      }),
    ]);
    const escalations = await reader.escalations();
    expect(escalations).toEqual([
      expect.objectContaining({
        caseId: ids[1],
        trigger: 'deadline_missed',
        level: 1,
        handoff: 'pending',
        clause: '3.1.3',
      }),
    ]);
    expect(escalations[0]?.department).toBe(breaches[0]?.escalatedTo);
    // The escalated case now waits on its hand-off: it left the head of the at-risk list.
    expect((await reader.atRisk()).map((r) => r.caseId)).toEqual([ids[2], ids[3], ids[4]]);
  });

  it('reads a case page: the audit trail with the deliveries each entry caused', async () => {
    await rt.dispatcher.flush();
    const detail = await reader.caseDetail(ids[1] as string);
    expect(detail?.stored.state).toBe('escalated');
    expect(detail?.graph.states.map((s) => s.id)).toContain('escalated');
    const events = detail?.audit.map((e) => e.event) ?? [];
    expect(events[0]).toBe('OPEN');
    expect(events.at(-1)).toBe('DEADLINE');
    expect(detail?.auditTotal).toBe(events.length);
    const last = detail?.audit.at(-1);
    expect(last?.effects).toEqual(
      expect.arrayContaining(['firstResponse:breached', expect.stringMatching(/^handoff:.+@1$/)]),
    );
    const kinds = (detail?.deliveries.get(last?.v as number) ?? []).map((d) => `${d.kind}:${d.id}`);
    expect(kinds).toEqual(
      expect.arrayContaining([`handoff:${ids[1]}.handoff.1`, `notice:${ids[1]}.notice.${last?.v}`]),
    );
    expect(await reader.caseDetail('cnothere')).toBeUndefined();
  });

  it('keeps only the newest audit entries when a trail is longer than the page shows', async () => {
    const short = new OpsReader({ engine: rt.engine, queues: new Map(), auditLimit: 1 });
    const detail = await short.caseDetail(ids[1] as string);
    expect(detail?.audit).toHaveLength(1);
    expect(detail?.auditTotal).toBe(2);
    expect(detail?.audit.at(-1)?.event).toBe('DEADLINE');
  });

  it('reports dead letters and the job counts of every queue it is given', async () => {
    expect(await reader.deadLetters()).toEqual({ total: 0, items: [] });
    const queues = await reader.queueHealth();
    expect(queues.map((q) => q.name)).toEqual(['deadlines', 'notify']);
    for (const q of queues) {
      expect(q.paused).toBe(false);
      expect(Object.keys(q.counts)).toEqual(expect.arrayContaining(['waiting', 'active', 'delayed', 'failed']));
    }
    const summary = await reader.summary(now);
    expect(summary).toMatchObject({ now, limits: { list: 3, sample: 2 }, staleTimersDropped: 0 });
    expect(summary.atRisk).toHaveLength(3);
  });
});
