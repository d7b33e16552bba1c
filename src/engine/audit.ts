import type { Actor, CaseContext } from '../../machines/types.ts';
import type { CaseEvent } from '../domain/events.ts';

// One entry of a case's audit list (6.1), as the commit appends it and every reader reads it back
// (history, `why`, the ops pages, tests). Personal fields of `data` are sealed at rest (privacy/codec.ts)
// and opened again by `CaseStore.history`.

/** A deadline clock this event changed, as it stands after the event. */
export interface AuditClock {
  readonly name: string;
  readonly status: string;
  readonly epoch: number;
  /** ISO-8601. */
  readonly dueAt: string;
  /** The business calendar it runs on (name@version). */
  readonly calendar?: string;
  readonly remainingMs?: number;
  readonly warned?: number;
  readonly lateMs?: number;
  readonly excusedBy?: string;
}

export interface AuditEntry {
  /** The case version this event made. */
  readonly v: number;
  /** ISO-8601. */
  readonly at: string;
  readonly actor: { readonly name: string; readonly role: string; readonly department?: string };
  readonly event: string;
  readonly from: string | null;
  readonly to: string;
  readonly clause: string;
  /** The event's fields, but its type. */
  readonly data?: Record<string, unknown>;
  /** `firstResponse:armed`, `handoff:management@1`, ... */
  readonly effects?: readonly string[];
  readonly clocks?: readonly AuditClock[];
}

/** 6.1: who acted, in what role, what changed, and the clause that grounds it. */
export function auditEntry(
  version: number,
  at: number,
  actor: Actor,
  type: string,
  from: string | undefined,
  to: string,
  clause: string,
  after: CaseContext,
  event?: CaseEvent,
  before?: CaseContext,
): AuditEntry {
  const { type: _type, ...data } = (event ?? {}) as Record<string, unknown>;
  const changes: string[] = [];
  // What `why` explains later: each clock this event changed, as it stands after the event.
  const clocks: AuditClock[] = [];
  for (const [name, clock] of Object.entries(after.deadlines)) {
    const was = before?.deadlines[name];
    if (was?.status !== clock.status || was?.epoch !== clock.epoch || was?.warned !== clock.warned) {
      if (was?.status !== clock.status || was?.epoch !== clock.epoch) changes.push(`${name}:${clock.status}`);
      clocks.push({
        name,
        status: clock.status,
        epoch: clock.epoch,
        dueAt: new Date(clock.dueAt).toISOString(),
        ...(clock.calendar ? { calendar: clock.calendar } : {}),
        ...(clock.remainingMs !== undefined ? { remainingMs: clock.remainingMs } : {}),
        ...(clock.warned !== was?.warned ? { warned: clock.warned } : {}),
        ...(clock.lateMs !== undefined && clock.status === 'breached' ? { lateMs: clock.lateMs } : {}),
        ...(clock.excusedBy ? { excusedBy: clock.excusedBy } : {}),
      });
    }
  }
  if (after.escalation && after.escalation.seq !== before?.escalation?.seq) {
    changes.push(`handoff:${after.escalation.department}@${after.escalation.level}`);
  }
  return {
    v: version,
    at: new Date(at).toISOString(),
    actor: { name: actor.name, role: actor.role, ...(actor.department ? { department: actor.department } : {}) },
    event: type,
    from: from ?? null,
    to,
    clause,
    ...(Object.keys(data).length > 0 ? { data } : {}),
    ...(changes.length > 0 ? { effects: changes } : {}),
    ...(clocks.length > 0 ? { clocks } : {}),
  };
}
