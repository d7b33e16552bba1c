import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.ts';
import { parseEvent, parseOpenCase } from '../../src/domain/events.ts';
import { openCase } from '../support/policy.ts';

function fieldsOf(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).errors.map((e) => `${e.path}: ${e.message}`);
  }
  throw new Error('expected a ValidationError');
}

describe('events from callers (VOCABULARY.md)', () => {
  it('parses every public event type', () => {
    expect(parseEvent({ type: 'RESPOND', message: 'hello' })).toEqual({ type: 'RESPOND', message: 'hello' });
    expect(parseEvent({ type: 'SURVEY_RESULT', score: 5 })).toEqual({ type: 'SURVEY_RESULT', score: 5 });
  });

  it('refuses an unknown type, naming the allowed ones', () => {
    expect(fieldsOf(() => parseEvent({ type: 'DELETE' }))[0]).toMatch(/^type: must be one of RESPOND, VERIFY/);
  });

  it('refuses DEADLINE from any caller', () => {
    expect(fieldsOf(() => parseEvent({ type: 'DEADLINE', name: 'firstResponse', epoch: 1 }))).toEqual([
      'type: DEADLINE is raised by deadline timers only and refused from any caller',
    ]);
  });

  it('refuses unknown fields and missing fields', () => {
    expect(fieldsOf(() => parseEvent({ type: 'RESOLVE', resolution: 'x', discount: 5 }))[0]).toMatch(/discount/);
    expect(fieldsOf(() => parseEvent({ type: 'ESCALATE', reason: 'r' }))).toEqual([
      expect.stringMatching(/^preliminaryJudgment: /),
      expect.stringMatching(/^recommendation: /),
    ]);
  });

  it('requires both verification facts to be true (2.2.2)', () => {
    expect(
      fieldsOf(() => parseEvent({ type: 'VERIFY', identityVerified: true, serviceUsageConfirmed: false })),
    ).toEqual(['serviceUsageConfirmed: must be true: service usage is confirmed before deciding (2.2.2)']);
  });

  it('checks the survey score (2.2.5) and the adjustment money (2.2.4)', () => {
    expect(fieldsOf(() => parseEvent({ type: 'SURVEY_RESULT', score: 6 }))).toEqual(['score: at most 5']);
    expect(
      fieldsOf(() => parseEvent({ type: 'RESOLVE', resolution: 'x', adjustment: { amount: '-5', currency: 'CNY' } })),
    ).toEqual(['adjustment.amount: must be a non-negative decimal string such as "300.00"']);
  });

  it('refuses a non-object body', () => {
    expect(fieldsOf(() => parseEvent('RESPOND'))).toEqual(['(root): must be an object']);
  });
});

describe('opening a case (3.1.2)', () => {
  it('accepts a complete intake', () => {
    expect(parseOpenCase(openCase()).customer.name).toBe('张三');
  });

  it('names every missing or invalid field', () => {
    const fields = fieldsOf(() =>
      parseOpenCase({
        ...openCase(),
        subject: '',
        customer: { id: 'c', email: 'not-mail' },
        amount: { amount: 12, currency: 'CNY' },
      }),
    );
    expect(fields).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^customer\.name: /),
        expect.stringMatching(/^customer\.email: /),
        'subject: must not be empty',
        'amount.amount: must be a decimal string such as "300.00", not a number',
      ]),
    );
  });

  it('refuses an unknown trigger flag', () => {
    expect(fieldsOf(() => parseOpenCase({ ...openCase(), flags: ['urgent'] }))[0]).toMatch(
      /^flags\.0: must be one of legal_dispute/,
    );
  });
});
