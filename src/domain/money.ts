import './zod-messages.ts';
import { z } from 'zod';

// Money is an exact decimal string with the currency's minor digits (1.4, 2.2.4); never a float.
const KNOWN_CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
const DECIMAL = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;

export interface Money {
  readonly amount: string;
  readonly currency: string;
}

export function minorDigits(currency: string): number {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits as number;
}

export const moneySchema = z
  .strictObject({
    amount: z.string({ error: 'must be a decimal string such as "300.00", not a number' }),
    currency: z.string({ error: 'must be an ISO 4217 code' }),
  })
  .superRefine((value, ctx) => {
    if (!KNOWN_CURRENCIES.has(value.currency)) {
      ctx.addIssue({ code: 'custom', path: ['currency'], message: 'not an ISO 4217 currency code' });
      return;
    }
    if (!DECIMAL.test(value.amount)) {
      ctx.addIssue({
        code: 'custom',
        path: ['amount'],
        message: 'must be a non-negative decimal string such as "300.00"',
      });
      return;
    }
    const fraction = value.amount.split('.')[1] ?? '';
    const digits = minorDigits(value.currency);
    if (fraction.length > digits) {
      ctx.addIssue({
        code: 'custom',
        path: ['amount'],
        message: `at most ${digits} decimal places for ${value.currency}`,
      });
    }
  });

/** The amount in the currency's minor units, exactly. */
export function toMinorUnits(money: Money): bigint {
  const digits = minorDigits(money.currency);
  const [whole = '0', fraction = ''] = money.amount.split('.');
  return BigInt(whole) * 10n ** BigInt(digits) + BigInt(fraction.padEnd(digits, '0') || '0');
}

/** Compares two amounts of the same currency; throws if the currencies differ. */
export function compareMoney(a: Money, b: Money): -1 | 0 | 1 {
  if (a.currency !== b.currency) throw new RangeError(`cannot compare ${a.currency} with ${b.currency}`);
  const x = toMinorUnits(a);
  const y = toMinorUnits(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
