import { getAdjacencyMap, getShortestPaths } from '@xstate/graph';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCaseMachine } from '../../machines/case.machine.ts';
import type { CaseContext, MachineEvent } from '../../machines/types.ts';
import { compareMoney } from '../../src/domain/money.ts';
import { CASE_STATES } from '../../src/domain/vocabulary.ts';
import { AGENT, candidateEvents, PureCase, T0, timeFor } from '../support/machine.ts';
import { openCase, testPolicy } from '../support/policy.ts';

const policy = testPolicy();
const machine = createCaseMachine(policy);
const input = { caseId: 'c-model', open: openCase() as never, at: T0 };

/** A finite abstraction of the case: what decides which events are accepted. */
function abstract(snapshot: { value: unknown; context: CaseContext }): string {
  const c = snapshot.context;
  const armed = Object.entries(c.deadlines)
    .filter(([, d]) => d.status === 'armed' || d.status === 'paused')
    .map(([n, d]) => `${n}:${d.status}`)
    .sort();
  return [
    String(snapshot.value),
    c.escalation ? `${c.escalation.status}@${c.escalation.department}/${c.escalation.level}` : '-',
    c.flags.length > 0 ? 'flagged' : 'clean',
    c.resumeTo ?? '-',
    (c.holds ?? []).map((h) => h.reason).join('+') || 'running',
    c.verified,
    c.resolution?.by ?? '-',
    armed.join(','),
  ].join('|');
}

const traversal = {
  input,
  serializeState: abstract as never,
  events: (snapshot: { context: CaseContext }) =>
    candidateEvents(snapshot.context).map(
      (e) => ({ ...e, at: timeFor(snapshot.context, e), actor: AGENT }) as MachineEvent,
    ),
  limit: 500_000,
};

describe('model-based: paths generated from the machine graph', () => {
  type Node = {
    state: { value: unknown };
    transitions: Record<string, { event: MachineEvent; state: { value: unknown } }>;
  };
  const adjacency = getAdjacencyMap(machine, traversal as never) as unknown as Record<string, Node>;
  const nodes = Object.entries(adjacency);

  it('reaches every state of the lifecycle', () => {
    const reached = new Set(nodes.map(([, n]) => String((n.state as { value: unknown }).value)));
    expect([...reached].sort()).toEqual([...CASE_STATES].sort());
  });

  it('has no dead ends: from every reachable situation a path leads to closed', () => {
    const edges = new Map(
      nodes.map(([key, n]) => [key, Object.values(n.transitions).map((t) => abstract(t.state as never))]),
    );
    const canClose = new Set(
      nodes.filter(([, n]) => (n.state as { value: unknown }).value === 'closed').map(([k]) => k),
    );
    for (let changed = true; changed; ) {
      changed = false;
      for (const [key, next] of edges) {
        if (!canClose.has(key) && next.some((k) => canClose.has(k))) {
          canClose.add(key);
          changed = true;
        }
      }
    }
    const stuck = nodes.map(([k]) => k).filter((k) => !canClose.has(k));
    expect(stuck).toEqual([]);
  });

  it('leaves closed only by REOPEN', () => {
    for (const [, n] of nodes) {
      if ((n.state as { value: unknown }).value !== 'closed') continue;
      for (const t of Object.values(n.transitions)) {
        if ((t.state as { value: unknown }).value !== 'closed') expect(t.event.type).toBe('REOPEN');
      }
    }
  });

  const paths = getShortestPaths(machine, traversal as never);
  it.each(paths.map((p) => [abstract(p.state as never), p] as const))(
    'replays the shortest path to %s',
    (_name, path) => {
      const c = new PureCase();
      let accepted = 1;
      for (const step of path.steps.slice(1)) {
        const event = step.event as MachineEvent;
        const { at, actor, ...rest } = event;
        if (c.send(rest as never, at, actor) === undefined) accepted++;
      }
      expect(abstract(c.snapshot as never)).toBe(abstract(path.state as never));
      expect(c.context.accepted).toBe(accepted);
    },
  );
});

describe('properties over random event sequences (fast-check)', () => {
  const step = fc.record({
    pick: fc.nat(),
    gapMinutes: fc.integer({ min: 0, max: 600 }),
    lateMs: fc.integer({ min: -5_000, max: 5_000 }),
  });
  const opening = fc.record({
    category: fc.constantFrom('inquiry', 'complaint', 'small_claim', 'fee_waiver'),
    flags: fc.subarray(['legal_dispute', 'major_breach', 'beyond_authority'] as const, { maxLength: 2 }),
    amount: fc.option(
      fc.integer({ min: 0, max: 100_000 }).map((cents) => ({ amount: (cents / 100).toFixed(2), currency: 'CNY' })),
      {
        nil: undefined,
      },
    ),
  });

  it('no resolution beyond authority, no CS resolution of a flagged case, version = accepted events, no early firing', () => {
    fc.assert(
      fc.property(opening, fc.array(step, { maxLength: 40 }), (open, steps) => {
        const c = new PureCase({
          category: open.category,
          flags: open.flags,
          ...(open.amount ? { amount: open.amount } : {}),
        });
        let accepted = 1;
        for (const s of steps) {
          const candidates = candidateEvents(c.context);
          const event = candidates[s.pick % candidates.length] as (typeof candidates)[number];
          const before = c.context;
          const at =
            event.type === 'DEADLINE' ? timeFor(before, event) + s.lateMs : before.updatedAt + s.gapMinutes * 60_000;
          const refusal = c.send(event, at, event.type === 'DEADLINE' ? { name: 't', role: 'system' } : AGENT);
          if (refusal) {
            expect(c.context).toBe(before);
            continue;
          }
          accepted++;
          if (event.type === 'RESOLVE') {
            // 2.2.4, 2.3.x: an accepted CS resolution had no trigger and stayed within the limit.
            expect(before.flags).toEqual([]);
            if (event.adjustment)
              expect(compareMoney(event.adjustment, policy.authority.amountLimit)).toBeLessThanOrEqual(0);
            expect(policy.authority.categories).toContain(before.open.category);
          }
          if (event.type === 'DEADLINE') expect(at).toBeGreaterThanOrEqual(timeFor(before, event));
        }
        const ctx = c.context;
        expect(ctx.accepted).toBe(accepted);
        if (['resolved', 'closed'].includes(c.state) && ctx.flags.length > 0)
          expect(ctx.resolution?.by).toBe('department');
        // Clocks pause only while a hold with a 6.2 reason stands, and then none runs; epochs are unique.
        const clocks = Object.values(ctx.deadlines);
        const held = (ctx.holds?.length ?? 0) > 0;
        if (!held) expect(clocks.filter((d) => d.status === 'paused')).toEqual([]);
        if (held) expect(clocks.filter((d) => d.status === 'armed')).toEqual([]);
        if (c.state === 'awaitingCustomer')
          expect(ctx.holds?.some((h) => h.reason === 'waiting_on_customer')).toBe(true);
        const epochs = clocks.map((d) => d.epoch);
        expect(new Set(epochs).size).toBe(epochs.length);
        expect(Math.max(0, ...epochs)).toBeLessThanOrEqual(ctx.epoch);
        if (c.state === 'escalated') expect(ctx.escalation).not.toBeNull();
      }),
      { numRuns: 400 },
    );
  });

  it('cases interleaved on one shared machine: every step the same as XState’s own transition', () => {
    // PureCase.send compares each step with XState's transition(); here several cases share one machine
    // and their steps interleave, as the engine's do (machines/transition.ts reuses one scope per machine).
    fc.assert(
      fc.property(
        fc.array(opening, { minLength: 2, maxLength: 4 }),
        fc.array(step, { maxLength: 60 }),
        (opens, steps) => {
          const cases = opens.map(
            (open) =>
              new PureCase(
                { category: open.category, flags: open.flags, ...(open.amount ? { amount: open.amount } : {}) },
                policy,
              ),
          );
          expect(new Set(cases.map((c) => c.machine)).size).toBe(1);
          for (const s of steps) {
            const c = cases[s.pick % cases.length] as PureCase;
            const candidates = candidateEvents(c.context);
            const event = candidates[
              Math.floor(s.pick / cases.length) % candidates.length
            ] as (typeof candidates)[number];
            const at =
              event.type === 'DEADLINE'
                ? timeFor(c.context, event) + s.lateMs
                : c.context.updatedAt + s.gapMinutes * 60_000;
            c.send(event, at, event.type === 'DEADLINE' ? { name: 't', role: 'system' } : AGENT);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('pauses never shorten the remaining time (6.2)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 14_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        (askAfterSec, waitMs) => {
          const c = new PureCase();
          c.send({ type: 'REQUEST_INFO', request: 'x' }, T0 + askAfterSec * 1000);
          const paused = c.context.deadlines.initialNotice;
          c.send({ type: 'CUSTOMER_REPLY' }, T0 + askAfterSec * 1000 + waitMs);
          const resumed = c.context.deadlines.initialNotice;
          const remainingBefore = Math.max(0, T0 + 4 * 3_600_000 - (T0 + askAfterSec * 1000));
          expect(paused?.remainingMs).toBe(remainingBefore);
          expect((resumed?.dueAt ?? 0) - (T0 + askAfterSec * 1000 + waitMs)).toBe(remainingBefore);
        },
      ),
    );
  });
});
