import type { Report } from './schema.ts';

// The report as CSV (RFC 4180, UTF-8 with a byte-order mark so spreadsheet programs read Chinese right):
// one row per figure, `section,metric,dimension,value`. `section` is the report's top-level member (`report`
// for its top-level scalars),
// `metric` the path below it, `dimension` the `key=value` pairs (joined with `;`) that identify the row of a
// list, and `value` the figure; an empty value is `null` in the JSON (no data). Lossless: every figure of
// the JSON report is one row.

export const CSV_HEADER = ['section', 'metric', 'dimension', 'value'] as const;

/** Fields that identify an element of a list (they become its dimension, not rows of their own). */
const IDENTITY = [
  'name',
  'deadline',
  'category',
  'channel',
  'state',
  'type',
  'trigger',
  'department',
  'level',
  'currency',
  'role',
  'score',
  'term',
  'clause',
  'rule',
  'leMs',
];

type Row = [string, string, string, string];

function flatten(value: unknown, path: readonly string[], dims: readonly string[], rows: Row[]): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (item === null || typeof item !== 'object') {
        flatten(item, path, [...dims, `i=${i}`], rows);
        return;
      }
      const record = item as Record<string, unknown>;
      const ids = IDENTITY.filter((k) => k in record && record[k] !== null && typeof record[k] !== 'object');
      // Suggestions may repeat a rule: the position keeps their rows apart.
      const own = path[0] === 'suggestions' || ids.length === 0 ? [`i=${i}`] : [];
      const itemDims = [...dims, ...own, ...ids.map((k) => `${k}=${String(record[k])}`)];
      for (const [k, v] of Object.entries(record)) {
        if (ids.includes(k)) continue;
        flatten(v, [...path, k], itemDims, rows);
      }
    });
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) flatten(v, [...path, k], dims, rows);
    return;
  }
  const text = value === null ? '' : String(value);
  // Top-level scalars (schema, timezone, generatedAt, ...) are the `report` section.
  if (path.length === 1) rows.push(['report', path[0] as string, dims.join(';'), text]);
  else rows.push([path[0] ?? '', path.slice(1).join('.'), dims.join(';'), text]);
}

/** A spreadsheet must not run customer-derived text as a formula. */
const defuse = (text: string) => (/^[=+\-@\t\r]/.test(text) && Number.isNaN(Number(text)) ? `'${text}` : text);

function cell(text: string): string {
  const safe = defuse(text);
  return /[",\r\n]|^\s|\s$/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export function reportCsv(report: Report): string {
  const rows: Row[] = [];
  flatten(report, [], [], rows);
  const lines = [CSV_HEADER.join(','), ...rows.map((r) => r.map(cell).join(','))];
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}
