import type { Runtime } from '../runtime.ts';
import type { StoredCase } from '../store/case-store.ts';
import { parseTimerJobId } from '../store/indexes.ts';

// Armed deadlines by due time, read from the wake-up timers (never a scan of every case). Each case
// with an armed deadline has one timer, for its earliest: in its partition's `timers` set, or — within
// seconds of due, once promoted — a job in the deadlines queue. A case's other armed deadlines fall
// due later than its timer, so walking timers in due order finds every deadline in due order.

export interface DueDeadline {
  readonly caseId: string;
  readonly state: string;
  readonly contractId: string;
  readonly policyVersion: number;
  readonly deadline: string;
  readonly epoch: number;
  readonly dueAt: number;
  readonly clause: string | null;
}

export interface DueQuery {
  /** Only deadlines due after this (ms since epoch); default: also the overdue ones. */
  readonly after?: number;
  /** Only deadlines due at or before this. */
  readonly until?: number;
  readonly limit: number;
  /** `true`: only each case's earliest armed deadline (its timer); else every armed deadline in range. */
  readonly earliestOnly?: boolean;
  readonly filter?: (stored: StoredCase) => boolean;
  /** Called every so often with how many cases were read (progress on long scans). */
  readonly progress?: (casesRead: number) => void;
}

const PAGE = 200;

interface Timer {
  readonly id: string;
  readonly dueAt: number;
}

/** Timers already promoted into the deadlines queue (due within seconds, or overdue). */
async function promoted(rt: Runtime): Promise<Timer[]> {
  const jobs = await rt.deadlineQueue.getJobs(['delayed', 'waiting', 'active', 'prioritized'], 0, 9_999, true);
  return jobs.filter((j) => j?.id && j.data).map((j) => ({ id: j.id as string, dueAt: j.data.dueAt }));
}

export async function dueDeadlines(rt: Runtime, q: DueQuery): Promise<DueDeadline[]> {
  const inRange = (due: number) =>
    (q.after === undefined || due > q.after) && (q.until === undefined || due <= q.until);
  const rows: DueDeadline[] = [];
  const seen = new Set<string>();
  let read = 0;
  // Timers found in the queue first: they are due within seconds (or overdue), before any left in the sets.
  // Those are all read: a warning timer due before the range may lead to a deadline in it.
  const queued = await promoted(rt);
  // For each case's soonest deadline only, timers in the sets due before the range are skipped: they are
  // overdue, left only while no deadline worker runs (deadlines list shows them). Listing every deadline, a
  // case whose timer is before the range may still have later deadlines in it: the sets are read from the start.
  let cursor = q.earliestOnly && q.after !== undefined ? { score: q.after, id: '' } : undefined;
  let batch: Timer[] = queued.sort((a, b) => a.dueAt - b.dueAt);
  for (;;) {
    // Each case is read once. A timer only leads to its case: what is listed comes from the case itself, so a
    // stale timer (a job left in the queue) lists nothing that is not armed.
    const cases = [...new Set(batch.map((t) => parseTimerJobId(t.id).caseId))].filter((id) => !seen.has(id));
    for (const id of cases) seen.add(id);
    const loaded = await Promise.all(cases.map((id) => rt.engine.get(id)));
    read += cases.length;
    if (read > 0 && Math.floor(read / 1000) !== Math.floor((read - cases.length) / 1000)) q.progress?.(read);
    for (const found of loaded) {
      if (!found || (q.filter && !q.filter(found.stored))) continue;
      const { stored, policy } = found;
      const armed = Object.entries(stored.context.deadlines)
        .filter(([, clock]) => clock.status === 'armed')
        .sort((a, b) => a[1].dueAt - b[1].dueAt);
      // With earliestOnly, the case's soonest due deadline (its timer may be an earlier warning of another).
      for (const [deadline, clock] of q.earliestOnly ? armed.slice(0, 1) : armed) {
        if (!inRange(clock.dueAt)) continue;
        rows.push({
          caseId: stored.context.caseId,
          state: stored.state,
          contractId: stored.context.open.contractId,
          policyVersion: stored.policyVersion,
          deadline,
          epoch: clock.epoch,
          dueAt: clock.dueAt,
          clause: policy.deadlines[deadline]?.clause ?? null,
        });
      }
    }
    rows.sort((a, b) => a.dueAt - b.dueAt || a.caseId.localeCompare(b.caseId));
    const page = await rt.store.page('timers', 'asc', PAGE, cursor, q.until);
    const last = page.at(-1);
    // Done when the sets are exhausted, or when `limit` rows are due before any timer still unread.
    const cutoff = rows[q.limit - 1]?.dueAt;
    if (!last || (cutoff !== undefined && (page[0]?.score ?? Number.POSITIVE_INFINITY) > cutoff)) break;
    cursor = { score: last.score, id: last.id };
    batch = page.map((r) => ({ id: r.id, dueAt: r.score }));
  }
  return rows.slice(0, q.limit);
}
