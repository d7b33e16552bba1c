import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { createCaseMachine } from '../../machines/case.machine.ts';
import { machineCommand } from '../../src/cli/machine.ts';
import { machineGraph, toMermaid, toSvg } from '../../src/ops/diagram.ts';
import { testPolicy } from '../support/policy.ts';

// The machine diagram is generated from the definition (issue 5): every state and event of the case
// machine appears, and a highlight marks exactly one state.

const machine = createCaseMachine(testPolicy());
const graph = machineGraph(machine);

/** The states and events read straight from the machine's config, independently of the generator. */
function fromConfig() {
  const states: string[] = [];
  const events = new Set<string>();
  const walk = (config: Record<string, any> | undefined, path: string[]) => {
    for (const [key, node] of Object.entries(config ?? {})) {
      states.push([...path, key].join('.'));
      for (const event of Object.keys(node.on ?? {})) events.add(event);
      walk(node.states, [...path, key]);
    }
  };
  walk(machine.config.states as Record<string, any>, []);
  return { states, events: [...events] };
}

const nodesOf = (svg: string) => [...svg.matchAll(/<g class="node( current)?" data-state="([^"]+)"/g)];

describe('the machine diagram', () => {
  const expected = fromConfig();

  it('has every state of the case machine as a node', () => {
    expect(expected.states.length).toBeGreaterThanOrEqual(7);
    expect(graph.states.map((s) => s.id)).toEqual(expected.states);
    expect(graph.initial).toBe('received');
    const svg = toSvg(graph);
    expect(
      nodesOf(svg)
        .map((m) => m[2])
        .sort(),
    ).toEqual([...expected.states].sort());
    const mermaid = toMermaid(graph);
    for (const state of expected.states) expect(mermaid).toMatch(new RegExp(`(^|\\s)${state}(\\s|$)`, 'm'));
  });

  it('labels edges with every event of the case machine, in the SVG and in Mermaid', () => {
    expect(new Set(graph.events)).toEqual(new Set(expected.events));
    expect(new Set(graph.events)).toEqual(new Set(machine.events));
    const svg = toSvg(graph);
    const mermaid = toMermaid(graph);
    for (const event of expected.events) {
      expect(svg, event).toMatch(new RegExp(`[>\\s,]${event}[<,\\s]`));
      expect(mermaid, event).toContain(event);
    }
  });

  it('draws each state change as an edge, including the eventless escalation of a flagged case (clause 1)', () => {
    expect(graph.edges).toContainEqual(
      expect.objectContaining({ from: 'received', to: 'verified', kind: 'event', event: 'VERIFY' }),
    );
    expect(graph.edges).toContainEqual(
      expect.objectContaining({ from: 'received', to: 'escalated', kind: 'always', guard: 'flagged' }),
    );
    expect(graph.edges).toContainEqual(
      expect.objectContaining({ from: 'escalated', to: 'escalated', event: 'DEADLINE', reenter: true }),
    );
    expect(toMermaid(graph)).toContain('received --> escalated : always [flagged]');
    expect(graph.states.find((s) => s.id === 'received')?.stays).toContain('RESPOND');
  });

  it('marks exactly one node when a state is highlighted, for every state', () => {
    for (const state of expected.states) {
      const svg = toSvg(graph, { highlight: state });
      const current = nodesOf(svg).filter((m) => m[1]);
      expect(
        current.map((m) => m[2]),
        state,
      ).toEqual([state]);
      expect(svg.match(/aria-current="true"/g)).toHaveLength(1);
      const mermaid = toMermaid(graph, { highlight: state });
      expect(mermaid.match(/^\s*class \S+ current$/gm)).toEqual([`  class ${state} current`]);
    }
    expect(nodesOf(toSvg(graph)).filter((m) => m[1])).toHaveLength(0);
  });

  it('refuses to highlight a state the machine does not have, naming it', () => {
    expect(() => toSvg(graph, { highlight: 'limbo' })).toThrow(/highlight: "limbo" is not a state/);
    expect(() => toMermaid(graph, { highlight: 'limbo' })).toThrow(/highlight/);
  });

  it('is deterministic and escapes what it draws', () => {
    expect(toSvg(graph, { highlight: 'verified' })).toBe(
      toSvg(machineGraph(createCaseMachine(testPolicy())), { highlight: 'verified' }),
    );
    const odd = machineGraph(
      createMachine({ id: 'odd', initial: 'a<b', states: { 'a<b': { on: { 'GO&"': 'c' } }, c: { type: 'final' } } }),
    );
    const svg = toSvg(odd, { highlight: 'a<b' });
    expect(svg).toContain('data-state="a&lt;b"');
    expect(svg).toContain('GO&amp;&quot;');
    expect(svg).not.toMatch(/<b|GO&"/);
  });

  it('follows the definition it is given: nested, delayed and final states of another machine', () => {
    const other = machineGraph(
      createMachine({
        id: 'door',
        initial: 'closed',
        states: {
          closed: { on: { OPEN: 'open' } },
          open: {
            initial: 'swinging',
            states: { swinging: { after: { 500: 'still' } }, still: { on: { SHUT: '#door.closed' } } },
            on: { LOCK: 'locked' },
          },
          locked: { type: 'final' },
        },
      }),
    );
    expect(other.states.map((s) => s.id)).toEqual(['closed', 'open', 'open.swinging', 'open.still', 'locked']);
    expect(other.edges).toContainEqual(
      expect.objectContaining({ from: 'open.swinging', to: 'open.still', kind: 'after', event: 'after 500ms' }),
    );
    expect(other.edges).toContainEqual(expect.objectContaining({ from: 'open.still', to: 'closed', event: 'SHUT' }));
    expect(other.events).toEqual(['OPEN', 'LOCK', 'SHUT']);
    const mermaid = toMermaid(other, { highlight: 'open.still' });
    expect(mermaid).toContain('state "open.still" as open_still');
    expect(mermaid).toContain('open_swinging --> open_still : after 500ms');
    expect(mermaid).toContain('locked --> [*]');
    expect(mermaid).toContain('class open_still current');
    expect(
      nodesOf(toSvg(other, { highlight: 'open.still' }))
        .filter((m) => m[1])
        .map((m) => m[2]),
    ).toEqual(['open.still']);
  });
});

describe('intervene machine diagram', () => {
  const run = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await machineCommand(
      argv,
      { out: (s) => out.push(s), err: (s) => err.push(s) },
      {
        INTERVENE_POLICIES: 'policies',
      },
    );
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it('prints Mermaid by default and SVG with --format svg, highlighted with --highlight', async () => {
    const mermaid = await run('diagram');
    expect(mermaid.code).toBe(0);
    expect(mermaid.out).toMatch(/^stateDiagram-v2\n/);
    const svg = await run('diagram', '--format', 'svg', '--contract', 'MC-2026-001', '--highlight', 'resolved');
    expect(svg.code, svg.err).toBe(0);
    expect(svg.out).toMatch(/^<svg /);
    expect(
      nodesOf(svg.out)
        .filter((m) => m[1])
        .map((m) => m[2]),
    ).toEqual(['resolved']);
    const json = await run('diagram', '--json');
    expect(JSON.parse(json.out).states.map((s: { id: string }) => s.id)).toEqual(graph.states.map((s) => s.id));
  });

  it('answers bad usage with exit code 2 and names the flag', async () => {
    expect(await run('diagram', '--format', 'png')).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--format must be mermaid or svg/),
    });
    expect(await run('diagram', '--contract', 'NOPE')).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--contract: no policy is loaded for NOPE/),
    });
    expect(await run('diagram', '--highlight', 'limbo')).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--highlight: "limbo"/),
    });
    expect(await run('draw')).toMatchObject({ code: 2, err: expect.stringMatching(/unknown command: machine draw/) });
    expect(await run('diagram', '--bogus')).toMatchObject({ code: 2, err: expect.stringMatching(/bogus/) });
    expect((await run('--help')).code).toBe(0);
  });
});
