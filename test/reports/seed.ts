import type { Actor } from '../../machines/types.ts';
import type { CaseEvent } from '../../src/domain/events.ts';
import type { Runtime } from '../../src/runtime.ts';
import { SYSTEM_ACTOR } from '../../src/runtime.ts';
import { CONTRACT, openCase } from '../support/policy.ts';
import { testRuntime, VERIFY } from '../support/runtime.ts';

// A seeded data set with known answers: cases driven through the real engine on fake time (Asia/Shanghai,
// the example policy's zone), over the period 2026-11-02..03 and the day before it (the previous period
// of a two-day report is 2026-10-31..11-01).

/** A local time in Asia/Shanghai. */
export const at = (day: string, time: string) => Date.parse(`2026-${day}T${time}:00+08:00`);

/** Personal values that must never appear in any report output or aggregate. */
export const CANARY = {
  name: '王小明',
  namePart: '小明',
  latinName: 'Zyxwv Quoxbury',
  latinPart: 'quoxbury',
  email: 'zyxwv.quoxbury@canary-mail.example',
  emailPart: 'canary-mail',
  phone: '+86 139 1234 5678',
  phoneDigits: '13912345678',
  id: 'cust-canary-7731',
} as const;

export const AGENT: Actor = { name: 'agent-li', role: 'agent' };
export const SUPERVISOR: Actor = { name: 'supervisor-wang', role: 'supervisor' };
const dept = (department: string): Actor => ({ name: `dept-${department}`, role: 'department', department });

export interface Seeded {
  readonly rt: Runtime;
  readonly cases: Record<string, string>;
  /** Moves the fake clock. */
  setNow(ms: number): void;
}

/** Runs the seeded cases; returns the runtime (no workers started) and the case ids by name. */
export async function seed(): Promise<Seeded> {
  let now = at('11-01', '08:00');
  const rt = await testRuntime({ clock: () => now });
  const cases: Record<string, string> = {};
  const open = async (name: string, when: number, overrides: Record<string, unknown>) => {
    now = when;
    cases[name] = (await rt.engine.open(openCase(overrides) as never, AGENT, { idempotencyKey: name })).caseId;
  };
  const send = async (name: string, when: number, event: CaseEvent, actor: Actor = AGENT) => {
    now = when;
    await rt.engine.apply(cases[name] as string, event, actor);
  };
  /** Fires a deadline at its due time, as the deadline worker would. */
  const fire = async (name: string, deadline: string) => {
    const found = await rt.engine.get(cases[name] as string);
    const clock = found?.stored.context.deadlines[deadline];
    if (!clock) throw new Error(`${name}: ${deadline} not armed`);
    now = clock.dueAt;
    await rt.engine.apply(
      cases[name] as string,
      { type: 'DEADLINE', name: deadline, epoch: clock.epoch },
      SYSTEM_ACTOR,
    );
  };

  // --- the previous period (2026-11-01) ---
  await open('P1', at('11-01', '15:00'), {
    category: 'complaint',
    subject: 'Invoice refund missing',
    description: 'Customer says the refund for the invoice never arrived.',
  });
  await fire('P1', 'firstResponse'); // 15:15, breached: escalated to team_lead
  await open('P2', at('11-01', '16:00'), {
    channel: 'chat',
    subject: 'Invoice question',
    description: 'Which address is printed on the invoice?',
  });
  await send('P2', at('11-01', '16:10'), { type: 'RESPOND', message: 'looking into it' });

  // --- the period (2026-11-02 .. 03) ---
  // C1: answered in 5 min, resolved with a 120.00 CNY waiver by an agent, survey 5 with a comment, closed.
  await open('C1', at('11-02', '09:00'), {
    category: 'complaint',
    subject: 'Late fee charged twice on my invoice',
    description: 'The late fee was charged twice this month; please refund one of the charges.',
  });
  await send('C1', at('11-02', '09:05'), { type: 'RESPOND', message: 'We are checking.' });
  await send('C1', at('11-02', '09:10'), VERIFY);
  await send('C1', at('11-02', '09:30'), {
    type: 'RESOLVE',
    resolution: 'waived one late fee',
    adjustment: { amount: '120.00', currency: 'CNY' },
  });
  await send('C1', at('11-02', '10:00'), { type: 'SURVEY_RESULT', score: 5, comment: 'quick and kind' });
  await send('C1', at('11-02', '10:10'), { type: 'CLOSE' });

  // C2: a fee waiver above the 500.00 CNY limit: escalated at intake to contract_management (1.4),
  // accepted in 30 min, resolved by the department.
  await open('C2', at('11-02', '10:00'), {
    channel: 'chat',
    category: 'fee_waiver',
    amount: { amount: '800.00', currency: 'CNY' },
    subject: '滞纳金减免申请',
    description: '客户申请减免八百元滞纳金，账单有误。',
  });
  await send(
    'C2',
    at('11-02', '10:30'),
    { type: 'HANDOFF_ACCEPT', department: 'contract_management' },
    dept('contract_management'),
  );
  await send(
    'C2',
    at('11-02', '11:00'),
    { type: 'ESCALATION_RESOLVE', outcome: 'waived by contract management' },
    dept('contract_management'),
  );

  // C3: the canary customer, in Chinese; the first response is missed (escalated to team_lead), the
  // hand-off is missed too (climbs to contract_management, rung 2), accepted 45 min later.
  await open('C3', at('11-02', '11:00'), {
    channel: 'email',
    customer: { id: CANARY.id, name: CANARY.name, phone: CANARY.phone, email: CANARY.email },
    subject: `${CANARY.name}的账单退款一直没有到账`,
    description: `客户${CANARY.name}说退款三天了还没有到账，电话${CANARY.phoneDigits}，邮箱${CANARY.email}。`,
  });
  await fire('C3', 'firstResponse'); // 11:15
  await fire('C3', 'handoff'); // 13:15
  await send(
    'C3',
    at('11-02', '14:00'),
    { type: 'HANDOFF_ACCEPT', department: 'contract_management' },
    dept('contract_management'),
  );

  // C4: coordinated with finance (2 h), resolved, survey 2, reopened, resolved again with a 50.50 CNY
  // waiver by a supervisor.
  await open('C4', at('11-03', '09:00'), {
    category: 'complaint',
    customer: { id: 'cust-4', name: CANARY.latinName, email: CANARY.email },
    subject: `${CANARY.latinName}: 退款 and invoice wrong`,
    description: `Quoxbury reports the invoice total is wrong and wants a refund (${CANARY.emailPart}).`,
  });
  await send('C4', at('11-03', '09:10'), { type: 'RESPOND' });
  await send('C4', at('11-03', '09:20'), VERIFY);
  await send('C4', at('11-03', '09:30'), { type: 'COORDINATE', department: 'finance', request: 'check the invoice' });
  await send(
    'C4',
    at('11-03', '11:30'),
    { type: 'DEPARTMENT_REPLY', department: 'finance', reply: 'corrected' },
    dept('finance'),
  );
  await send('C4', at('11-03', '12:00'), { type: 'RESOLVE', resolution: 'invoice corrected' });
  await send('C4', at('11-03', '12:30'), { type: 'SURVEY_RESULT', score: 2 });
  await send('C4', at('11-03', '13:00'), { type: 'REOPEN', reason: 'still wrong' });
  await send(
    'C4',
    at('11-03', '13:30'),
    { type: 'RESOLVE', resolution: 'refunded the difference', adjustment: { amount: '50.50', currency: 'CNY' } },
    SUPERVISOR,
  );

  // C5: a small claim turning into a legal dispute 5 min after intake: escalated to legal.
  await open('C5', at('11-03', '10:00'), {
    category: 'small_claim',
    amount: { amount: '300.00', currency: 'CNY' },
    subject: 'Refund for a damaged parcel',
    description: 'The parcel arrived broken; the customer threatens to sue.',
  });
  await send('C5', at('11-03', '10:05'), { type: 'FLAG', flag: 'legal_dispute', note: 'mentions a lawyer' });

  return {
    rt,
    cases,
    setNow: (ms) => {
      now = ms;
    },
  };
}

export { CONTRACT };
