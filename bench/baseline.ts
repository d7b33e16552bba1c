import type { Redis } from 'ioredis';
import { initialTransition, transition } from 'xstate';
import { createCaseMachine } from '../machines/case.machine.ts';
import type { CaseContext, MachineEvent } from '../machines/types.ts';
import type { Policy } from '../src/policy/policy.ts';
import { LIFE, LIFE_STATES, lanes, openInput, SERVICE } from './lib.ts';

// (1) The bare loop the engine is measured against: read the snapshot, pure XState transition, one
// compare-and-set script. No authorization, idempotency, audit, outbox, indexes or BullMQ.

const CAS_LUA = `
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'v', v + 1, 's', ARGV[2])
return v + 1
`;

type Cas = (key: string, expected: number, snapshot: string) => Promise<number>;

export interface LoopResult {
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSec: number;
}

/** Seeds `cases` opened cases (untimed), then runs LIFE on each with `concurrency` cases in flight. */
export async function runBaseline(
  redis: Redis,
  policy: Policy,
  opts: { prefix: string; cases: number; concurrency: number },
): Promise<LoopResult> {
  if (!('bench_cas' in redis)) redis.defineCommand('bench_cas', { numberOfKeys: 1, lua: CAS_LUA });
  const cas = (redis as unknown as Record<string, Cas>).bench_cas as Cas;
  const machine = createCaseMachine(policy);
  const key = (i: number) => `${opts.prefix}case:${i}`;

  const now = Date.now();
  for (let start = 0; start < opts.cases; start += 1000) {
    const pipe = redis.pipeline();
    for (let i = start; i < Math.min(opts.cases, start + 1000); i++) {
      const [snapshot] = initialTransition(machine, { caseId: `b${i}`, open: openInput(policy, i), at: now });
      pipe.hset(key(i), 'v', 1, 's', JSON.stringify({ state: snapshot.value, context: snapshot.context }));
    }
    await pipe.exec();
  }

  const apply = async (k: string, step: number) => {
    for (;;) {
      const [v, s] = await redis.hmget(k, 'v', 's');
      const version = Number(v);
      const stored = JSON.parse(s as string) as { state: string; context: CaseContext };
      const event = { ...LIFE[step], at: Date.now(), actor: SERVICE } as MachineEvent;
      const [next] = transition(machine, machine.resolveState({ value: stored.state, context: stored.context }), event);
      if (next.context === stored.context) throw new Error(`baseline: ${event.type} refused in ${stored.state}`);
      const state = String(next.value);
      if (state !== LIFE_STATES[step]) throw new Error(`baseline: ${event.type} led to ${state}`);
      const committed = await cas.call(redis, k, version, JSON.stringify({ state, context: next.context }));
      if (committed === version + 1) return;
    }
  };

  const t0 = performance.now();
  await lanes(opts.concurrency, opts.cases, async (i) => {
    for (let step = 0; step < LIFE.length; step++) await apply(key(i), step);
  });
  const seconds = (performance.now() - t0) / 1000;
  const events = opts.cases * LIFE.length;
  return { events, seconds, eventsPerSec: events / seconds };
}
