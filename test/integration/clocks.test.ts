import { afterEach, describe, expect, it } from 'vitest';
import type { Actor } from '../../machines/types.ts';
import { excuseBreaches, resumeHeld } from '../../src/deadlines/outage-jobs.ts';
import { EventRefused } from '../../src/domain/errors.ts';
import { explainDeadlines } from '../../src/engine/why.ts';
import { parsePolicy } from '../../src/policy/policy.ts';
import { type Runtime, SYSTEM_ACTOR } from '../../src/runtime.ts';
import { auditOf, readCase } from '../support/cases.ts';
import { exampleDocument, openCase, testPolicy } from '../support/policy.ts';
import { agent, closeRuntime, testRuntime, VERIFY } from '../support/runtime.ts';

// Issue "clocks" through the engine and real Redis, on fake time: business calendars, pauses with
// reasons, due dates moved by hand, warnings, the ladder, outages, migration and `why`.

const supervisor: Actor = { name: 'supervisor-wang', role: 'supervisor' };
const ops: Actor = { name: 'ops-zhao', role: 'ops' };
const MIN = 60_000;
const HOUR = 60 * MIN;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** The example policy as shipped (business clocks, warnings, ladder), optionally varied. */
function clockPolicy(vary: (doc: Record<string, any>) => void = () => {}, version = 1) {
  const doc = exampleDocument();
  doc.contract.version = version;
  vary(doc);
  return parsePolicy(doc, 'clock policy');
}

async function fakeTimeRuntime(start: string, policies = [clockPolicy()]) {
  const clock = { now: Date.parse(start) };
  const rt = await testRuntime({ policies, clock: () => clock.now });
  cleanups.push(() => closeRuntime(rt));
  return { rt, clock };
}

/** Fires a case's next wake-up (deadline or warning) at its due time, as the deadline worker does. */
async function fireNext(rt: Runtime, clock: { now: number }, caseId: string) {
  const { nextDue } = await import('../../machines/clocks.ts');
  const next = nextDue((await readCase(rt, caseId)).context.deadlines);
  if (!next) throw new Error('nothing armed');
  clock.now = Math.max(clock.now, next.dueAt);
  const event = {
    type: 'DEADLINE' as const,
    name: next.name,
    epoch: next.epoch,
    ...(next.warning === undefined ? {} : { warning: next.warning }),
  };
  await rt.engine.apply(caseId, event, SYSTEM_ACTOR, {
    idempotencyKey: `${caseId}.${next.name}.${next.epoch}${next.warning === undefined ? '' : `.w${next.warning}`}`,
  });
  return next;
}

describe('business time through the engine', () => {
  it('arms a business deadline on the calendar: Friday 17:00 + 4 working hours is Monday 12:00 (lunch 12:00–13:30)', async () => {
    // 2026-11-27 is a Friday; cs_hours works 09:00–12:00 and 13:30–18:00 Asia/Shanghai.
    const { rt } = await fakeTimeRuntime('2026-11-27T17:00:00+08:00');
    const { caseId } = await rt.engine.open(openCase(), agent);
    const { context } = await readCase(rt, caseId);
    // 1 h on Friday (17–18), then Monday 09–12 (3 h): due Monday 12:00.
    expect(new Date(context.deadlines.initialNotice!.dueAt).toISOString()).toBe('2026-11-30T04:00:00.000Z');
    expect(context.deadlines.initialNotice).toMatchObject({ calendar: 'cs_hours@1', status: 'armed' });
    // The wall-clock first response is 15 minutes later whatever the hour.
    expect(context.deadlines.firstResponse!.dueAt - context.deadlines.firstResponse!.armedAt).toBe(15 * MIN);
  });

  it('a holiday counts no working time (2026-10-01 is one in the example calendar)', async () => {
    const { rt } = await fakeTimeRuntime('2026-09-30T16:00:00+08:00');
    const { caseId } = await rt.engine.open(openCase(), agent);
    const { context } = await readCase(rt, caseId);
    // 2 h on Sep 30 (16–18); Oct 1, 2 holidays, 3–4 weekend, 5–7 holidays; Oct 8 09:00 + 2 h = 11:00.
    expect(new Date(context.deadlines.initialNotice!.dueAt).toISOString()).toBe('2026-10-08T03:00:00.000Z');
  });
});

describe('pauses need a reason and a permitted role (6.2)', () => {
  it('refuses a pause by a role the policy does not allow, and changes nothing', async () => {
    const { rt } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00');
    const { caseId } = await rt.engine.open(openCase(), agent);
    const before = await readCase(rt, caseId);
    const refused = rt.engine.apply(caseId, { type: 'PAUSE', reason: 'force_majeure', note: 'typhoon' }, agent);
    await expect(refused).rejects.toMatchObject({ code: 'PAUSE_NOT_ALLOWED', clause: '6.2' });
    expect((await readCase(rt, caseId)).version).toBe(before.version);
  });

  it('freezes the remaining working time exactly and restores it on RESUME, recording who, why, clause and when', async () => {
    const { rt, clock } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00');
    const { caseId } = await rt.engine.open(openCase(), agent);
    const armed = (await readCase(rt, caseId)).context.deadlines.initialNotice!;
    clock.now += 30 * MIN;
    await rt.engine.apply(caseId, { type: 'PAUSE', reason: 'force_majeure', note: 'typhoon signal 8' }, supervisor);
    const paused = (await readCase(rt, caseId)).context;
    expect(paused.deadlines.initialNotice).toMatchObject({ status: 'paused', remainingMs: 4 * HOUR - 30 * MIN });
    expect(paused.holds).toEqual([
      expect.objectContaining({
        reason: 'force_majeure',
        clause: '6.2',
        by: 'supervisor-wang',
        role: 'supervisor',
        at: clock.now,
      }),
    ]);
    // Resume the next morning at 09:00: 3.5 working hours left → 12:00 + 30 min after lunch = 14:00.
    clock.now = Date.parse('2026-11-26T09:00:00+08:00');
    await rt.engine.apply(caseId, { type: 'RESUME', note: 'signal lowered' }, supervisor);
    const resumed = (await readCase(rt, caseId)).context.deadlines.initialNotice!;
    expect(new Date(resumed.dueAt).toISOString()).toBe('2026-11-26T06:00:00.000Z');
    expect(resumed.epoch).toBeGreaterThan(armed.epoch);
    const audit = await auditOf(rt, caseId);
    expect(audit.map((e) => e.event)).toEqual(['OPEN', 'PAUSE', 'RESUME']);
    expect(audit[1]).toMatchObject({ clause: '6.2', data: { reason: 'force_majeure', note: 'typhoon signal 8' } });
  });

  it('REQUEST_INFO pauses for the customer and CUSTOMER_REPLY resumes by itself', async () => {
    const { rt, clock } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00');
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.engine.apply(caseId, { type: 'REQUEST_INFO', request: 'your contract number?' }, agent);
    expect((await readCase(rt, caseId)).context.holds).toMatchObject([{ reason: 'waiting_on_customer' }]);
    clock.now += 2 * HOUR;
    await rt.engine.apply(caseId, { type: 'CUSTOMER_REPLY', message: 'MC-1' }, agent);
    const c = (await readCase(rt, caseId)).context;
    expect(c.holds).toEqual([]);
    expect(c.deadlines.initialNotice?.status).toBe('armed');
  });
});

describe('due dates moved by hand', () => {
  it('needs a permitted role; the move is audited with reason and clause', async () => {
    const { rt } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00');
    const { caseId } = await rt.engine.open(openCase(), agent);
    const move = {
      type: 'MOVE_DUE',
      deadline: 'initialNotice',
      dueAt: '2026-11-26T18:00:00+08:00',
      reason: 'customer asked for a call tomorrow',
      clause: '3.1.3',
    } as const;
    await expect(rt.engine.apply(caseId, move, agent)).rejects.toMatchObject({ code: 'OVERRIDE_NOT_ALLOWED' });
    await rt.engine.apply(caseId, move, supervisor);
    const c = (await readCase(rt, caseId)).context;
    expect(c.deadlines.initialNotice?.dueAt).toBe(Date.parse(move.dueAt));
    const last = (await auditOf(rt, caseId)).at(-1);
    expect(last).toMatchObject({
      event: 'MOVE_DUE',
      actor: { name: 'supervisor-wang' },
      data: { reason: move.reason },
    });
    await expect(rt.engine.apply(caseId, { ...move, dueAt: '2020-01-01T00:00:00Z' }, supervisor)).rejects.toMatchObject(
      { code: 'DUE_IN_PAST' },
    );
  });
});

describe('warnings and the ladder', () => {
  it('warns the owner at 50, 75 and 90 % of working time, once each, then breaches and climbs one rung at a time', async () => {
    const { rt, clock } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00', [
      clockPolicy((doc) => {
        doc.deadlines.firstResponse.within = 'PT100M';
      }),
    ]);
    const { caseId } = await rt.engine.open(openCase(), agent);
    const fired = [];
    for (let i = 0; i < 4; i++) fired.push(await fireNext(rt, clock, caseId));
    expect(fired.map((f) => [f.name, f.warning])).toEqual([
      ['firstResponse', 0],
      ['firstResponse', 1],
      ['firstResponse', 2],
      ['firstResponse', undefined],
    ]);
    const start = Date.parse('2026-11-25T10:00:00+08:00');
    expect(fired.map((f) => (f.dueAt - start) / MIN)).toEqual([50, 75, 90, 100]);
    // A warning timer that fires twice (a stalled job) changes nothing the second time.
    const replay = await rt.engine.apply(
      caseId,
      { type: 'DEADLINE', name: 'firstResponse', epoch: fired[0]!.epoch, warning: 0 },
      SYSTEM_ACTOR,
      { idempotencyKey: 'another-worker' },
    );
    expect(replay.outcome).toBe('stale');
    const c = await readCase(rt, caseId);
    expect(c.state).toBe('escalated');
    expect(c.context.escalation).toMatchObject({ department: 'team_lead', level: 1 });
    // Warning deliveries went to the CS team's endpoint, one per fraction.
    const ids = (await rt.redis.keys(`${rt.config.INTERVENE_PREFIX}*delivery:${caseId}.warning.*`)).sort();
    expect(ids).toHaveLength(3);
  });
});

describe('outages (6.2)', () => {
  it('an open outage holds the clock when it falls due; ending it resumes from the window end with what was left', async () => {
    const { rt, clock } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00', [testPolicy()]);
    const { caseId } = await rt.engine.open(openCase(), agent);
    const due = (await readCase(rt, caseId)).context.deadlines.firstResponse!.dueAt;
    const outage = await rt.outages.declare(
      { start: '2026-11-25T10:05:00+08:00', reason: 'system_failure', note: 'CRM down', scope: {} },
      ops,
    );
    clock.now = due;
    const held = await rt.engine.apply(caseId, { type: 'DEADLINE', name: 'firstResponse', epoch: 1 }, SYSTEM_ACTOR, {
      idempotencyKey: 'fire-1',
    });
    expect(held.outcome).toBe('applied');
    let c = await readCase(rt, caseId);
    expect(c.state).toBe('received');
    // 5 of its 15 minutes had run when the window opened.
    expect(c.context.deadlines.firstResponse).toMatchObject({ status: 'paused', remainingMs: 10 * MIN });
    expect(c.context.holds).toMatchObject([{ outage: outage.id, reason: 'system_failure' }]);
    clock.now = Date.parse('2026-11-25T11:00:00+08:00');
    const ended = await rt.outages.end(outage.id, ops, Date.parse('2026-11-25T10:45:00+08:00'));
    const deps = { engine: rt.engine, outages: rt.outages, actor: SYSTEM_ACTOR };
    expect(await resumeHeld(deps, ended)).toBe(1);
    expect(await resumeHeld(deps, ended)).toBe(0); // idempotent
    c = await readCase(rt, caseId);
    expect(new Date(c.context.deadlines.firstResponse!.dueAt).toISOString()).toBe('2026-11-25T02:55:00.000Z');
  });

  it('a deadline whose running time an ended outage overlapped runs on by the overlap instead of breaching', async () => {
    const { rt, clock } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00', [testPolicy()]);
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.outages.declare(
      {
        start: '2026-11-25T10:02:00+08:00',
        end: '2026-11-25T10:07:00+08:00',
        reason: 'force_majeure',
        note: 'power cut',
        scope: { contractId: 'MC-2026-001' },
      },
      ops,
    );
    clock.now = Date.parse('2026-11-25T10:15:00+08:00');
    await rt.engine.apply(caseId, { type: 'DEADLINE', name: 'firstResponse', epoch: 1 }, SYSTEM_ACTOR, {
      idempotencyKey: 'fire-1',
    });
    const c = await readCase(rt, caseId);
    expect(c.state).toBe('received');
    expect(new Date(c.context.deadlines.firstResponse!.dueAt).toISOString()).toBe('2026-11-25T02:20:00.000Z');
  });

  it('an outage out of scope changes nothing; a retroactive one turns an explained breach into excused', async () => {
    const { rt, clock } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00', [testPolicy()]);
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.outages.declare(
      {
        start: '2026-11-25T10:00:00+08:00',
        end: '2026-11-25T10:30:00+08:00',
        reason: 'system_failure',
        note: 'chat down',
        scope: { channel: 'chat' },
      },
      ops,
    );
    clock.now = Date.parse('2026-11-25T10:15:00+08:00');
    await rt.engine.apply(caseId, { type: 'DEADLINE', name: 'firstResponse', epoch: 1 }, SYSTEM_ACTOR, {
      idempotencyKey: 'fire-1',
    });
    expect((await readCase(rt, caseId)).context.deadlines.firstResponse?.status).toBe('breached');
    // Declared afterwards for the phone channel: the breach fell in the window.
    clock.now = Date.parse('2026-11-25T12:00:00+08:00');
    const late = await rt.outages.declare(
      {
        start: '2026-11-25T10:10:00+08:00',
        end: '2026-11-25T10:40:00+08:00',
        reason: 'system_failure',
        note: 'phones down',
        scope: { channel: 'phone' },
      },
      ops,
    );
    const deps = { engine: rt.engine, outages: rt.outages, actor: SYSTEM_ACTOR };
    expect(await excuseBreaches(deps, late)).toBe(1);
    expect(await excuseBreaches(deps, late)).toBe(0);
    const c = await readCase(rt, caseId);
    expect(c.context.deadlines.firstResponse).toMatchObject({ status: 'excused', excusedBy: late.id });
    // The escalation it caused stays: the excuse changes the record, not what happened.
    expect(c.state).toBe('escalated');
  });
});

describe('migration and why', () => {
  it('migrates an open case to a new calendar version on purpose, keeping the time already run', async () => {
    const v1 = clockPolicy();
    const v2 = clockPolicy((doc) => {
      doc.calendars.cs_hours.version = 2;
      doc.calendars.cs_hours.holidays.push('2026-11-26');
    }, 2);
    const { rt, clock } = await fakeTimeRuntime('2026-11-25T16:00:00+08:00', [v1]);
    const { caseId } = await rt.engine.open(openCase(), agent);
    const opened = await readCase(rt, caseId);
    expect(opened.policyVersion).toBe(1);
    const before = opened.context.deadlines.initialNotice!;
    // Version 2 is loaded later (a new file); open cases stay on v1 until migrated.
    rt.policies.add(v2);
    clock.now += HOUR;
    await expect(rt.engine.migrate(caseId, 1, 'same', ops)).rejects.toBeInstanceOf(EventRefused);
    await expect(rt.engine.migrate(caseId, 2, 'holiday added', agent)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await rt.engine.migrate(caseId, 2, 'Nov 26 declared a holiday', ops);
    const after = await readCase(rt, caseId);
    expect(after.policyVersion).toBe(2);
    expect(after.context.deadlines.initialNotice?.calendar).toBe('cs_hours@2');
    expect(after.context.deadlines.initialNotice!.dueAt).toBeGreaterThan(before.dueAt);
    // Opened Wed 16:00, due Thu 11:00 on v1 (16–18 Wed, 09–11 Thu). Migrated Wed 17:00 with 1 h run: 3 h
    // left on v2, where Thu is a holiday → 17–18 Wed, then Fri 09–11 → due Fri 11:00.
    expect(new Date(before.dueAt).toISOString()).toBe('2026-11-26T03:00:00.000Z');
    expect(new Date(after.context.deadlines.initialNotice!.dueAt).toISOString()).toBe('2026-11-27T03:00:00.000Z');
  });

  it('why explains each deadline: armed, calendar version, pause with its reason, resume, outcome and clause', async () => {
    const { rt, clock } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00');
    const { caseId } = await rt.engine.open(openCase(), agent);
    clock.now += 10 * MIN;
    await rt.engine.apply(caseId, { type: 'PAUSE', reason: 'customer_caused', note: 'wrong address given' }, agent);
    clock.now += 20 * MIN;
    await rt.engine.apply(caseId, { type: 'RESUME' }, agent);
    clock.now += MIN;
    await rt.engine.apply(caseId, { type: 'RESPOND' }, agent);
    const found = await rt.engine.get(caseId);
    const why = explainDeadlines(found!.policy, found!.stored, await rt.store.history(caseId));
    const notice = why.find((d) => d.name === 'initialNotice')!;
    expect(notice).toMatchObject({ clock: 'business', calendar: 'cs_hours@1', clause: '3.1.3', status: 'armed' });
    expect(notice.steps.map((s) => s.step)).toEqual(['armed', 'paused', 'resumed']);
    expect(notice.steps[1]).toMatchObject({ reason: 'customer_caused: wrong address given', clause: '6.2' });
    expect(notice.dueAt).toMatch(/\+08:00$/);
    const first = why.find((d) => d.name === 'firstResponse')!;
    expect(first.steps.map((s) => s.step)).toEqual(['armed', 'paused', 'resumed', 'met']);
    expect(first.warnings).toMatchObject({ at: [0.5, 0.75, 0.9] });
  });
});

it('keeps VERIFY and the other events working on a held case (the state machine is not blocked by a pause)', async () => {
  const { rt } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00');
  const { caseId } = await rt.engine.open(openCase(), agent);
  await rt.engine.apply(caseId, { type: 'PAUSE', reason: 'customer_caused', note: 'missing documents' }, agent);
  await rt.engine.apply(caseId, VERIFY, agent);
  const c = await readCase(rt, caseId);
  expect(c.state).toBe('verified');
  expect(c.context.deadlines.initialNotice?.status).toBe('paused');
});

describe('outages and pauses together (review findings)', () => {
  it('a pause after an outage window keeps the window out of the time used', async () => {
    const { rt, clock } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00', [testPolicy()]);
    const { caseId } = await rt.engine.open(openCase(), agent);
    await rt.outages.declare(
      {
        start: '2026-11-25T10:02:00+08:00',
        end: '2026-11-25T10:07:00+08:00',
        reason: 'system_failure',
        note: 'CRM down',
        scope: {},
      },
      ops,
    );
    // At 10:10, 10 wall minutes after opening, 5 of them in the window: firstResponse has 10 of 15 left.
    clock.now = Date.parse('2026-11-25T10:10:00+08:00');
    await rt.engine.apply(caseId, { type: 'REQUEST_INFO', request: 'order number?' }, agent);
    expect((await readCase(rt, caseId)).context.deadlines.initialNotice?.remainingMs).toBe(4 * HOUR - 5 * MIN);
    clock.now = Date.parse('2026-11-25T11:00:00+08:00');
    await rt.engine.apply(caseId, { type: 'CUSTOMER_REPLY', message: 'A-1' }, agent);
    const c = (await readCase(rt, caseId)).context;
    expect(new Date(c.deadlines.initialNotice!.dueAt).toISOString()).toBe('2026-11-25T06:55:00.000Z');
  });

  it('ending a window in the past does not shorten a clock armed while the case was held', async () => {
    const { rt, clock } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00', [testPolicy()]);
    const { caseId } = await rt.engine.open(openCase(), agent);
    const outage = await rt.outages.declare(
      { start: '2026-11-25T10:05:00+08:00', reason: 'force_majeure', note: 'typhoon', scope: {} },
      ops,
    );
    clock.now = Date.parse('2026-11-25T10:15:00+08:00');
    await rt.engine.apply(caseId, { type: 'DEADLINE', name: 'firstResponse', epoch: 1 }, SYSTEM_ACTOR, {
      idempotencyKey: 'fire',
    });
    // Held; at 11:03 the case is escalated: its hand-off (2 h) starts paused.
    clock.now = Date.parse('2026-11-25T11:03:00+08:00');
    await rt.engine.apply(caseId, { type: 'FLAG', flag: 'legal_dispute' }, agent);
    expect((await readCase(rt, caseId)).context.deadlines.handoff?.status).toBe('paused');
    const ended = await rt.outages.end(outage.id, ops, Date.parse('2026-11-25T11:00:00+08:00'));
    clock.now = Date.parse('2026-11-25T11:10:00+08:00');
    await resumeHeld({ engine: rt.engine, outages: rt.outages, actor: SYSTEM_ACTOR }, ended);
    const handoff = (await readCase(rt, caseId)).context.deadlines.handoff!;
    // From its arming at 11:03, not from the window's end at 11:00.
    expect(new Date(handoff.dueAt).toISOString()).toBe('2026-11-25T05:03:00.000Z');
  });

  it('the excuse pass after a window ends does not trip over the pass made while it was open', async () => {
    const { rt, clock } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00', [testPolicy()]);
    const { caseId } = await rt.engine.open(openCase(), agent);
    clock.now = Date.parse('2026-11-25T10:15:00+08:00');
    await rt.engine.apply(caseId, { type: 'DEADLINE', name: 'firstResponse', epoch: 1 }, SYSTEM_ACTOR, {
      idempotencyKey: 'fire',
    });
    clock.now = Date.parse('2026-11-25T12:00:00+08:00');
    const open = await rt.outages.declare(
      { start: '2026-11-25T10:10:00+08:00', reason: 'system_failure', note: 'CRM down', scope: {} },
      ops,
    );
    const deps = { engine: rt.engine, outages: rt.outages, actor: SYSTEM_ACTOR };
    expect(await excuseBreaches(deps, open)).toBe(1);
    const ended = await rt.outages.end(open.id, ops, Date.parse('2026-11-25T12:30:00+08:00'));
    expect(await excuseBreaches(deps, ended)).toBe(0);
  });

  it('a migration keeps a due date moved by hand beyond the policy duration', async () => {
    const v1 = clockPolicy();
    const v2 = clockPolicy((doc) => {
      doc.calendars.cs_hours.version = 2;
    }, 2);
    const { rt, clock } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00', [v1]);
    const { caseId } = await rt.engine.open(openCase(), agent);
    const moved = '2026-12-02T18:00:00+08:00';
    await rt.engine.apply(
      caseId,
      { type: 'MOVE_DUE', deadline: 'initialNotice', dueAt: moved, reason: 'customer abroad', clause: '3.1.3' },
      supervisor,
    );
    rt.policies.add(v2);
    clock.now += HOUR;
    await rt.engine.migrate(caseId, 2, 'calendar v2', ops);
    expect((await readCase(rt, caseId)).context.deadlines.initialNotice?.dueAt).toBe(Date.parse(moved));
  });
});

it('ending a window queues the resume twice: at once, and again after every process has seen the end', async () => {
  const { rt } = await fakeTimeRuntime('2026-11-25T10:00:00+08:00', [testPolicy()]);
  const outage = await rt.outages.declare(
    { start: '2026-11-25T10:05:00+08:00', reason: 'force_majeure', note: 'typhoon', scope: {} },
    ops,
  );
  const ended = await rt.outages.end(outage.id, ops, Date.parse('2026-11-25T11:00:00+08:00'));
  const { enqueueOutageWork, SECOND_PASS_MS } = await import('../../src/deadlines/outage-jobs.ts');
  await enqueueOutageWork(rt.outageQueue, ended, 'end');
  const first = await rt.outageQueue.getJob(`${outage.id}.end.closed`);
  const again = await rt.outageQueue.getJob(`${outage.id}.end.again`);
  expect(first?.data).toEqual({ id: outage.id, action: 'end' });
  expect(again?.opts.delay).toBe(SECOND_PASS_MS);
});
