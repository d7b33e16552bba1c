import '../domain/zod-messages.ts';
import { z } from 'zod';
import { fieldErrors, ValidationError } from '../domain/errors.ts';
import { CASE_STATES } from '../domain/vocabulary.ts';
import type { Runtime } from '../runtime.ts';
import type { StoredCase } from '../store/case-store.ts';

// GET /v1/cases: a page of cases from the Redis indexes (never a scan of every key).
export const listQuerySchema = z.strictObject({
  state: z.enum(CASE_STATES, { error: `one of ${CASE_STATES.join(', ')}` }).optional(),
  contractId: z.string().min(1).max(64).optional(),
  department: z.string().min(1).max(64).optional(),
  breached: z.enum(['true', 'false'], { error: 'true or false' }).optional(),
  dueBefore: z.iso.datetime({ offset: true, error: 'an ISO-8601 time with an offset' }).optional(),
  limit: z.coerce.number().int('an integer').min(1, 'at least 1').max(200, 'at most 200').default(50),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,200}$/, 'a nextCursor from a previous page')
    .optional(),
});
export type ListQuery = z.infer<typeof listQuerySchema>;

export function parseListQuery(query: Record<string, unknown>): ListQuery {
  const result = listQuerySchema.safeParse(query);
  if (!result.success) throw new ValidationError('invalid query', fieldErrors(result.error.issues, 'query'));
  return result.data;
}

type Cursor = { score: number; id: string };
const encode = (c: Cursor) => Buffer.from(JSON.stringify([c.score, c.id])).toString('base64url');
function decode(text: string): Cursor {
  try {
    const [score, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as [number, string];
    if (typeof score === 'number' && typeof id === 'string') return { score, id };
  } catch {}
  throw new ValidationError('invalid query', [{ path: 'query.cursor', message: 'a nextCursor from a previous page' }]);
}

/** The most selective index for the query; the other filters are applied to the loaded cases. */
function primary(q: ListQuery): { index: string; order: 'asc' | 'desc'; bound?: number } {
  if (q.dueBefore) return { index: 'timers', order: 'asc', bound: Date.parse(q.dueBefore) };
  if (q.state) return { index: `state:${q.state}`, order: 'desc' };
  if (q.department) return { index: `dept:${q.department}`, order: 'desc' };
  if (q.breached === 'true') return { index: 'breached', order: 'desc' };
  return { index: 'created', order: 'desc' };
}

function matches(q: ListQuery, s: StoredCase): boolean {
  const c = s.context;
  if (q.state && s.state !== q.state) return false;
  if (q.contractId && c.open.contractId !== q.contractId) return false;
  if (q.department && c.escalation?.department !== q.department && c.coordination?.department !== q.department)
    return false;
  if (q.breached) {
    const any = Object.values(c.deadlines).some((d) => d.status === 'breached');
    if (any !== (q.breached === 'true')) return false;
  }
  if (q.dueBefore) {
    // The earliest armed deadline (the `timers` index also holds warnings, which come earlier).
    const dues = Object.values(c.deadlines).flatMap((d) => (d.status === 'armed' ? [d.dueAt] : []));
    const due = dues.length > 0 ? Math.min(...dues) : undefined;
    if (due === undefined || due > Date.parse(q.dueBefore)) return false;
  }
  return true;
}

/**
 * Newest first (by opening time); with `dueBefore`, soonest due first. The cursor is the last position
 * scanned, so a page may hold fewer than `limit` items while `nextCursor` is still set.
 */
export async function listCases<V>(
  runtime: Runtime,
  q: ListQuery,
  toView: (stored: StoredCase) => Promise<V | undefined>,
): Promise<{ items: V[]; nextCursor: string | null }> {
  const { index, order, bound } = primary(q);
  let cursor = q.cursor ? decode(q.cursor) : undefined;
  const items: V[] = [];
  for (let round = 0; round < 10 && items.length < q.limit; round++) {
    const want = q.limit - items.length;
    const rows = await runtime.store.page(index, order, want, cursor, bound);
    // The `timers` set holds job ids (<case>.<deadline>.<epoch>); the other indexes hold case ids.
    const loaded = await Promise.all(rows.map((r) => runtime.store.load(r.id.split('.')[0] as string)));
    for (const [i, row] of rows.entries()) {
      cursor = row;
      const stored = loaded[i]?.stored;
      if (!stored || !matches(q, stored)) continue;
      const view = await toView(stored);
      if (view !== undefined) items.push(view);
    }
    if (rows.length < want) return { items, nextCursor: null };
  }
  return { items, nextCursor: cursor ? encode(cursor) : null };
}
