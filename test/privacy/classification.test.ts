import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseView } from '../../src/engine/view.ts';
import { createLogger } from '../../src/log.ts';
import {
  auditTree,
  CASE_FIELDS,
  CASE_TREE,
  classify,
  DATA_CLASSES,
  isPersonal,
  VIEW_TREE,
} from '../../src/privacy/classification.ts';
import { erasedContext } from '../../src/privacy/erasure.ts';
import { mask, projectHistory, projectView } from '../../src/privacy/projection.ts';
import { merge, split, unclassifiedPaths } from '../../src/privacy/split.ts';
import type { Runtime } from '../../src/runtime.ts';
import { openCase } from '../support/policy.ts';
import { agent, closeRuntime, testRuntime, VERIFY } from '../support/runtime.ts';
import { logSink } from './helpers.ts';

// 4.2: every field of a case is classified in one place (src/privacy/classification.ts), and that one
// table drives sealing, projections and erasure. These tests hold the table complete and the rules exact.

let rt: Runtime;
let richCase: string;
beforeAll(async () => {
  rt = await testRuntime();
  const { caseId } = await rt.engine.open(
    openCase({
      customer: { id: 'c-1', name: '张三', phone: '13812345678', email: 'zhang@example.com' },
      amount: { amount: '20.00', currency: 'CNY' },
      externalRef: 'CRM-1',
      flags: [],
    }),
    agent,
  );
  richCase = caseId;
  const supervisor = { name: 'sup', role: 'supervisor' } as const;
  const steps: [Record<string, unknown>, typeof agent | typeof supervisor][] = [
    [{ type: 'RESPOND', message: 'hello' }, agent],
    [{ type: 'PAUSE', reason: 'customer_caused', note: 'customer away' }, agent],
    [{ type: 'RESUME', note: 'back' }, agent],
    [{ ...VERIFY, method: 'id card' }, agent],
    [{ type: 'COORDINATE', department: 'finance', request: 'check' }, agent],
    [{ type: 'DEPARTMENT_REPLY', department: 'finance', reply: 'ok' }, { name: 'fin', role: 'service' } as never],
    [{ type: 'RESOLVE', resolution: 'done', adjustment: { amount: '10.00', currency: 'CNY' } }, agent],
    [{ type: 'SURVEY_RESULT', score: 5, comment: 'good' }, agent],
    [{ type: 'REOPEN', reason: 'again' }, agent],
    [{ type: 'ESCALATE', reason: 'r', preliminaryJudgment: 'j', recommendation: 'legal' }, agent],
    [{ type: 'FLAG', flag: 'deadline_missed', note: 'n' }, agent],
  ];
  for (const [event, actor] of steps) await rt.engine.apply(caseId, event as never, actor);
});
afterAll(async () => {
  if (rt) await closeRuntime(rt);
});

describe('the classification table', () => {
  it('uses only the four classes, and every personal field of the customer has a mask', () => {
    for (const [path, rule] of Object.entries(CASE_FIELDS)) {
      expect(DATA_CLASSES, path).toContain(rule.class);
      if (isPersonal(rule)) expect(rule.mask, path).toBeDefined();
    }
  });

  it('covers every field of a case that went through most of its life (a new field must be classified)', async () => {
    const found = await rt.engine.get(richCase);
    const context = found?.stored.context;
    expect(context?.escalation).not.toBeNull();
    expect(context?.coordination).not.toBeNull();
    expect(unclassifiedPaths(context, CASE_TREE)).toEqual([]);
    const view = caseView(found?.stored as never, found?.policy as never);
    expect(unclassifiedPaths(view, VIEW_TREE)).toEqual([]);
    for (const entry of (await rt.store.history(richCase)) as { event: string }[]) {
      expect(unclassifiedPaths(entry, auditTree(entry.event)), entry.event).toEqual([]);
    }
  });

  it('an unknown field is treated as sensitive: sealed at rest, withheld from masked roles', () => {
    expect(classify(CASE_TREE, ['someNewField']).class).toBe('sensitive-personal');
    expect(classify(CASE_TREE, ['escalation', 'someNewNote']).class).toBe('sensitive-personal');
    expect(split({ caseId: 'c', someNewField: 'x' }, CASE_TREE)).toEqual({
      clear: { caseId: 'c' },
      secret: { someNewField: 'x' },
    });
    const shown = projectView({ id: 'c', newThing: 'x' }, { role: 'ops' }, {}, undefined);
    expect(shown).toEqual({ id: 'c', newThing: '[redacted]' });
  });

  it('the case the machine reasons on stays in clear: category, channel, amount, flags, clocks', () => {
    const { clear } = split(
      {
        caseId: 'c',
        open: { category: 'small_claim', channel: 'chat', amount: { amount: '1.00', currency: 'CNY' }, flags: [] },
        flags: ['legal_dispute'],
        deadlines: { firstResponse: { status: 'armed', epoch: 1, dueAt: 5 } },
      },
      CASE_TREE,
    );
    expect(clear).toMatchObject({
      open: { category: 'small_claim', channel: 'chat', amount: { amount: '1.00' } },
      flags: ['legal_dispute'],
      deadlines: { firstResponse: { status: 'armed' } },
    });
  });
});

describe('sealing splits and merges back exactly', () => {
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.string(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom('open', 'customer', 'name', 'holds', 'note', 'deadlines', 'x', '0'), tie('value'), {
        maxKeys: 4,
      }),
    ),
  })).value;

  it('merge(split(v)) equals v, for any JSON value (fast-check)', () => {
    fc.assert(
      fc.property(json, (value) => {
        const { clear, secret } = split(value, CASE_TREE);
        expect(merge(clear, JSON.parse(JSON.stringify(secret ?? null)) ?? undefined)).toEqual(value);
      }),
      { numRuns: 500 },
    );
  });

  it('erasure replaces every personal field and nothing else', async () => {
    const found = await rt.engine.get(richCase);
    const context = found?.stored.context as NonNullable<typeof found>['stored']['context'];
    const erased = erasedContext(context);
    expect(erased.open.customer).toEqual({ id: '[erased]', name: '[erased]', phone: '[erased]', email: '[erased]' });
    expect(erased.open.description).toBe('[erased]');
    expect(erased.escalation?.preliminaryJudgment).toBe('[erased]');
    expect(erased.open.amount).toEqual(context.open.amount);
    expect(erased.deadlines).toEqual(context.deadlines);
    expect(split(erased, CASE_TREE).clear).toEqual(split(context, CASE_TREE).clear);
  });
});

describe('masks are deterministic', () => {
  it.each([
    ['phone', '13812345678', '138****5678'],
    ['phone', '+86 139 1234 5678', '+86 139****5678'],
    ['phone', '12345', '*2345'],
    ['name', '张三', '张*'],
    ['name', '欧阳娜娜', '欧***'],
    ['name', 'Li', 'L*'],
    ['email', 'xiaolong@example.com', 'x***@example.com'],
    ['keep', 'cust-9', 'cust-9'],
    ['withhold', 'anything at all', '[redacted]'],
  ] as const)('%s %s → %s', (rule, value, expected) => {
    expect(mask(rule, value)).toBe(expected);
    expect(mask(rule, value)).toBe(mask(rule, value));
  });
});

describe('one projection for every role', () => {
  const view = {
    id: 'c1',
    state: 'escalated',
    customer: { id: 'u1', name: '张三', phone: '13812345678', email: 'zhang@example.com' },
    subject: 'late fee',
    amount: { amount: '20.00', currency: 'CNY' },
    externalRef: 'CRM-1',
  };
  const departments = { legal: { fields: ['customer.name', 'subject'] }, finance: { fields: ['amount'] } };

  it.each(['service', 'agent', 'supervisor'] as const)('%s sees everything', (role) => {
    expect(projectView(view, { role }, departments, undefined)).toEqual(view);
  });

  it.each(['ops', 'auditor'] as const)('%s sees personal data masked and free text withheld', (role) => {
    expect(projectView(view, { role }, departments, undefined)).toEqual({
      ...view,
      customer: { id: 'u1', name: '张*', phone: '138****5678', email: 'z***@example.com' },
      subject: '[redacted]',
    });
  });

  it('a department sees the fields its policy entry lists (4.1), and the pseudonymous id', () => {
    expect(projectView(view, { role: 'department', department: 'legal' }, departments, undefined)).toEqual({
      id: 'c1',
      state: 'escalated',
      customer: { id: 'u1', name: '张三' },
      subject: 'late fee',
    });
    expect(projectView(view, { role: 'department', department: 'finance' }, departments, undefined)).toEqual({
      id: 'c1',
      state: 'escalated',
      customer: { id: 'u1' },
      amount: view.amount,
    });
  });

  it('history: event free text for CS only; the actions, actors and clauses for everyone', () => {
    const entries = [
      {
        v: 2,
        at: 't',
        actor: { name: 'a', role: 'agent' },
        event: 'RESPOND',
        from: 'received',
        to: 'received',
        clause: '3.1.3',
        data: { message: '张三 said hi' },
      },
      {
        v: 3,
        at: 't',
        actor: { name: 'a', role: 'agent' },
        event: 'FLAG',
        from: 'received',
        to: 'escalated',
        clause: '1',
        data: { flag: 'legal_dispute', note: 'lawsuit' },
      },
    ];
    expect(projectHistory('c1', entries, { role: 'agent' }, departments, undefined)).toEqual(entries);
    const ops = projectHistory('c1', entries, { role: 'ops' }, departments, undefined) as typeof entries;
    expect(ops[0]?.data).toEqual({ message: '[redacted]' });
    expect(ops[1]?.data).toEqual({ flag: 'legal_dispute', note: '[redacted]' });
    expect(ops[1]?.clause).toBe('1');
    const legal = projectHistory(
      'c1',
      entries,
      { role: 'department', department: 'legal' },
      departments,
      undefined,
    ) as typeof entries;
    expect(legal[0]?.data).toEqual({});
    expect(legal[1]?.data).toEqual({ flag: 'legal_dispute' });
  });
});

describe('the logger redacts personal fields wherever a call site puts them', () => {
  it('top level, nested, in errors, and credentials', () => {
    const sink = logSink();
    const log = createLogger('info', sink.stream);
    log.info(
      {
        caseId: 'c1',
        customer: { name: '张三' },
        phone: '13812345678',
        ctx: { description: '病历', open: { subject: 's' } },
        err: { message: 'boom', body: { email: 'zhang@example.com' } },
        req: { headers: { authorization: 'Bearer ivk_secret' } },
        deadline: { name: 'firstResponse' },
      },
      'something happened',
    );
    const line = sink.lines[0] as string;
    for (const secret of ['张三', '13812345678', '病历', 'zhang@example.com', 'ivk_secret'])
      expect(line).not.toContain(secret);
    expect(line).toContain('c1');
    expect(line).toContain('boom');
    expect(line).toContain('firstResponse');
  });
});
