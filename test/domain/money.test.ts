import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/domain/duration.ts';
import { compareMoney, moneySchema, toMinorUnits } from '../../src/domain/money.ts';

const issues = (input: unknown) => {
  const r = moneySchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('money: exact decimals, never floats (1.4, 2.2.4)', () => {
  it('accepts a decimal string within the currency minor digits', () => {
    expect(issues({ amount: '300.00', currency: 'CNY' })).toEqual([]);
    expect(issues({ amount: '300', currency: 'JPY' })).toEqual([]);
  });

  it.each([
    [{ amount: 300, currency: 'CNY' }, 'amount: must be a decimal string such as "300.00", not a number'],
    [{ amount: '-1.00', currency: 'CNY' }, 'amount: must be a non-negative decimal string such as "300.00"'],
    [{ amount: '1e3', currency: 'CNY' }, 'amount: must be a non-negative decimal string such as "300.00"'],
    [{ amount: '01.00', currency: 'CNY' }, 'amount: must be a non-negative decimal string such as "300.00"'],
    [{ amount: '1.001', currency: 'CNY' }, 'amount: at most 2 decimal places for CNY'],
    [{ amount: '1.5', currency: 'JPY' }, 'amount: at most 0 decimal places for JPY'],
    [{ amount: '1.00', currency: 'XYZ' }, 'currency: not an ISO 4217 currency code'],
  ])('rejects %j naming the field and the rule', (input, message) => {
    expect(issues(input)).toEqual([message]);
  });

  it('rejects unknown fields', () => {
    expect(issues({ amount: '1.00', currency: 'CNY', fx: 1 })[0]).toMatch(/fx/);
  });

  it('compares exactly, beyond float precision', () => {
    expect(toMinorUnits({ amount: '90071992547409.93', currency: 'CNY' })).toBe(9007199254740993n);
    expect(compareMoney({ amount: '0.30', currency: 'CNY' }, { amount: '0.3', currency: 'CNY' })).toBe(0);
    expect(compareMoney({ amount: '500.01', currency: 'CNY' }, { amount: '500', currency: 'CNY' })).toBe(1);
    expect(() => compareMoney({ amount: '1', currency: 'CNY' }, { amount: '1', currency: 'USD' })).toThrow(
      /CNY with USD/,
    );
  });
});

describe('ISO-8601 durations (the agreement’s [time] blanks)', () => {
  it.each([
    ['PT15M', 900_000],
    ['PT4H', 14_400_000],
    ['P1D', 86_400_000],
    ['P1W', 604_800_000],
    ['P1DT2H30M', 95_400_000],
    ['PT1.5S', 1_500],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['P', 'PT', '15M', 'P1M', 'P1Y', 'PT-5M', 'P1DT', 'soon'])('rejects %s', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
