import type { DeadlineClock } from '../../machines/types.ts';
import { isoInZone } from '../domain/calendar.ts';
import type { Policy } from '../policy/policy.ts';
import type { StoredCase } from '../store/case-store.ts';
import type { AuditClock, AuditEntry } from './audit.ts';

// `why`: each deadline of a case explained from its audit trail — when it was armed and under which
// calendar version, its pauses and their reasons, the warnings sent, its due time, how it ended, and
// the clause behind each step. Read-only: it folds the audit entries the commits wrote.

export interface DeadlineStep {
  readonly at: string;
  /** armed, re-armed, paused, resumed, warned, moved, extended, met, breached, excused, cancelled, migrated. */
  readonly step: string;
  readonly event: string;
  readonly by: { readonly name: string; readonly role: string };
  readonly clause: string;
  readonly dueAt?: string;
  readonly calendar?: string;
  readonly remainingMs?: number;
  readonly reason?: string;
  readonly lateMs?: number;
  readonly outage?: string;
  readonly warning?: number;
}

export interface DeadlineExplanation {
  readonly name: string;
  readonly clause: string;
  readonly within: string;
  readonly clock: 'calendar' | 'business';
  readonly calendar?: string;
  readonly status: DeadlineClock['status'];
  readonly armedAt: string;
  readonly dueAt: string;
  readonly remainingMs?: number;
  readonly warnings: { readonly at: readonly number[]; readonly sent: number; readonly nextAt?: string };
  readonly pauses: readonly {
    readonly reason: string;
    readonly clause: string;
    readonly by: string;
    readonly at: string;
    readonly note?: string;
    readonly outage?: string;
  }[];
  readonly lateMs?: number;
  readonly excusedBy?: string;
  readonly steps: readonly DeadlineStep[];
}

function stepOf(entry: AuditEntry, clock: AuditClock, previous: AuditClock | undefined): string {
  if (clock.status === 'armed' && previous === undefined) return 'armed';
  if (clock.status === 'armed' && previous?.status === 'paused') return 'resumed';
  if (clock.status === 'armed' && entry.event === 'MOVE_DUE') return 'moved';
  if (clock.status === 'armed' && entry.event === 'MIGRATE') return 'migrated';
  if (clock.status === 'armed' && entry.event === 'DEADLINE' && clock.epoch === previous?.epoch) return 'warned';
  if (clock.status === 'armed' && entry.event === 'DEADLINE') return 'extended';
  if (clock.status === 'armed' && previous && previous.epoch === clock.epoch) return 'warned';
  if (clock.status === 'armed') return 're-armed';
  return clock.status;
}

function reasonOf(entry: AuditEntry): string | undefined {
  const d = entry.data ?? {};
  const text = d.reason ?? d.note ?? d.request;
  if (entry.event === 'PAUSE') return `${String(d.reason)}: ${String(d.note ?? '')}`.trim();
  if (entry.event === 'REQUEST_INFO') return 'waiting_on_customer';
  if (entry.event === 'DEADLINE' && Array.isArray(d.outages) && d.outages.length > 0) {
    return `outage ${(d.outages as { id: string }[]).map((o) => o.id).join(', ')}`;
  }
  if ((entry.event === 'OUTAGE_END' || entry.event === 'EXCUSE') && d.outage) {
    return `outage ${(d.outage as { id: string }).id}`;
  }
  return typeof text === 'string' ? text : undefined;
}

export function explainDeadlines(
  policy: Policy,
  stored: StoredCase,
  history: readonly object[],
): DeadlineExplanation[] {
  const tz = policy.timezone;
  const iso = (ms: number) => isoInZone(ms, tz);
  const isoText = (text: string) => iso(Date.parse(text));
  const steps = new Map<string, DeadlineStep[]>();
  const last = new Map<string, AuditClock>();
  for (const raw of history as AuditEntry[]) {
    for (const clock of raw.clocks ?? []) {
      const previous = last.get(clock.name);
      const reason = reasonOf(raw);
      const step = stepOf(raw, clock, previous);
      const list = steps.get(clock.name) ?? [];
      list.push({
        at: isoText(raw.at),
        step,
        event: raw.event,
        by: { name: raw.actor.name, role: raw.actor.role },
        clause: raw.event === 'DEADLINE' ? (policy.deadlines[clock.name]?.clause ?? raw.clause) : raw.clause,
        dueAt: isoText(clock.dueAt),
        ...(clock.calendar ? { calendar: clock.calendar } : {}),
        ...(clock.remainingMs !== undefined ? { remainingMs: clock.remainingMs } : {}),
        ...(reason ? { reason } : {}),
        ...(clock.lateMs !== undefined ? { lateMs: clock.lateMs } : {}),
        ...(clock.excusedBy ? { outage: clock.excusedBy } : {}),
        ...(step === 'warned' && clock.warned !== undefined ? { warning: clock.warned - 1 } : {}),
      });
      steps.set(clock.name, list);
      last.set(clock.name, clock);
    }
  }
  const ctx = stored.context;
  return Object.entries(ctx.deadlines).map(([name, clock]) => {
    const rule = policy.deadlines[name];
    return {
      name,
      clause: rule?.clause ?? '3.1.3',
      within: rule?.within ?? '',
      clock: rule?.clock ?? 'calendar',
      ...(clock.calendar ? { calendar: clock.calendar } : {}),
      status: clock.status,
      armedAt: iso(clock.armedAt),
      dueAt: iso(clock.dueAt),
      ...(clock.remainingMs !== undefined ? { remainingMs: clock.remainingMs } : {}),
      warnings: {
        at: rule?.warnAt ?? [],
        sent: clock.warned ?? 0,
        ...(clock.warnAt !== undefined ? { nextAt: iso(clock.warnAt) } : {}),
      },
      pauses:
        clock.status === 'paused'
          ? (ctx.holds ?? []).map((h) => ({
              reason: h.reason,
              clause: h.clause,
              by: h.by,
              at: iso(h.at),
              ...(h.note ? { note: h.note } : {}),
              ...(h.outage ? { outage: h.outage } : {}),
            }))
          : [],
      ...(clock.lateMs !== undefined ? { lateMs: clock.lateMs } : {}),
      ...(clock.excusedBy ? { excusedBy: clock.excusedBy } : {}),
      steps: steps.get(name) ?? [],
    };
  });
}
