import type { Report, Turnaround } from './schema.ts';

// The report as one self-contained HTML page: inline CSS and inline SVG charts, no script, no font, no
// image, no link to anything outside the page, so it opens anywhere (the ops dashboard, a mail, a file)
// and makes no request. Every text is escaped: themes come from what customers wrote.

const esc = (s: string | number) =>
  String(s).replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": '#39' }[c]};`);
const pct = (x: number | null) => (x === null ? '—' : `${Math.round(x * 1000) / 10}%`);
const num = (x: number | null) => (x === null ? '—' : x.toLocaleString('en-US'));

/** A duration for people: 90 s, 12 min, 3.5 h, 2 d. */
export function humanMs(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 172_800_000) return `${Math.round(ms / 360_000) / 10} h`;
  return `${Math.round(ms / 8_640_000) / 10} d`;
}

interface Bar {
  readonly label: string;
  readonly value: number;
  /** A second value drawn as a marker (the previous period). */
  readonly marker?: number;
  readonly text?: string;
}

/** A horizontal bar chart. */
function bars(title: string, rows: readonly Bar[], opts: { color?: string; max?: number } = {}): string {
  if (rows.length === 0) return `<p class="empty">${esc(title)}: no data in this period.</p>`;
  const labelW = 190;
  const barW = 380;
  const rowH = 24;
  const h = rows.length * rowH + 8;
  const max = opts.max ?? Math.max(1, ...rows.map((r) => Math.max(r.value, r.marker ?? 0)));
  const body = rows
    .map((r, i) => {
      const y = 4 + i * rowH;
      const w = Math.max(r.value > 0 ? 2 : 0, Math.round((r.value / max) * barW));
      const marker =
        r.marker !== undefined
          ? `<line class="prev" x1="${labelW + Math.round((r.marker / max) * barW)}" x2="${labelW + Math.round((r.marker / max) * barW)}" y1="${y + 2}" y2="${y + rowH - 6}"><title>previous period: ${esc(r.marker)}</title></line>`
          : '';
      return `<g><text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(r.label)}</text><rect class="bar" x="${labelW}" y="${y + 3}" width="${w}" height="${rowH - 10}" fill="${opts.color ?? '#3b6ea5'}"><title>${esc(r.label)}: ${esc(r.text ?? r.value)}</title></rect>${marker}<text x="${labelW + w + 6}" y="${y + 15}">${esc(r.text ?? num(r.value))}</text></g>`;
    })
    .join('');
  return `<figure><figcaption>${esc(title)}</figcaption><svg class="chart" role="img" aria-label="${esc(title)}" width="${labelW + barW + 90}" height="${h}" viewBox="0 0 ${labelW + barW + 90} ${h}" xmlns="http://www.w3.org/2000/svg">${body}</svg></figure>`;
}

/** A column chart of a turnaround histogram. */
function histogram(title: string, t: Turnaround): string {
  if (t.count === 0) return '';
  const colW = 58;
  const h = 150;
  const max = Math.max(...t.histogram.map((b) => b.count));
  const cols = t.histogram
    .map((b, i) => {
      const ch = Math.max(2, Math.round((b.count / max) * (h - 50)));
      const x = 10 + i * colW;
      const label = b.leMs === null ? '>30 d' : `≤${humanMs(b.leMs)}`;
      return `<g><rect class="bar" x="${x}" y="${h - 30 - ch}" width="${colW - 6}" height="${ch}" fill="#5b8c5a"><title>${esc(label)}: ${b.count}</title></rect><text x="${x + (colW - 6) / 2}" y="${h - 34 - ch}" text-anchor="middle">${b.count}</text><text class="small" x="${x + (colW - 6) / 2}" y="${h - 14}" text-anchor="middle">${esc(label)}</text></g>`;
    })
    .join('');
  const w = 20 + t.histogram.length * colW;
  return `<figure><figcaption>${esc(title)}</figcaption><svg class="chart" role="img" aria-label="${esc(title)}" width="${Math.max(w, 200)}" height="${h}" viewBox="0 0 ${Math.max(w, 200)} ${h}" xmlns="http://www.w3.org/2000/svg">${cols}</svg></figure>`;
}

function table(head: readonly string[], rows: readonly (readonly (string | number)[])[], empty = 'none'): string {
  if (rows.length === 0) return `<p class="empty">${esc(empty)}</p>`;
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function card(label: string, value: string, note = ''): string {
  return `<div class="card"><div class="label">${esc(label)}</div><div class="value">${esc(value)}</div><div class="note">${esc(note)}</div></div>`;
}

const change = (now: number | null, before: number | null, asPct = false) => {
  if (now === null || before === null) return 'previous: —';
  return `previous: ${asPct ? pct(before) : num(before)}`;
};

function turnaroundRows(rows: readonly (Turnaround & { department: string; breached: number })[]) {
  return rows.map((r) => [
    r.department,
    r.count,
    r.breached,
    humanMs(r.meanMs),
    humanMs(r.p50Ms),
    humanMs(r.p90Ms),
    humanMs(r.p99Ms),
  ]);
}

export function reportHtml(report: Report): string {
  const fr = report.deadlines.find((d) => d.name === 'firstResponse');
  const v = report.volume;
  const e = report.escalations;
  const s = report.satisfaction;
  const title = `${report.contract.name} (${report.contract.id}) — service report ${report.period.from} to ${report.period.to}`;
  const sections: string[] = [];

  sections.push(
    `<section class="cards">${[
      card('cases opened', num(v.opened), change(v.opened, v.previous)),
      card(
        'first response on time',
        pct(fr?.attainment ?? null),
        change(fr?.attainment ?? null, fr?.previousAttainment ?? null, true),
      ),
      card('escalation rate', pct(e.rate), change(e.rate, e.previousRate, true)),
      card('satisfaction', s.average === null ? '—' : `${s.average} / 5`, `previous: ${s.previousAverage ?? '—'}`),
      card(
        'breaches (real / excused)',
        `${report.breaches.real} / ${report.breaches.excused}`,
        'clause 6.2 excuses outages',
      ),
      card(
        'reopen rate',
        pct(report.reopens.rate),
        `${report.reopens.reopened} of ${report.reopens.resolved} resolutions`,
      ),
    ].join('')}</section>`,
  );

  sections.push(
    `<section><h2>Suggested improvements (3.3)</h2>${
      report.suggestions.length === 0
        ? '<p class="empty">No rule found anything to suggest in this period.</p>'
        : `<ol class="suggestions">${report.suggestions
            .map(
              (x) =>
                `<li><p>${esc(x.text)}</p><p class="rule">rule <code>${esc(x.rule)}</code>: ${esc(x.when)} · clause ${esc(x.clause)}</p></li>`,
            )
            .join('')}</ol>`
    }</section>`,
  );

  sections.push(
    `<section><h2>Volume</h2>${bars(
      'Cases opened by category (line: previous period)',
      v.byCategory.map((c) => ({ label: c.category, value: c.count, marker: c.previous })),
    )}${bars(
      'Cases opened by channel (line: previous period)',
      v.byChannel.map((c) => ({ label: c.channel, value: c.count, marker: c.previous })),
    )}${table(
      ['state', 'cases opened in the period now in it', 'entered during the period'],
      v.byState.map((x) => [x.state, x.current, x.entered]),
    )}</section>`,
  );

  sections.push(
    `<section><h2>Deadlines</h2>${table(
      [
        'deadline',
        'clause',
        'met',
        'breached (real)',
        'excused',
        'cancelled',
        'on time',
        'previous',
        'mean',
        'p50',
        'p90',
        'p99',
      ],
      report.deadlines.map((d) => [
        d.name,
        d.clause,
        d.met,
        d.breached,
        d.excused,
        d.cancelled,
        pct(d.attainment),
        pct(d.previousAttainment),
        humanMs(d.turnaround.meanMs),
        humanMs(d.turnaround.p50Ms),
        humanMs(d.turnaround.p90Ms),
        humanMs(d.turnaround.p99Ms),
      ]),
    )}<p class="note">Turnaround: wall-clock time from arming to meeting, pauses included. Percentiles are the upper edge of the histogram bucket they fall in.</p>${bars(
      'On time (met / met + real breaches)',
      report.deadlines
        .filter((d) => d.attainment !== null)
        .map((d) => ({ label: d.name, value: Math.round((d.attainment ?? 0) * 1000) / 10, text: pct(d.attainment) })),
      { max: 100, color: '#5b8c5a' },
    )}<div class="row">${report.deadlines.map((d) => histogram(`${d.name}: time to meet`, d.turnaround)).join('')}</div>${table(
      ['deadline', 'clause', 'real breaches', 'excused (6.2)'],
      report.breaches.byDeadline.map((b) => [b.deadline, b.clause, b.real, b.excused]),
      'no breaches in this period',
    )}</section>`,
  );

  sections.push(
    `<section><h2>Escalations (3.2.3)</h2>${bars(
      'Cases escalated by first trigger',
      e.byTrigger
        .filter((t) => t.cases > 0)
        .map((t) => ({ label: t.trigger, value: t.cases, text: `${t.cases} (${pct(t.rate)})` })),
      { color: '#a5673b' },
    )}${table(
      ['trigger', 'department', 'hand-offs'],
      e.byRoute.map((r) => [r.trigger, r.department, r.handoffs]),
      'no hand-offs in this period',
    )}${table(
      ['rung', 'hand-offs'],
      e.byLevel.map((l) => [l.level, l.handoffs]),
      'no hand-offs in this period',
    )}${table(
      ['category', 'escalated beyond authority', 'above the amount limit'],
      e.beyondAuthority.map((b) => [b.category, b.escalations, b.aboveLimit]),
      'no amount-bound case escalated beyond authority',
    )}<h3>Hand-off acceptance by department</h3>${table(
      ['department', 'accepted', 'breached', 'mean', 'p50', 'p90', 'p99'],
      turnaroundRows(e.handoffTurnaround),
      'no hand-offs accepted or missed in this period',
    )}</section>`,
  );

  sections.push(
    `<section><h2>Coordination (3.2.2)</h2><p>${report.coordination.requests} requests, ${report.coordination.replies} replies.</p>${table(
      ['department', 'answered in time', 'breached', 'mean', 'p50', 'p90', 'p99'],
      turnaroundRows(report.coordination.turnaround),
      'no coordination concluded in this period',
    )}</section>`,
  );

  sections.push(
    `<section><h2>Fee adjustments (2.2.4)</h2>${table(
      ['currency', 'granted', 'total'],
      report.adjustments.totals.map((t) => [t.currency, t.count, t.amount]),
      'no adjustment granted in this period',
    )}${table(
      ['role', 'currency', 'granted', 'total'],
      report.adjustments.byRole.map((r) => [r.role, r.currency, r.count, r.amount]),
      '',
    )}</section>`,
  );

  sections.push(
    `<section><h2>Satisfaction (2.2.5, 5.2)</h2><p>${s.responses} responses, average ${s.average ?? '—'} (previous ${s.previousAverage ?? '—'}), ${s.comments} with a comment.</p>${bars(
      'Survey scores',
      s.distribution.map((d) => ({ label: `${d.score} ★`, value: d.count })),
      { color: '#8c5a8c' },
    )}</section>`,
  );

  const arrow = { new: '★ new', up: '▲', down: '▼', same: '=' } as const;
  sections.push(
    `<section><h2>Recurring problems (3.3)</h2>${bars(
      'Most frequent issue themes (line: previous period)',
      report.themes.map((t) => ({
        label: t.term,
        value: t.count,
        marker: t.previous,
        text: `${t.count} ${arrow[t.trend]}${t.trend === 'new' ? '' : ` (${t.change >= 0 ? '+' : ''}${t.change})`}`,
      })),
      { color: '#3b8ca5' },
    )}</section>`,
  );

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC",sans-serif;color:#222;margin:1.5rem auto;max-width:72rem;padding:0 1rem}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.15rem;margin:1.6rem 0 .5rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}h3{font-size:1rem}
.meta{color:#555}.cards{display:flex;flex-wrap:wrap;gap:.6rem;margin-top:1rem}.card{border:1px solid #ddd;border-radius:6px;padding:.5rem .8rem;min-width:10rem}
.card .label{color:#555;font-size:.85rem}.card .value{font-size:1.5rem;font-weight:600}.card .note{color:#777;font-size:.8rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border-bottom:1px solid #e3e3e3;padding:.25rem .6rem;text-align:left}td{font-variant-numeric:tabular-nums}
figure{margin:.8rem 0}figcaption{font-weight:600;margin-bottom:.2rem}svg text{font-size:12px;fill:#333}svg text.small{font-size:10px;fill:#666}
line.prev{stroke:#111;stroke-width:2}.row{display:flex;flex-wrap:wrap;gap:0 2rem}.empty{color:#777;font-style:italic}.note{color:#666;font-size:.85rem}.rule{color:#666;font-size:.85rem;margin-top:-.6rem}
@media print{body{margin:0}section{break-inside:avoid}}
</style></head>
<body>
<h1>${esc(title)}</h1>
<p class="meta">Period ${esc(report.period.from)} to ${esc(report.period.to)} (${report.period.days} days, ${esc(report.period.kind)}, ${esc(report.timezone)}); compared with ${esc(report.previousPeriod.from)} to ${esc(report.previousPeriod.to)}. Generated ${esc(report.generatedAt)}${report.pendingFacts > 0 ? `; ${report.pendingFacts} recent events were not yet counted` : ''}. Policy version ${report.contract.version}. No personal data: figures and normalised terms only.</p>
${sections.join('\n')}
</body></html>
`;
}
