import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clockOf } from '../../machines/clocks.ts';
import type { Actor, CaseContext } from '../../machines/types.ts';
import { compileCalendar } from '../../src/domain/calendar.ts';
import type { CaseEvent } from '../../src/domain/events.ts';
import { AGENT, candidateEvents, PureCase, SYSTEM, timeFor } from '../support/machine.ts';
import { testPolicy } from '../support/policy.ts';

// The clocks on the shipped policy as it is: business calendars (lunch, weekends, holidays), warnings
// at 50/75/90 %, the ladder. Random event sequences at random times; the clock invariants must hold.

const policy = testPolicy({}, 1, { clocks: true });
const calendar = compileCalendar(policy.calendars.cs_hours as NonNullable<(typeof policy.calendars)['cs_hours']>);
const SUPERVISOR: Actor = { name: 'sup', role: 'supervisor' };
// Start anywhere in two weeks around the example calendar's National Day holidays.
const start = fc.integer({
  min: Date.parse('2026-09-25T00:00:00+08:00'),
  max: Date.parse('2026-10-12T00:00:00+08:00'),
});
const step = fc.record({ pick: fc.nat(), gapMinutes: fc.integer({ min: 0, max: 3 * 24 * 60 }), late: fc.nat(60_000) });

const remaining = (ctx: CaseContext, name: string, at: number) => {
  const clock = ctx.deadlines[name];
  if (!clock) return undefined;
  if (clock.status === 'paused') return clock.remainingMs;
  return clockOf(policy, policy.deadlines[name]).measure(at, clock.dueAt);
};

describe('clock properties on business calendars (fast-check)', () => {
  it('pauses never shorten the remaining working time; warnings fire once each, in order, never early', () => {
    fc.assert(
      fc.property(start, fc.array(step, { maxLength: 30 }), (t0, steps) => {
        const c = new PureCase({}, policy, t0);
        const warned = new Map<string, number[]>();
        for (const s of steps) {
          const candidates: CaseEvent[] = [
            ...candidateEvents(c.context),
            { type: 'PAUSE', reason: 'force_majeure', note: 'typhoon' },
          ];
          const event = candidates[s.pick % candidates.length] as CaseEvent;
          const before = c.context;
          const at =
            event.type === 'DEADLINE' ? timeFor(before, event) + s.late : before.updatedAt + s.gapMinutes * 60_000;
          const actor = event.type === 'DEADLINE' ? SYSTEM : event.type === 'PAUSE' ? SUPERVISOR : AGENT;
          const refusal = c.send(event, at, event.type === 'RESUME' ? SUPERVISOR : actor);
          if (refusal) {
            expect(c.context).toBe(before);
            continue;
          }
          const after = c.context;
          for (const [name, clock] of Object.entries(after.deadlines)) {
            const was = before.deadlines[name];
            if (!was) continue;
            // Pausing freezes exactly what was left (in working time on a business clock).
            if (was.status === 'armed' && clock.status === 'paused') {
              expect(clock.remainingMs).toBe(remaining(before, name, at));
            }
            // Resuming gives back exactly what was frozen, counted from the resume.
            if (was.status === 'paused' && clock.status === 'armed') {
              expect(remaining(after, name, at)).toBe(was.remainingMs);
              expect(clock.epoch).toBeGreaterThan(was.epoch);
            }
          }
          if (event.type === 'DEADLINE' && event.warning !== undefined) {
            const key = `${event.name}@${before.deadlines[event.name]?.armedAt}`;
            const list = warned.get(key) ?? [];
            // Once each, in order: warning k follows warnings 0..k-1 of the same arming.
            expect(event.warning).toBe(list.length);
            list.push(event.warning);
            warned.set(key, list);
            expect(at).toBeGreaterThanOrEqual(before.deadlines[event.name]?.warnAt ?? Number.POSITIVE_INFINITY);
          }
          const held = (after.holds?.length ?? 0) > 0;
          for (const clock of Object.values(after.deadlines)) {
            if (held) expect(clock.status).not.toBe('armed');
            else expect(clock.status).not.toBe('paused');
            // A business clock's due time ends working time (the last instant before it is working), unless
            // nothing was left to run.
            if (clock.status === 'armed' && clock.calendar && clock.dueAt > (clock.since ?? clock.armedAt)) {
              expect(calendar.isWorking(clock.dueAt - 1)).toBe(true);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a warning is due at its fraction of the working time: 50, 75 and 90 % of initialNotice (PT4H)', () => {
    fc.assert(
      fc.property(start, (t0) => {
        const c = new PureCase({}, policy, t0);
        const clock = c.context.deadlines.initialNotice!;
        const time = clockOf(policy, policy.deadlines.initialNotice);
        const total = time.measure(clock.armedAt, clock.dueAt);
        expect(total).toBe(4 * 3_600_000);
        const fractions: number[] = [];
        for (let k = 0; k < 3; k++) {
          const now = c.context.deadlines.initialNotice!;
          fractions.push(time.measure(now.armedAt, now.warnAt as number) / total);
          expect(
            c.send({ type: 'DEADLINE', name: 'initialNotice', epoch: now.epoch, warning: k }, now.warnAt, SYSTEM),
          ).toBeUndefined();
        }
        expect(fractions).toEqual([0.5, 0.75, 0.9]);
        expect(c.context.deadlines.initialNotice?.warnAt).toBeUndefined();
      }),
      { numRuns: 100 },
    );
  });
});
