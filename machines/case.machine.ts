import { assign, setup } from 'xstate';
import type { Trigger } from '../src/domain/vocabulary.ts';
import {
  arm,
  clockOf,
  close,
  closeAll,
  excusable,
  hold,
  migrateClocks,
  moveDue,
  release,
  throughOutages,
  warned,
} from './clocks.ts';
import {
  coordinateRefusal,
  deadlineRefusal,
  departmentReplyRefusal,
  escalateRefusal,
  escalationTarget,
  handoffRefusal,
  intakeFlags,
  leadingTrigger,
  moveDueRefusal,
  pauseRefusal,
  resolveRefusal,
  resumeRefusal,
} from './rules.ts';
import type { CaseContext, CaseInput, CasePolicy, DeadlineClock, Escalation, MachineEvent } from './types.ts';

/** Customer notices the machine asks for; the engine writes them to the outbox. */
export type NoticeKind = 'escalated' | 'coordinating' | 'resolved';

/** A warning to the deadline's owner (the CS team, or the department a hand-off waits on). */
export interface WarningNotice {
  readonly name: string;
  readonly warning: number;
}

/** Deadlines whose miss while CS holds the case escalates it along `deadline_missed` (3.1.3, 3.2.2). */
const ESCALATING_DEADLINES = ['firstResponse', 'initialNotice', 'coordination'];

type Ev<T extends MachineEvent['type']> = Extract<MachineEvent, { type: T }>;

/** A case before intake; the intake context and XState's input-less throwaway actor start from it. */
const EMPTY_CONTEXT: CaseContext = {
  caseId: '',
  open: { contractId: '', channel: '', category: '', customer: { id: '', name: '' }, subject: '', description: '' },
  flags: [],
  deadlines: {},
  epoch: 0,
  responded: false,
  verified: false,
  escalation: null,
  coordination: null,
  resolution: null,
  survey: null,
  resumeTo: null,
  accepted: 0,
  createdAt: 0,
  updatedAt: 0,
};

/** The event's time; the intake escalation runs on XState's init event, which carries none. */
const timeOf = (context: CaseContext, event: { at?: number }) => event.at ?? context.updatedAt;

interface EscalationRequest {
  readonly trigger: Trigger;
  readonly department: string;
  readonly reason: string;
  readonly preliminaryJudgment: string;
  readonly recommendation: string;
  readonly clause: string;
}

/** 3.2.3: hand the case over. The customer is told at once, which meets both 3.1.3 clocks. */
function escalate(policy: CasePolicy, ctx: CaseContext, request: EscalationRequest, at: number): Partial<CaseContext> {
  let clocks = close(ctx, ['firstResponse', 'initialNotice'], 'met', at);
  clocks = close(clocks, ['coordination'], 'cancelled', at);
  // The case no longer waits on the customer: the department owns it now.
  clocks = release(policy, clocks, (h) => h.reason === 'waiting_on_customer', at);
  const escalation: Escalation = {
    ...request,
    level: 1,
    seq: (ctx.escalation?.seq ?? 0) + 1,
    status: 'pending',
    at,
  };
  const flags = ctx.flags.includes(request.trigger) ? ctx.flags : [...ctx.flags, request.trigger];
  return { ...clocks, escalation, flags, resumeTo: null };
}

function escalationForFlags(policy: CasePolicy, flags: readonly Trigger[], note?: string): EscalationRequest {
  const trigger = leadingTrigger(flags) ?? 'beyond_authority';
  const department = policy.escalation.routes[trigger];
  return {
    trigger,
    department,
    reason: note ?? `flagged ${trigger}`,
    preliminaryJudgment: `The request is flagged ${trigger}; clause 1 reserves it to ${department}.`,
    recommendation: department,
    clause: '1',
  };
}

export function createCaseMachine(policy: CasePolicy) {
  const clause = (name: string) => policy.deadlines[name]?.clause ?? '3.1.3';
  const missedRoute = policy.escalation.routes.deadline_missed;
  const ladder = policy.escalation.ladder ?? [missedRoute];
  /** The next rung above a department: the ladder's first rung when it is not on the ladder; none at the top. */
  const rungAbove = (department: string | undefined) => {
    const i = department === undefined ? -1 : ladder.indexOf(department);
    return i === -1 ? ladder[0] : ladder[i + 1];
  };
  /** 6.2: where the outages in an event leave the firing clock. */
  const outageEffect = (context: CaseContext, e: Ev<'DEADLINE'>) => {
    const clock = context.deadlines[e.name] as DeadlineClock;
    if (!e.outages?.length || e.warning !== undefined) return undefined;
    const time = clockOf(policy, policy.deadlines[e.name]);
    const result = throughOutages(time, clock.since ?? clock.armedAt, clock.dueAt, e.outages);
    return 'dueAt' in result && result.dueAt <= e.at ? undefined : result;
  };

  const machineSetup = setup({
    types: {
      context: {} as CaseContext,
      events: {} as MachineEvent,
      input: {} as CaseInput,
    },
    guards: {
      flagged: ({ context }) => context.flags.length > 0,
      canResolve: ({ context, event }) => !resolveRefusal(policy, context, event as Ev<'RESOLVE'>),
      canCoordinate: ({ event }) => !coordinateRefusal(policy, event as Ev<'COORDINATE'>),
      canReplyFromDepartment: ({ context, event }) => !departmentReplyRefusal(context, event as Ev<'DEPARTMENT_REPLY'>),
      canEscalate: ({ event }) => !escalateRefusal(policy, event as Ev<'ESCALATE'>),
      canAcceptHandoff: ({ context, event }) => !handoffRefusal(context, event as Ev<'HANDOFF_ACCEPT'>),
      deadlineLive: ({ context, event }) => {
        const e = event as Ev<'DEADLINE'>;
        return !deadlineRefusal(context, e) && e.warning === undefined;
      },
      warningDue: ({ context, event }) => {
        const e = event as Ev<'DEADLINE'>;
        return e.warning !== undefined && !deadlineRefusal(context, e);
      },
      // 6.2: an outage in the case's scope moved the due time past now, or holds the clock still.
      outageDefers: ({ context, event }) => {
        const e = event as Ev<'DEADLINE'>;
        return !deadlineRefusal(context, e) && outageEffect(context, e) !== undefined;
      },
      missEscalates: ({ context, event }) => {
        const e = event as Ev<'DEADLINE'>;
        return !deadlineRefusal(context, e) && e.warning === undefined && ESCALATING_DEADLINES.includes(e.name);
      },
      // The ladder: a missed hand-off climbs one rung, each rung once; at the top it is recorded.
      handoffMissClimbs: ({ context, event }) => {
        const e = event as Ev<'DEADLINE'>;
        return (
          !deadlineRefusal(context, e) &&
          e.warning === undefined &&
          e.name === 'handoff' &&
          rungAbove(context.escalation?.department) !== undefined
        );
      },
      canPause: ({ context, event }) => !pauseRefusal(policy, context, event as Ev<'PAUSE'>),
      canResume: ({ context, event }) => !resumeRefusal(policy, context, event as Ev<'RESUME'>),
      canMoveDue: ({ context, event }) => !moveDueRefusal(policy, context, event as Ev<'MOVE_DUE'>),
      heldByOutage: ({ context, event }) =>
        (context.holds ?? []).some((h) => h.outage === (event as Ev<'OUTAGE_END'>).outage.id),
      outageExcuses: ({ context, event }) =>
        Object.keys(excusable(policy, context, (event as Ev<'EXCUSE'>).outage)).length > 0,
      // A more severe trigger routed elsewhere takes the case there (e.g. legal_dispute → legal, 2.3.4).
      flagReroutes: ({ context, event }) => {
        const e = event as Ev<'FLAG'>;
        const current = context.escalation;
        // Only a new trigger re-routes: repeating one must not pull a case back down the ladder.
        if (!current || current.status === 'resolved' || context.flags.includes(e.flag)) return false;
        const flags = [...context.flags, e.flag];
        return leadingTrigger(flags) === e.flag && policy.escalation.routes[e.flag] !== current.department;
      },
      resumeToReceived: ({ context }) => context.resumeTo === 'received',
      resumeToVerified: ({ context }) => context.resumeTo === 'verified',
    },
    actions: {
      stamp: assign(({ context, event }) => ({ accepted: context.accepted + 1, updatedAt: event.at })),
      respond: assign(({ context, event }) => ({
        ...close(context, ['firstResponse'], 'met', event.at),
        responded: true,
      })),
      verify: assign({ verified: true }),
      resolve: assign(({ context, event }) => {
        const e = event as Ev<'RESOLVE'>;
        return {
          ...close(context, ['firstResponse', 'initialNotice'], 'met', e.at),
          resolution: {
            by: 'cs' as const,
            text: e.resolution,
            ...(e.adjustment ? { adjustment: e.adjustment } : {}),
            at: e.at,
          },
        };
      }),
      coordinate: assign(({ context, event }) => {
        const e = event as Ev<'COORDINATE'>;
        const met = close(context, ['firstResponse', 'initialNotice'], 'met', e.at);
        return {
          ...arm(policy, met, ['coordination'], e.at),
          coordination: { department: e.department, request: e.request, at: e.at },
        };
      }),
      departmentReply: assign(({ context, event }) => {
        const e = event as Ev<'DEPARTMENT_REPLY'>;
        return {
          ...close(context, ['coordination'], 'met', e.at),
          coordination: context.coordination && { ...context.coordination, reply: e.reply },
        };
      }),
      escalateByAgent: assign(({ context, event }) => {
        const e = event as Ev<'ESCALATE'>;
        const target = escalationTarget(policy, e.recommendation) ?? {
          trigger: 'beyond_authority',
          department: e.recommendation,
        };
        return escalate(
          policy,
          context,
          {
            ...target,
            reason: e.reason,
            preliminaryJudgment: e.preliminaryJudgment,
            recommendation: e.recommendation,
            clause: '3.2.3',
          },
          e.at,
        );
      }),
      escalateForFlags: assign(({ context, event }) =>
        escalate(
          policy,
          context,
          escalationForFlags(policy, context.flags, event.type === 'FLAG' ? event.note : undefined),
          timeOf(context, event),
        ),
      ),
      addFlag: assign(({ context, event }) => {
        const flag = (event as Ev<'FLAG'>).flag;
        return context.flags.includes(flag) ? {} : { flags: [...context.flags, flag] };
      }),
      reroute: assign(({ context, event }) => {
        const e = event as Ev<'FLAG'>;
        const current = context.escalation as Escalation;
        const next = escalationForFlags(policy, [e.flag], e.note);
        return {
          ...close(context, ['handoff'], 'cancelled', e.at),
          escalation: { ...current, ...next, seq: current.seq + 1, status: 'pending' as const, at: e.at },
        };
      }),
      breach: assign(({ context, event }) => close(context, [(event as Ev<'DEADLINE'>).name], 'breached', event.at)),
      escalateForMiss: assign(({ context, event }) => {
        const e = event as Ev<'DEADLINE'>;
        return escalate(
          policy,
          context,
          {
            trigger: 'deadline_missed',
            department: missedRoute,
            reason: `deadline ${e.name} missed`,
            preliminaryJudgment: `Customer service missed the ${e.name} deadline of clause ${clause(e.name)}.`,
            recommendation: missedRoute,
            clause: clause(e.name),
          },
          e.at,
        );
      }),
      climb: assign(({ context, event }) => {
        const current = context.escalation as Escalation;
        return {
          escalation: {
            ...current,
            trigger: 'deadline_missed' as const,
            department: rungAbove(current.department) as string,
            level: current.level + 1,
            seq: current.seq + 1,
            status: 'pending' as const,
            reason: `hand-off to ${current.department} not accepted in time`,
            clause: clause('handoff'),
            at: event.at,
          },
        };
      }),
      armHandoff: assign(({ context, event }) => arm(policy, context, ['handoff'], timeOf(context, event))),
      acceptHandoff: assign(({ context, event }) => ({
        ...close(context, ['handoff'], 'met', event.at),
        escalation: context.escalation && { ...context.escalation, status: 'accepted' as const },
      })),
      resolveEscalation: assign(({ context, event }) => {
        const e = event as Ev<'ESCALATION_RESOLVE'>;
        return {
          ...close(context, ['handoff'], 'met', e.at),
          escalation: context.escalation && { ...context.escalation, status: 'resolved' as const },
          resolution: { by: 'department' as const, text: e.outcome, at: e.at },
        };
      }),
      requestInfo: assign(({ context, event }) => {
        const met = close(context, ['firstResponse'], 'met', event.at);
        const e = event as Ev<'REQUEST_INFO'>;
        return {
          ...hold(
            policy,
            met,
            {
              reason: 'waiting_on_customer',
              clause: '6.2',
              by: e.actor.name,
              role: e.actor.role,
              at: e.at,
              note: e.request,
            },
            e.outages,
          ),
          responded: true,
        };
      }),
      pause: assign(({ context, event }) => {
        const e = event as Ev<'PAUSE'>;
        return hold(
          policy,
          context,
          { reason: e.reason, clause: '6.2', by: e.actor.name, role: e.actor.role, at: e.at, note: e.note },
          e.outages,
        );
      }),
      unpause: assign(({ context, event }) =>
        release(policy, context, (h) => h.reason !== 'waiting_on_customer' && h.outage === undefined, event.at),
      ),
      moveDue: assign(({ context, event }) => {
        const e = event as Ev<'MOVE_DUE'>;
        return moveDue(policy, context, e.deadline, Date.parse(e.dueAt), e.at);
      }),
      warn: assign(({ context, event }) => warned(policy, context, (event as Ev<'DEADLINE'>).name)),
      deferForOutage: assign(({ context, event }) => {
        const e = event as Ev<'DEADLINE'>;
        const effect = outageEffect(context, e);
        if (!effect) return {};
        if ('dueAt' in effect) return moveDue(policy, context, e.name, effect.dueAt, e.at, effect.since);
        // An open-ended outage holds the case: every running clock freezes what it had when the window began.
        const windows = e.outages ?? [];
        const deadlines: Record<string, DeadlineClock> = { ...context.deadlines };
        for (const [name, clock] of Object.entries(context.deadlines)) {
          if (clock.status !== 'armed') continue;
          const time = clockOf(policy, policy.deadlines[name]);
          const r = throughOutages(time, clock.since ?? clock.armedAt, clock.dueAt, windows);
          const { warnAt: _w, ...rest } = clock;
          const remainingMs = 'remainingMs' in r ? r.remainingMs : time.measure(e.at, r.dueAt);
          deadlines[name] = { ...rest, status: 'paused', remainingMs, at: e.at };
        }
        const w = effect.heldBy;
        return {
          deadlines,
          holds: [
            ...(context.holds ?? []),
            { reason: w.reason, clause: '6.2', by: e.actor.name, role: e.actor.role, at: w.start, outage: w.id },
          ],
        };
      }),
      endOutage: assign(({ context, event }) => {
        const e = event as Ev<'OUTAGE_END'>;
        // The clocks run again from the window's end, not from when the news arrived.
        return release(policy, context, (h) => h.outage === e.outage.id, e.outage.end ?? e.at);
      }),
      excuse: assign(({ context, event }) => {
        const e = event as Ev<'EXCUSE'>;
        return { deadlines: { ...context.deadlines, ...excusable(policy, context, e.outage) } };
      }),
      migrate: assign(({ context, event }) => {
        const e = event as Ev<'MIGRATE'>;
        return migrateClocks(policy, context, e.elapsed, e.at);
      }),
      rememberResume: assign({
        resumeTo: (_, params: { state: 'received' | 'verified' | 'coordinating' }) => params.state,
      }),
      resume: assign(({ context, event }) => ({
        ...release(policy, context, (h) => h.reason === 'waiting_on_customer', event.at),
        resumeTo: null,
      })),
      armFollowUp: assign(({ context, event }) => arm(policy, context, ['followUp'], event.at)),
      cancelFollowUp: assign(({ context, event }) => close(context, ['followUp'], 'cancelled', event.at)),
      cancelAll: assign(({ context, event }) => ({ ...closeAll(context, 'cancelled', event.at), holds: [] })),
      recordSurvey: assign(({ context, event }) => {
        const e = event as Ev<'SURVEY_RESULT'>;
        return {
          ...close(context, ['followUp'], 'met', e.at),
          survey: { score: e.score, ...(e.comment ? { comment: e.comment } : {}), at: e.at },
        };
      }),
      reopen: assign(({ context, event }) => ({
        ...arm(policy, context, ['initialNotice'], event.at),
        resolution: null,
      })),
      // Effects: no I/O here. The engine turns these into outbox entries in the same commit.
      handOff: () => {},
      requestCoordination: () => {},
      notifyCustomer: (_, _params: { kind: NoticeKind }) => {},
      notifyOwner: (_, _params: WarningNotice) => {},
    },
  });
  // Handled alike in every open state (6.2, 6.1): pauses with a reason, due dates moved by hand, outages, migration.
  const clockEvents = {
    PAUSE: { guard: 'canPause', actions: ['stamp', 'pause'] },
    RESUME: { guard: 'canResume', actions: ['stamp', 'unpause'] },
    MOVE_DUE: { guard: 'canMoveDue', actions: ['stamp', 'moveDue'] },
    OUTAGE_END: { guard: 'heldByOutage', actions: ['stamp', 'endOutage'] },
    EXCUSE: { guard: 'outageExcuses', actions: ['stamp', 'excuse'] },
    MIGRATE: { actions: ['stamp', 'migrate'] },
  } as const;
  // A timer is first a warning, or a deadline an outage moved; only then a miss.
  const timerFirst = [
    {
      guard: 'warningDue',
      actions: [
        'stamp',
        'warn',
        {
          type: 'notifyOwner',
          params: ({ event }: { event: MachineEvent }) => {
            const e = event as Ev<'DEADLINE'>;
            return { name: e.name, warning: e.warning ?? 0 };
          },
        },
      ],
    },
    { guard: 'outageDefers', actions: ['stamp', 'deferForOutage'] },
  ] as const;
  return machineSetup.createMachine({
    id: 'case',
    initial: 'received',
    context: ({ input }) => {
      // XState's pure transition() starts a throwaway actor without input on every call: answer it with
      // an empty context rather than throwing (the real context is the snapshot being transitioned).
      if (!input) return EMPTY_CONTEXT;
      // 2.1: recorded at intake, with the first-response and initial-notice clocks running (3.1.3).
      return {
        ...EMPTY_CONTEXT,
        caseId: input.caseId,
        open: input.open,
        flags: intakeFlags(policy, input),
        ...arm(policy, EMPTY_CONTEXT, ['firstResponse', 'initialNotice'], input.at),
        accepted: 1,
        createdAt: input.at,
        updatedAt: input.at,
      };
    },
    states: {
      // 2.1: received, recorded; the first-response and initial-notice clocks run (3.1.3).
      received: {
        always: { guard: 'flagged', target: 'escalated', actions: 'escalateForFlags' },
        on: {
          RESPOND: { actions: ['stamp', 'respond'] },
          VERIFY: { target: 'verified', actions: ['stamp', 'verify'] },
          FLAG: { target: 'escalated', actions: ['stamp', 'addFlag', 'escalateForFlags'] },
          ESCALATE: { guard: 'canEscalate', target: 'escalated', actions: ['stamp', 'escalateByAgent'] },
          REQUEST_INFO: {
            target: 'awaitingCustomer',
            actions: ['stamp', 'requestInfo', { type: 'rememberResume', params: { state: 'received' } }],
          },
          CUSTOMER_REPLY: { actions: 'stamp' },
          ...clockEvents,
          DEADLINE: [
            ...timerFirst,
            { guard: 'missEscalates', target: 'escalated', actions: ['stamp', 'breach', 'escalateForMiss'] },
          ],
        },
      },
      // 3.2: identity and usage verified; the decision point.
      verified: {
        on: {
          RESPOND: { actions: ['stamp', 'respond'] },
          RESOLVE: { guard: 'canResolve', target: 'resolved', actions: ['stamp', 'resolve'] },
          COORDINATE: {
            guard: 'canCoordinate',
            target: 'coordinating',
            actions: [
              'stamp',
              'coordinate',
              'requestCoordination',
              { type: 'notifyCustomer', params: { kind: 'coordinating' } },
            ],
          },
          FLAG: { target: 'escalated', actions: ['stamp', 'addFlag', 'escalateForFlags'] },
          ESCALATE: { guard: 'canEscalate', target: 'escalated', actions: ['stamp', 'escalateByAgent'] },
          REQUEST_INFO: {
            target: 'awaitingCustomer',
            actions: ['stamp', 'requestInfo', { type: 'rememberResume', params: { state: 'verified' } }],
          },
          CUSTOMER_REPLY: { actions: 'stamp' },
          ...clockEvents,
          DEADLINE: [
            ...timerFirst,
            { guard: 'missEscalates', target: 'escalated', actions: ['stamp', 'breach', 'escalateForMiss'] },
          ],
        },
      },
      // 3.2.2: within authority, but another department must help.
      coordinating: {
        on: {
          RESPOND: { actions: ['stamp', 'respond'] },
          DEPARTMENT_REPLY: {
            guard: 'canReplyFromDepartment',
            target: 'verified',
            actions: ['stamp', 'departmentReply'],
          },
          FLAG: { target: 'escalated', actions: ['stamp', 'addFlag', 'escalateForFlags'] },
          ESCALATE: { guard: 'canEscalate', target: 'escalated', actions: ['stamp', 'escalateByAgent'] },
          REQUEST_INFO: {
            target: 'awaitingCustomer',
            actions: ['stamp', 'requestInfo', { type: 'rememberResume', params: { state: 'coordinating' } }],
          },
          CUSTOMER_REPLY: { actions: 'stamp' },
          ...clockEvents,
          DEADLINE: [
            ...timerFirst,
            { guard: 'missEscalates', target: 'escalated', actions: ['stamp', 'breach', 'escalateForMiss'] },
          ],
        },
      },
      // 6.2: waiting on the customer; every clock is paused with its remaining time frozen.
      awaitingCustomer: {
        on: {
          CUSTOMER_REPLY: [
            { guard: 'resumeToReceived', target: 'received', actions: ['stamp', 'resume'] },
            { guard: 'resumeToVerified', target: 'verified', actions: ['stamp', 'resume'] },
            { target: 'coordinating', actions: ['stamp', 'resume'] },
          ],
          RESPOND: { actions: 'stamp' },
          FLAG: { target: 'escalated', actions: ['stamp', 'addFlag', 'escalateForFlags'] },
          ESCALATE: { guard: 'canEscalate', target: 'escalated', actions: ['stamp', 'escalateByAgent'] },
          ...clockEvents,
        },
      },
      // 3.2.3: handed to the routed department with the four-part package; the customer is told.
      escalated: {
        entry: ['armHandoff', 'handOff', { type: 'notifyCustomer', params: { kind: 'escalated' } }],
        on: {
          HANDOFF_ACCEPT: { guard: 'canAcceptHandoff', actions: ['stamp', 'acceptHandoff'] },
          ESCALATION_RESOLVE: { target: 'resolved', actions: ['stamp', 'resolveEscalation'] },
          RESPOND: { actions: ['stamp', 'respond'] },
          CUSTOMER_REPLY: { actions: 'stamp' },
          FLAG: [
            { guard: 'flagReroutes', target: 'escalated', reenter: true, actions: ['stamp', 'addFlag', 'reroute'] },
            { actions: ['stamp', 'addFlag'] },
          ],
          ...clockEvents,
          DEADLINE: [
            ...timerFirst,
            { guard: 'handoffMissClimbs', target: 'escalated', reenter: true, actions: ['stamp', 'breach', 'climb'] },
            { guard: 'deadlineLive', actions: ['stamp', 'breach'] },
          ],
        },
      },
      // 3.2.1: the result is told to the customer; 2.2.5: a follow-up is due.
      resolved: {
        entry: ['armFollowUp', { type: 'notifyCustomer', params: { kind: 'resolved' } }],
        exit: 'cancelFollowUp',
        on: {
          SURVEY_RESULT: { actions: ['stamp', 'recordSurvey'] },
          CLOSE: { target: 'closed', actions: 'stamp' },
          REOPEN: { target: 'verified', actions: ['stamp', 'reopen'] },
          FLAG: { target: 'escalated', actions: ['stamp', 'addFlag', 'escalateForFlags'] },
          CUSTOMER_REPLY: { actions: 'stamp' },
          ...clockEvents,
          DEADLINE: [...timerFirst, { guard: 'deadlineLive', actions: ['stamp', 'breach'] }],
        },
      },
      closed: {
        entry: 'cancelAll',
        on: {
          REOPEN: { target: 'verified', actions: ['stamp', 'reopen'] },
          SURVEY_RESULT: { actions: ['stamp', 'recordSurvey'] },
          EXCUSE: clockEvents.EXCUSE,
        },
      },
    },
  });
}

export type CaseMachine = ReturnType<typeof createCaseMachine>;
