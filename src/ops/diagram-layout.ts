import type { GraphEdge, MachineGraph } from './diagram.ts';

// A small deterministic layered layout for the machine diagram: states in columns by their distance
// from the initial state, ordered within a column by the barycentre of their neighbours, one curve
// per ordered pair of states, labels slid along their curve until they overlap nothing placed before.
// The same graph always gives the same picture (no randomness, no clock).

export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface PlacedNode extends Box {
  readonly id: string;
  /** The events it alone handles in place, wrapped into lines. */
  readonly stays: readonly string[];
}

export interface PlacedEdge {
  readonly from: string;
  readonly to: string;
  readonly path: string;
  readonly labelX: number;
  readonly labelY: number;
  readonly lines: readonly string[];
  /** Every transition it stands for, with guards. */
  readonly title: string;
}

export interface Layout {
  readonly width: number;
  readonly height: number;
  readonly nodes: readonly PlacedNode[];
  readonly edges: readonly PlacedEdge[];
  /** Events handled in place by many states, said once under the drawing. */
  readonly legend: { readonly x: number; readonly y: number; readonly lines: readonly string[] };
  readonly initialMarker: { readonly cx: number; readonly cy: number; readonly x2: number };
}

/** Average advance of the labels' (mostly upper-case) characters at 11 px. */
const CHAR = 7;
const LINE = 13;
const MARGIN = 30;
const COLUMN_GAP = 250;
const ROW_GAP = 120;
const LOOP_ROOM = 46;

const r1 = (v: number) => Math.round(v * 10) / 10;

/** An edge's label: the event, `always` or the delay, with its guard in brackets. */
export function edgeLabel(edge: GraphEdge, withGuard = true): string {
  const name = edge.kind === 'always' ? 'always' : edge.event;
  return withGuard && edge.guard ? `${name} [${edge.guard}]` : name;
}

/** Joins words with ', ' into lines of at most `max` characters. */
function wrap(words: readonly string[], max: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    const next = line ? `${line}, ${w}` : w;
    if (line && next.length > max) {
      lines.push(`${line},`);
      line = w;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

/** Column of each state: breadth-first distance from the initial state; unreachable states last. */
function ranks(graph: MachineGraph): Map<string, number> {
  const rank = new Map<string, number>([[graph.initial, 0]]);
  const queue = [graph.initial];
  while (queue.length > 0) {
    const id = queue.shift() as string;
    for (const e of graph.edges) {
      if (e.from === id && !rank.has(e.to)) {
        rank.set(e.to, (rank.get(id) ?? 0) + 1);
        queue.push(e.to);
      }
    }
  }
  const last = Math.max(0, ...rank.values()) + 1;
  for (const s of graph.states) if (!rank.has(s.id)) rank.set(s.id, last);
  return rank;
}

/** Orders each column by the mean position of its neighbours in other columns (a few sweeps). */
function order(graph: MachineGraph, rank: Map<string, number>): string[][] {
  const byRank = new Map<number, string[]>();
  for (const s of graph.states) {
    const r = rank.get(s.id) as number;
    byRank.set(r, [...(byRank.get(r) ?? []), s.id]);
  }
  const columns = [...byRank.keys()].sort((a, b) => a - b).map((r) => byRank.get(r) as string[]);
  const neighbours = (id: string) =>
    graph.edges.flatMap((e) => (e.from === id && e.to !== id ? [e.to] : e.to === id && e.from !== id ? [e.from] : []));
  const spread = (i: number, n: number) => (n <= 1 ? 0.5 : i / (n - 1));
  for (let sweep = 0; sweep < 4; sweep++) {
    const position = new Map<string, number>();
    for (const column of columns) {
      column.forEach((id, i) => {
        position.set(id, spread(i, column.length));
      });
    }
    for (const column of columns) {
      const weight = new Map<string, number>();
      column.forEach((id, i) => {
        const ps = neighbours(id)
          .filter((n) => rank.get(n) !== rank.get(id))
          .map((n) => position.get(n) as number);
        weight.set(id, ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : spread(i, column.length));
      });
      column.sort((a, b) => (weight.get(a) as number) - (weight.get(b) as number) || a.localeCompare(b));
    }
  }
  return columns;
}

/**
 * Events handled in place by more than half of the states are said once, in a legend grouped by the
 * states that do not handle them, instead of in every box.
 */
function sharedStays(graph: MachineGraph): { shared: Set<string>; legend: string[] } {
  const count = new Map<string, number>();
  for (const s of graph.states) for (const e of s.stays) count.set(e, (count.get(e) ?? 0) + 1);
  const shared = new Set([...count].filter(([, n]) => n >= 3 && n > graph.states.length / 2).map(([e]) => e));
  const groups = new Map<string, string[]>();
  for (const event of shared) {
    const missing = graph.states.filter((s) => !s.stays.includes(event)).map((s) => s.id);
    const where = missing.length === 0 ? 'in every state' : `in every state but ${missing.join(', ')}`;
    groups.set(where, [...(groups.get(where) ?? []), event]);
  }
  const legend = [...groups].flatMap(([where, events]) =>
    wrap([`⟲ ${events[0]}`, ...events.slice(1)], 90).map((l, i, all) => (i === all.length - 1 ? `${l} — ${where}` : l)),
  );
  return { shared, legend };
}

function placeNodes(graph: MachineGraph, columns: string[][], shared: Set<string>): Map<string, PlacedNode> {
  const sizes = new Map(
    graph.states.map((s) => {
      const own = s.stays.filter((e) => !shared.has(e));
      const stays = own.length ? wrap([`⟲ ${own[0]}`, ...own.slice(1)], 24) : [];
      const width = Math.max(150, s.id.length * 9 + 30, ...stays.map((l) => l.length * 6.4 + 20));
      return [s.id, { width, height: 34 + stays.length * LINE + (stays.length ? 4 : 0), stays }];
    }),
  );
  const size = (id: string) => sizes.get(id) as { width: number; height: number; stays: string[] };
  const heights = columns.map((c) => c.reduce((h, id) => h + size(id).height + ROW_GAP, -ROW_GAP));
  const tallest = Math.max(...heights);
  const nodes = new Map<string, PlacedNode>();
  let x = MARGIN + 30;
  columns.forEach((column, c) => {
    const width = Math.max(...column.map((id) => size(id).width));
    let y = MARGIN + LOOP_ROOM + (tallest - (heights[c] as number)) / 2;
    for (const id of column) {
      const { height, stays } = size(id);
      nodes.set(id, { id, x: r1(x), y: r1(y), width: r1(width), height, stays });
      y += height + ROW_GAP;
    }
    x += width + COLUMN_GAP;
  });
  return nodes;
}

/** Where the line from a box's centre towards (tx, ty) leaves the box. */
function border(n: Box, tx: number, ty: number): [number, number] {
  const cx = n.x + n.width / 2;
  const cy = n.y + n.height / 2;
  const dx = tx - cx;
  const dy = ty - cy;
  if (dx === 0 && dy === 0) return [cx, cy];
  const scale = Math.min(Math.abs(n.width / 2 / (dx || 1e-9)), Math.abs(n.height / 2 / (dy || 1e-9)));
  return [cx + dx * scale, cy + dy * scale];
}

/** The area two boxes share. */
const overlap = (a: Box, b: Box) =>
  Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x)) *
  Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));

/** The label's box when centred at (x, y). */
function labelBox(lines: readonly string[], x: number, y: number): Box {
  const width = Math.max(...lines.map((l) => l.length)) * CHAR + 6;
  const height = lines.length * LINE + 2;
  return { x: x - width / 2, y: y - height / 2, width, height };
}

interface Curve {
  readonly from: string;
  readonly to: string;
  readonly lines: string[];
  readonly title: string;
  readonly path: string;
  /** Candidate label centres, best first. */
  readonly spots: [number, number][];
}

function curve(group: GraphEdge[], nodes: Map<string, PlacedNode>, rank: Map<string, number>, reverse: boolean): Curve {
  const { from, to } = group[0] as GraphEdge;
  const lines = wrap([...new Set(group.map((e) => edgeLabel(e, false)))], 28);
  const title = `${from} → ${to}: ${group.map((e) => edgeLabel(e)).join('; ')}`;
  const a = nodes.get(from) as PlacedNode;
  const b = nodes.get(to) as PlacedNode;
  if (from === to) {
    // A re-entering self transition: a loop over the top of the box.
    const [l, r, top] = [r1(a.x + a.width * 0.3), r1(a.x + a.width * 0.7), r1(a.y - LOOP_ROOM)];
    const path = `M${l},${a.y} C${l},${top} ${r},${top} ${r},${a.y}`;
    return { from, to, lines, title, path, spots: [[a.x + a.width / 2, top - ((lines.length - 1) * LINE) / 2]] };
  }
  const [ax, ay, bx, by] = [a.x + a.width / 2, a.y + a.height / 2, b.x + b.width / 2, b.y + b.height / 2];
  const forward = (rank.get(to) as number) - (rank.get(from) as number);
  // Neighbouring columns go straight unless the pair runs both ways; long, backward and same-column edges bow.
  // Within one column a curve must clear the boxes stacked between its ends.
  const between = [...nodes.values()].filter(
    (n) => n.x === a.x && n.y > Math.min(a.y, b.y) && n.y < Math.max(a.y, b.y),
  ).length;
  const bend =
    forward === 1 ? (reverse ? 22 : 0) : forward === 0 ? 40 + a.width * 0.6 * between : 30 + 24 * Math.abs(forward);
  const length = Math.hypot(bx - ax, by - ay) || 1;
  const [nx, ny] = [-(by - ay) / length, (bx - ax) / length];
  const [mx, my] = [(ax + bx) / 2 + nx * bend, (ay + by) / 2 + ny * bend];
  const [sx, sy] = border(a, mx, my);
  const [ex, ey] = border(b, mx, my);
  // The control point that puts the curve's midpoint at (mx, my).
  const [cx, cy] = [2 * mx - (sx + ex) / 2, 2 * my - (sy + ey) / 2];
  const at = (t: number): [number, number] => [
    (1 - t) ** 2 * sx + 2 * (1 - t) * t * cx + t ** 2 * ex,
    (1 - t) ** 2 * sy + 2 * (1 - t) * t * cy + t ** 2 * ey,
  ];
  const spots = [0.5, 0.4, 0.6, 0.32, 0.68, 0.25, 0.75].map(at);
  return { from, to, lines, title, path: `M${r1(sx)},${r1(sy)} Q${r1(cx)},${r1(cy)} ${r1(ex)},${r1(ey)}`, spots };
}

/** Each label at the spot along its curve that overlaps the boxes and labels placed before it least. */
function placeLabels(curves: Curve[], nodes: Map<string, PlacedNode>): PlacedEdge[] {
  const taken: Box[] = [...nodes.values()];
  return curves.map((c) => {
    // The first spot that overlaps nothing, else the one that overlaps least.
    const cost = ([x, y]: [number, number]) => taken.reduce((sum, t) => sum + overlap(t, labelBox(c.lines, x, y)), 0);
    const costs = c.spots.map(cost);
    const spot = c.spots[costs.indexOf(Math.min(...costs))] as [number, number];
    taken.push(labelBox(c.lines, spot[0], spot[1]));
    const labelY = spot[1] - ((c.lines.length - 1) * LINE) / 2 + 4;
    return {
      from: c.from,
      to: c.to,
      path: c.path,
      labelX: r1(spot[0]),
      labelY: r1(labelY),
      lines: c.lines,
      title: c.title,
    };
  });
}

export function layoutGraph(graph: MachineGraph): Layout {
  const rank = ranks(graph);
  const { shared, legend } = sharedStays(graph);
  const nodes = placeNodes(graph, order(graph, rank), shared);
  const pairs = new Map<string, GraphEdge[]>();
  for (const e of graph.edges) pairs.set(`${e.from}\u0000${e.to}`, [...(pairs.get(`${e.from}\u0000${e.to}`) ?? []), e]);
  // Short edges first: their labels get the best spots; long curves have more room to slide.
  const curves = [...pairs.values()]
    .map((g) => curve(g, nodes, rank, pairs.has(`${(g[0] as GraphEdge).to}\u0000${(g[0] as GraphEdge).from}`)))
    .map((c, i) => ({ c, i, span: Math.abs((rank.get(c.to) as number) - (rank.get(c.from) as number)) }))
    .sort((a, b) => a.span - b.span || a.i - b.i)
    .map(({ c }) => c);
  return fitToMargin(graph, [...nodes.values()], placeLabels(curves, nodes), legend);
}

/** Moves everything so the drawing starts at the margin (curves may bow out past the boxes), legend below. */
function fitToMargin(graph: MachineGraph, nodes: PlacedNode[], edges: PlacedEdge[], legend: string[]): Layout {
  const boxes = [
    ...nodes,
    ...edges.map((e) => labelBox(e.lines, e.labelX, e.labelY - 4 + ((e.lines.length - 1) * LINE) / 2)),
  ];
  const left = Math.min(...boxes.map((b) => b.x));
  const top = Math.min(...boxes.map((b) => b.y));
  const [dx, dy] = [r1(MARGIN - Math.min(left, MARGIN)), r1(MARGIN - top)];
  const right = Math.max(...boxes.map((b) => b.x + b.width)) + dx;
  const bottom = Math.max(...boxes.map((b) => b.y + b.height)) + dy;
  const legendWidth = Math.max(0, ...legend.map((l) => l.length * 6.4));
  const initial = nodes.find((n) => n.id === graph.initial) as PlacedNode;
  return {
    width: Math.ceil(Math.max(right, MARGIN + legendWidth) + MARGIN),
    height: Math.ceil(bottom + (legend.length ? 16 + legend.length * LINE : 0) + MARGIN),
    nodes: nodes.map((n) => ({ ...n, x: r1(n.x + dx), y: r1(n.y + dy) })),
    edges: edges.map((e) => ({
      ...e,
      path: translate(e.path, dx, dy),
      labelX: r1(e.labelX + dx),
      labelY: r1(e.labelY + dy),
    })),
    legend: { x: MARGIN, y: r1(bottom + 24), lines: legend },
    initialMarker: { cx: r1(initial.x + dx - 36), cy: r1(initial.y + dy + initial.height / 2), x2: r1(initial.x + dx) },
  };
}

function translate(path: string, dx: number, dy: number): string {
  return path.replace(
    /(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)/g,
    (_m, x: string, y: string) => `${r1(Number(x) + dx)},${r1(Number(y) + dy)}`,
  );
}
