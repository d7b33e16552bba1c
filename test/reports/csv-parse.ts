// An independent RFC 4180 reader for the tests: what a consumer of the CSV report would write.

export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  let i = text.startsWith('\uFEFF') ? 1 : 0;
  for (; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

/** The fields that identify a list element, as docs/reports.md lists them. */
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

/** Every figure of a JSON report keyed `section|metric|dimension`, by the documented CSV rule. */
export function figuresOf(report: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (value: unknown, path: string[], dims: string[]) => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        if (item === null || typeof item !== 'object') {
          walk(item, path, [...dims, `i=${i}`]);
          return;
        }
        const rec = item as Record<string, unknown>;
        const ids = IDENTITY.filter((k) => k in rec && rec[k] !== null && typeof rec[k] !== 'object');
        const own = path[0] === 'suggestions' || ids.length === 0 ? [`i=${i}`] : [];
        const d = [...dims, ...own, ...ids.map((k) => `${k}=${String(rec[k])}`)];
        for (const [k, v] of Object.entries(rec)) if (!ids.includes(k)) walk(v, [...path, k], d);
      });
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(v, [...path, k], dims);
    } else {
      const section = path.length === 1 ? 'report' : (path[0] as string);
      const metric = path.length === 1 ? (path[0] as string) : path.slice(1).join('.');
      out.set(`${section}|${metric}|${dims.join(';')}`, value === null ? '' : String(value));
    }
  };
  walk(report, [], []);
  return out;
}
