import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.ts';
import { type Runtime, SYSTEM_ACTOR } from '../../src/runtime.ts';
import { timerJobId } from '../../src/store/indexes.ts';
import {
  auditOf,
  deadlineEntries,
  readCase,
  recordCompletions,
  staleTimersDropped,
  waitForState,
} from '../support/cases.ts';
import { openCase, testPolicy } from '../support/policy.ts';
import { agent, closeRuntime, testRuntime } from '../support/runtime.ts';
import { sleep, waitFor } from '../support/wait.ts';

// Deadline precision on real time, real Redis and real BullMQ (DESIGN.md invariants 5 and 9):
// second-scale durations, the runtime's own deadline worker and dispatcher.

/** How late a deadline may fire after its due time in these tests. */
const MAX_LATENESS_MS = 250;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function deadlineRuntime(
  within: Record<string, string>,
  workers: readonly string[] = ['deadlines', 'dispatcher'],
  env: Record<string, string> = {},
) {
  const rt = await testRuntime({ policies: [testPolicy(within)], env });
  cleanups.push(() => closeRuntime(rt));
  const started = rt.startWorkers(workers);
  return { rt, completions: recordCompletions(started) };
}

/** The audit entry of a firing is stamped with the engine's time: never before due, at most a little after. */
function expectOnTime(entry: { at: string }, dueAt: number) {
  const lateness = Date.parse(entry.at) - dueAt;
  expect(lateness, `fired ${lateness} ms after due`).toBeGreaterThanOrEqual(0);
  expect(lateness, `fired ${lateness} ms after due`).toBeLessThanOrEqual(MAX_LATENESS_MS);
  return lateness;
}

const outboxLength = (rt: Runtime, caseId: string) => rt.redis.xlen(rt.store.keys.forCase(caseId).outbox);

describe('deadlines on real time (BullMQ delayed jobs, real Redis)', () => {
  it('escalates a missed firstResponse exactly once, along the deadline_missed route (3.1.3)', async () => {
    const { rt } = await deadlineRuntime({ firstResponse: 'PT1S' });
    const { caseId } = await rt.engine.open(openCase(), agent);
    const dueAt = (await readCase(rt, caseId)).context.deadlines.firstResponse!.dueAt;

    const escalated = await waitForState(rt, caseId, 'escalated', 3_000);
    const policy = rt.policies.current(escalated.context.open.contractId);
    expect(escalated.context.escalation).toMatchObject({
      trigger: 'deadline_missed',
      department: policy.escalation.routes.deadline_missed,
      level: 1,
      clause: '3.1.3',
    });
    expect(escalated.context.escalation?.department).toBe('team_lead');
    expect(escalated.context.deadlines.firstResponse).toMatchObject({ status: 'breached', epoch: 1, dueAt });
    expect(escalated.context.deadlines.handoff?.status).toBe('armed');

    const fired = await deadlineEntries(rt, caseId);
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatchObject({
      event: 'DEADLINE',
      clause: '3.1.3',
      from: 'received',
      to: 'escalated',
      actor: { role: 'system' },
      data: { name: 'firstResponse', epoch: 1 },
    });
    expectOnTime(fired[0]!, dueAt);

    // Nothing more happens: no second firing, no second escalation, no stale timer.
    const audit = await auditOf(rt, caseId);
    await sleep(1_500);
    expect(await readCase(rt, caseId)).toEqual(escalated);
    expect(await auditOf(rt, caseId)).toEqual(audit);
    expect(await staleTimersDropped(rt)).toBe(0);
  });

  it('never fires a deadline that was met: the job is removed, nothing is dropped as stale', async () => {
    const { rt, completions } = await deadlineRuntime({ firstResponse: 'PT1S' });
    const { caseId } = await rt.engine.open(openCase(), agent);
    const jobId = timerJobId(caseId, 'firstResponse', 1);
    await waitFor(() => rt.deadlineQueue.getJob(jobId), { what: 'the firstResponse job to be scheduled' });
    const dueAt = (await readCase(rt, caseId)).context.deadlines.firstResponse!.dueAt;

    await rt.engine.apply(caseId, { type: 'RESPOND', message: 'We are on it.' }, agent);
    await waitFor(async () => (await rt.deadlineQueue.getJob(jobId)) === undefined, {
      what: 'the met firstResponse job to be removed',
    });

    await sleep(Math.max(0, dueAt + 500 - Date.now()));
    const stored = await readCase(rt, caseId);
    expect(stored).toMatchObject({ state: 'received', version: 2 });
    expect(stored.context.deadlines.firstResponse?.status).toBe('met');
    expect(await deadlineEntries(rt, caseId)).toEqual([]);
    expect(await rt.deadlineQueue.getJob(jobId)).toBeUndefined();
    expect(completions.has(jobId)).toBe(false);
    expect(await staleTimersDropped(rt)).toBe(0);
    // The case's wake-up timer moved on to the next armed deadline: committed to the partition's
    // timers set, it becomes a BullMQ job only when it comes within the promotion horizon.
    const timers = rt.store.keys.timers(rt.store.partitionOf(caseId));
    const next = timerJobId(caseId, 'initialNotice', 2);
    const initialNoticeDue = (await readCase(rt, caseId)).context.deadlines.initialNotice?.dueAt;
    expect(await rt.redis.zscore(timers, next)).toBe(String(initialNoticeDue));
  });

  it('drops and counts a timer whose epoch is no longer armed, leaving the case unchanged', async () => {
    const { rt, completions } = await deadlineRuntime({ firstResponse: 'PT1S' });
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    const jobId = timerJobId(caseId, 'firstResponse', 1);
    await waitFor(async () => (await rt.deadlineQueue.getJob(jobId)) === undefined, {
      what: 'the met firstResponse job to be removed',
    });
    const before = await readCase(rt, caseId);
    const auditBefore = await auditOf(rt, caseId);

    // A timer for the met arming comes back (a re-dispatch after the cancel, say): it is due now.
    await rt.deadlineQueue.add(
      'firstResponse',
      { caseId, name: 'firstResponse', epoch: 1, dueAt: Date.now() },
      { jobId },
    );
    const outcome = await waitFor(() => completions.get(jobId), { what: 'the hand-made timer job to run' });
    expect(outcome).toBe('stale');
    expect(await staleTimersDropped(rt)).toBe(1);

    // The engine answers the same for any epoch that is not the armed one, even of an armed deadline.
    const fire = (name: string, epoch: number) =>
      rt.engine.apply(caseId, { type: 'DEADLINE', name, epoch }, SYSTEM_ACTOR);
    expect(await fire('firstResponse', 1)).toMatchObject({ outcome: 'stale', version: 2 });
    expect(await fire('initialNotice', 1)).toMatchObject({ outcome: 'stale', version: 2 });
    expect(await staleTimersDropped(rt)).toBe(3);

    expect(await readCase(rt, caseId)).toEqual(before);
    expect(await auditOf(rt, caseId)).toEqual(auditBefore);
  });

  it('drops and counts a timer whose cancel was never dispatched (a missed cancel never fires)', async () => {
    // No dispatcher sweep: the cancel below stays in the outbox for the whole test.
    const { rt, completions } = await deadlineRuntime({ firstResponse: 'PT1S' }, ['deadlines']);
    const { caseId } = await rt.engine.open(openCase(), agent);
    const jobId = timerJobId(caseId, 'firstResponse', 1);
    await waitFor(() => rt.deadlineQueue.getJob(jobId), { what: 'the firstResponse job to be scheduled' });

    // An engine that commits but never dispatches: RESPOND is committed, its cancel is not sent.
    const undispatched = new Engine({ store: rt.store, policies: rt.policies });
    await undispatched.apply(caseId, { type: 'RESPOND' }, agent);
    expect(await outboxLength(rt, caseId)).toBe(1); // the cancel of firstResponse.1, already promoted
    const before = await readCase(rt, caseId);

    const outcome = await waitFor(() => completions.get(jobId), {
      timeoutMs: 3_000,
      what: 'the un-cancelled firstResponse job to run',
    });
    expect(outcome).toBe('stale');
    expect(await staleTimersDropped(rt)).toBe(1);
    expect(await readCase(rt, caseId)).toEqual(before);
    expect(before).toMatchObject({ state: 'received', version: 2 });
    expect(await deadlineEntries(rt, caseId)).toEqual([]);
  });

  it('fires a deadline whose process died right after its commit (the timer is part of the commit)', async () => {
    const policy = testPolicy({ firstResponse: 'PT1S' });
    // Process A commits the opening and dies before doing anything else.
    const a = await testRuntime({ policies: [policy] });
    let aClosed = false;
    cleanups.push(async () => aClosed || (await closeRuntime(a)));
    const env = {
      INTERVENE_PREFIX: a.config.INTERVENE_PREFIX,
      INTERVENE_QUEUE_PREFIX: a.config.INTERVENE_QUEUE_PREFIX,
      INTERVENE_VAR_DIR: a.config.INTERVENE_VAR_DIR,
    };
    const crashed = new Engine({ store: a.store, policies: a.policies });
    const { caseId } = await crashed.open(openCase(), agent);
    const dueAt = (await readCase(a, caseId)).context.deadlines.firstResponse!.dueAt;
    const jobId = timerJobId(caseId, 'firstResponse', 1);
    // The timer is in Redis with the case, not in any process's memory.
    expect(await a.redis.zscore(a.store.keys.timers(a.store.partitionOf(caseId)), jobId)).toBe(String(dueAt));
    expect(await a.deadlineQueue.getJob(jobId)).toBeUndefined();
    await a.close(); // keeps the data: process B carries on with it
    aClosed = true;

    // Process B: same Redis and prefixes; its promoter moves the timer into BullMQ, its worker fires it.
    const { rt: b } = await deadlineRuntime({ firstResponse: 'PT1S' }, ['deadlines'], env);
    const escalated = await waitForState(b, caseId, 'escalated', 3_000);
    expect(escalated.context.escalation).toMatchObject({ trigger: 'deadline_missed', department: 'team_lead' });
    const fired = await deadlineEntries(b, caseId);
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatchObject({ clause: '3.1.3', data: { name: 'firstResponse', epoch: 1 } });
    expectOnTime(fired[0]!, dueAt);

    await sleep(1_000);
    expect(await deadlineEntries(b, caseId)).toHaveLength(1);
    expect(await readCase(b, caseId)).toEqual(escalated);
  });

  it('keeps the remaining time across a pause (6.2) and fires at the new due time, not the old one', async () => {
    const { rt } = await deadlineRuntime({ firstResponse: 'PT1S', initialNotice: 'PT2S' });
    const { caseId } = await rt.engine.open(openCase(), agent);
    const armed = (await readCase(rt, caseId)).context.deadlines.initialNotice!;

    await rt.engine.apply(caseId, { type: 'REQUEST_INFO', request: 'Please send the booking number.' }, agent);
    const paused = (await readCase(rt, caseId)).context.deadlines.initialNotice!;
    expect(paused).toMatchObject({ status: 'paused', epoch: armed.epoch, dueAt: armed.dueAt });
    const remaining = paused.remainingMs!;
    expect(remaining).toBe(armed.dueAt - paused.at!);
    expect(remaining).toBeGreaterThan(1_900);

    await sleep(1_000);
    const resumeFrom = Date.now();
    await rt.engine.apply(caseId, { type: 'CUSTOMER_REPLY', message: 'It is B-1234.' }, agent);
    const resumeTo = Date.now();
    const resumed = await readCase(rt, caseId);
    expect(resumed.state).toBe('received');
    const clock = resumed.context.deadlines.initialNotice!;
    expect(clock.status).toBe('armed');
    expect(clock.epoch).toBeGreaterThan(paused.epoch);
    expect(clock.dueAt).toBe(clock.at! + remaining);
    expect(clock.dueAt).toBeGreaterThanOrEqual(resumeFrom + remaining);
    expect(clock.dueAt).toBeLessThanOrEqual(resumeTo + remaining);
    expect(clock.dueAt - armed.dueAt).toBeGreaterThanOrEqual(1_000);
    await waitFor(() => rt.deadlineQueue.getJob(timerJobId(caseId, 'initialNotice', clock.epoch)), {
      what: 'the re-armed initialNotice job',
    });

    // The old due time passes without a firing.
    await sleep(Math.max(0, armed.dueAt + 300 - Date.now()));
    expect(await readCase(rt, caseId)).toEqual(resumed);

    const escalated = await waitForState(rt, caseId, 'escalated', 3_000);
    expect(escalated.context.deadlines.initialNotice).toMatchObject({ status: 'breached', epoch: clock.epoch });
    const fired = await deadlineEntries(rt, caseId);
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatchObject({ clause: '3.1.3', data: { name: 'initialNotice', epoch: clock.epoch } });
    expectOnTime(fired[0]!, clock.dueAt);
  });

  it(`never fires before the due time and at most ${MAX_LATENESS_MS} ms after it`, async () => {
    const { rt } = await deadlineRuntime({ firstResponse: 'PT1S' });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push((await rt.engine.open(openCase({ subject: `Lateness probe ${i}` }), agent)).caseId);
      await sleep(37);
    }
    const lateness: number[] = [];
    for (const caseId of ids) {
      const escalated = await waitForState(rt, caseId, 'escalated', 3_000);
      const [fired, ...more] = await deadlineEntries(rt, caseId);
      expect(more).toEqual([]);
      lateness.push(expectOnTime(fired!, escalated.context.deadlines.firstResponse!.dueAt));
    }
    expect(lateness).toHaveLength(10);
  });
});
