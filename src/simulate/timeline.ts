import { CLOCK_STEPS } from '../../machines/steps.ts';
import type { CaseContext } from '../../machines/types.ts';

// The simulator's timeline: every step of a case told as entries with their time (ISO-8601 in the
// policy's zone), their kind, the deadline they concern and the clause behind them.

export const TIMELINE_KINDS = [
  'opened',
  'event',
  'refused',
  // What happened to a deadline: the clock steps of machines/steps.ts.
  ...CLOCK_STEPS,
  'escalated',
  'handoff',
  'notice',
  'state',
] as const;
export type TimelineKind = (typeof TIMELINE_KINDS)[number];

export interface TimelineEntry {
  readonly at: string;
  readonly kind: TimelineKind;
  readonly deadline?: string;
  readonly clause: string;
  /** One line for people; the fields below say the same for programs. */
  readonly detail: string;
  /** `event`, `refused`: the event type; `by` who sent it (name and role). */
  readonly event?: string;
  readonly by?: string;
  /** `refused`: the refusal code. */
  readonly code?: string;
  /** Clock steps: the due time after the step, the frozen time left (ISO-8601 duration), the calendar. */
  readonly dueAt?: string;
  readonly remaining?: string;
  readonly calendar?: string;
  readonly reason?: string;
  readonly epoch?: number;
  /** `warning`: the fraction of the deadline's duration gone. */
  readonly fraction?: number;
  /** `escalated`: the department, the rung (1 for the first hand-off) and the trigger. */
  readonly department?: string;
  readonly rung?: number;
  readonly trigger?: string;
  /** `state`: from → to. */
  readonly from?: string;
  readonly to?: string;
  /** `handoff`, `notice`: who receives it (a department, or `customer`). */
  readonly target?: string;
}

export interface Timeline {
  readonly contract: { readonly id: string; readonly version: number };
  readonly timezone: string;
  readonly start: string;
  readonly until: string;
  readonly entries: readonly TimelineEntry[];
  /** The case when the run ends at `until`. */
  readonly final: {
    readonly state: string;
    readonly deadlines: readonly {
      readonly name: string;
      readonly status: string;
      readonly dueAt?: string;
      readonly remaining?: string;
    }[];
    readonly escalation: { readonly department: string; readonly rung: number; readonly status: string } | null;
  };
}

export interface Snapshot {
  readonly state: string;
  readonly context: CaseContext;
}

/** What caused a step, as the timeline tells it. */
export type Cause =
  | { readonly kind: 'opened' }
  | {
      readonly kind: 'event';
      readonly type: string;
      readonly by: string;
      readonly summary: string;
      readonly clause: string;
      /** MOVE_DUE: why the due date moved by hand. */
      readonly reason?: string;
    }
  | { readonly kind: 'timer'; readonly outages: readonly string[] }
  | { readonly kind: 'outage'; readonly outage: string };

/** ISO-8601 duration of a time left; business clocks count working hours, so they never show days. */
export function isoDuration(ms: number, days = true): string {
  const total = Math.max(0, Math.round(ms));
  const d = days ? Math.floor(total / 86_400_000) : 0;
  let rest = total - d * 86_400_000;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  const s = (rest - m * 60_000) / 1000;
  const time = `${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s ? `${s}S` : ''}`;
  if (!d && !time) return 'PT0S';
  return `P${d ? `${d}D` : ''}${time ? `T${time}` : ''}`;
}

/** The timeline as text: one line per entry, in aligned columns (time, kind, deadline, clause, detail). */
export function formatTimeline(timeline: Timeline): string {
  const rows = timeline.entries.map((e) => [e.at, e.kind, e.deadline ?? '-', e.clause, e.detail]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] as string).length), 0));
  return rows.map((r) => r.map((cell, i) => (i < 4 ? cell.padEnd(widths[i] as number) : cell)).join('  ')).join('\n');
}
