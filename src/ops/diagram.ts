import type { AnyStateMachine } from 'xstate';
import { edgeLabel, layoutGraph } from './diagram-layout.ts';
import { escapeXml } from './html.ts';

// The case machine drawn from its own definition (issue 5: "never a hand-drawn copy"): states and
// event-labelled edges are read from the XState state nodes, so a state or event added to
// machines/case.machine.ts shows up here without touching this file.

export interface GraphState {
  /** The state's path joined with '.', as a stored case names it (`escalated`, or `a.b` when nested). */
  readonly id: string;
  readonly parent: string | null;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Events the state handles without leaving it (targetless transitions), in definition order. */
  readonly stays: readonly string[];
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  /** `event`: a named event; `always`: eventless; `after`: a delayed transition. */
  readonly kind: 'event' | 'always' | 'after';
  /** The event type; for `after` the delay (`after 5000ms`); empty for `always`. */
  readonly event: string;
  readonly guard?: string;
  /** A transition to its own source that exits and re-enters it (runs entry actions again). */
  readonly reenter: boolean;
}

export interface MachineGraph {
  readonly id: string;
  readonly initial: string;
  readonly states: readonly GraphState[];
  readonly edges: readonly GraphEdge[];
  /** Every event type some state handles, in order of first appearance. */
  readonly events: readonly string[];
}

export interface DrawOptions {
  /** A state id to mark as the case's current state. */
  readonly highlight?: string;
}

type Node = AnyStateMachine['root'];
type Transition = NonNullable<Node['always']>[number];

const pathOf = (node: Node) => node.path.join('.');

function guardName(guard: unknown): string | undefined {
  if (guard === undefined) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && guard !== null && 'type' in guard) return String(guard.type);
  if (typeof guard === 'function') return guard.name || 'guard';
  return 'guard';
}

/** Walks the machine's state nodes (depth first, definition order) into states and edges. */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const states: GraphState[] = [];
  const edges: GraphEdge[] = [];
  const events: string[] = [];
  const seen = new Set<string>();
  const note = (event: string) => {
    if (!seen.has(event)) {
      seen.add(event);
      events.push(event);
    }
  };

  const visit = (node: Node) => {
    const id = pathOf(node);
    const stays: string[] = [];
    const add = (t: Transition, kind: GraphEdge['kind'], event: string) => {
      const guard = guardName(t.guard);
      const targets = t.target ?? [];
      if (targets.length === 0) {
        if (!stays.includes(event)) stays.push(event);
        return;
      }
      for (const target of targets) {
        edges.push({ from: id, to: pathOf(target), kind, event, ...(guard ? { guard } : {}), reenter: t.reenter });
      }
    };
    for (const t of node.always ?? []) add(t, 'always', '');
    for (const [type, transitions] of node.transitions) {
      const delayed = /^xstate\.after\.([^.]+)\./.exec(type);
      if (!delayed) note(type);
      for (const t of transitions) add(t, delayed ? 'after' : 'event', delayed ? `after ${delayed[1]}ms` : type);
    }
    states.push({ id, parent: node.parent?.parent ? pathOf(node.parent) : null, type: node.type, stays });
    for (const child of Object.values(node.states) as Node[]) visit(child);
  };
  for (const child of Object.values(machine.root.states) as Node[]) visit(child);

  const initial = machine.root.initial?.target[0];
  return { id: machine.id, initial: initial ? pathOf(initial) : (states[0]?.id ?? ''), states, edges, events };
}

function checkHighlight(graph: MachineGraph, highlight: string | undefined): void {
  if (highlight === undefined || graph.states.some((s) => s.id === highlight)) return;
  throw new RangeError(
    `highlight: "${highlight}" is not a state of machine ${graph.id} (states: ${graph.states.map((s) => s.id).join(', ')})`,
  );
}

const mermaidId = (id: string) => id.replace(/[^A-Za-z0-9_]/g, '_');
// Mermaid's label text ends at a newline and treats ';' and '#' specially.
const mermaidText = (text: string) => text.replace(/[\n;#]/g, ' ');

/** Mermaid `stateDiagram-v2` source: one line per transition, notes for events a state handles in place. */
export function toMermaid(graph: MachineGraph, opts: DrawOptions = {}): string {
  checkHighlight(graph, opts.highlight);
  const lines = ['stateDiagram-v2', '  direction LR'];
  for (const s of graph.states) {
    if (mermaidId(s.id) !== s.id) lines.push(`  state "${mermaidText(s.id)}" as ${mermaidId(s.id)}`);
  }
  lines.push(`  [*] --> ${mermaidId(graph.initial)}`);
  for (const e of graph.edges) {
    lines.push(`  ${mermaidId(e.from)} --> ${mermaidId(e.to)} : ${mermaidText(edgeLabel(e))}`);
  }
  for (const s of graph.states) {
    if (s.type === 'final') lines.push(`  ${mermaidId(s.id)} --> [*]`);
  }
  for (const s of graph.states) {
    if (s.stays.length > 0) {
      lines.push(`  note right of ${mermaidId(s.id)} : stays on ${mermaidText(s.stays.join(', '))}`);
    }
  }
  if (opts.highlight !== undefined) {
    lines.push('  classDef current fill:#fde68a,stroke:#b45309,stroke-width:3px');
    lines.push(`  class ${mermaidId(opts.highlight)} current`);
  }
  return `${lines.join('\n')}\n`;
}

const FONT = 'system-ui, -apple-system, Segoe UI, sans-serif';

/**
 * A standalone SVG (presentation attributes only, no `<style>`, so it renders the same inline under a
 * strict Content-Security-Policy and as a file). The highlighted state's group has class `node current`.
 */
export function toSvg(graph: MachineGraph, opts: DrawOptions = {}): string {
  checkHighlight(graph, opts.highlight);
  const layout = layoutGraph(graph);
  const out: string[] = [];
  const label = `State machine ${graph.id}${opts.highlight ? `, current state ${opts.highlight}` : ''}`;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="machine-diagram" viewBox="0 0 ${layout.width} ${layout.height}" width="${layout.width}" height="${layout.height}" role="img" aria-label="${escapeXml(label)}" font-family="${FONT}">`,
    `<title>${escapeXml(label)}</title>`,
    '<defs><marker id="ivn-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#475569"/></marker></defs>',
  );
  const start = layout.initialMarker;
  out.push(
    `<g class="initial"><circle cx="${start.cx}" cy="${start.cy}" r="6" fill="#0f172a"/>`,
    `<path d="M${start.cx + 6},${start.cy} L${start.x2},${start.cy}" stroke="#475569" stroke-width="1.5" fill="none" marker-end="url(#ivn-arrow)"/></g>`,
  );
  for (const e of layout.edges) {
    const current = opts.highlight !== undefined && (e.from === opts.highlight || e.to === opts.highlight);
    out.push(
      `<g class="edge" data-from="${escapeXml(e.from)}" data-to="${escapeXml(e.to)}"><title>${escapeXml(e.title)}</title>`,
      `<path d="${e.path}" stroke="${current ? '#b45309' : '#64748b'}" stroke-width="${current ? 1.8 : 1.3}" fill="none" marker-end="url(#ivn-arrow)"/>`,
    );
    e.lines.forEach((line, i) => {
      out.push(
        `<text x="${e.labelX}" y="${e.labelY + i * 13}" font-size="11" text-anchor="middle" fill="#1e293b" stroke="#ffffff" stroke-width="3" paint-order="stroke">${escapeXml(line)}</text>`,
      );
    });
    out.push('</g>');
  }
  for (const n of layout.nodes) {
    const current = n.id === opts.highlight;
    const state = graph.states.find((s) => s.id === n.id) as GraphState;
    out.push(
      `<g class="node${current ? ' current' : ''}" data-state="${escapeXml(n.id)}"${current ? ' aria-current="true"' : ''}>`,
      `<title>${escapeXml(n.id)}${current ? ' (current)' : ''}${state.stays.length ? ` — stays on ${escapeXml(state.stays.join(', '))}` : ''}</title>`,
      `<rect x="${n.x}" y="${n.y}" width="${n.width}" height="${n.height}" rx="10" fill="${current ? '#fde68a' : '#f8fafc'}" stroke="${current ? '#b45309' : '#334155'}" stroke-width="${current ? 3 : 1.2}"/>`,
    );
    if (state.type === 'final') {
      out.push(
        `<rect x="${n.x + 4}" y="${n.y + 4}" width="${n.width - 8}" height="${n.height - 8}" rx="7" fill="none" stroke="#334155"/>`,
      );
    }
    out.push(
      `<text x="${n.x + n.width / 2}" y="${n.y + 22}" font-size="14" font-weight="600" text-anchor="middle" fill="#0f172a">${escapeXml(n.id)}</text>`,
    );
    n.stays.forEach((line, i) => {
      out.push(
        `<text x="${n.x + n.width / 2}" y="${n.y + 40 + i * 13}" font-size="10.5" text-anchor="middle" fill="#475569">${escapeXml(line)}</text>`,
      );
    });
    out.push('</g>');
  }
  layout.legend.lines.forEach((line, i) => {
    out.push(
      `<text class="legend" x="${layout.legend.x}" y="${layout.legend.y + i * 13}" font-size="11" fill="#475569">${escapeXml(line)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
