import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { type Policy, parsePolicy } from '../../src/policy/policy.ts';

const EXAMPLE = new URL('../../policies/example.yaml', import.meta.url);

/** The shipped example policy as a plain document, to vary in tests. */
export function exampleDocument(): Record<string, any> {
  return parse(readFileSync(EXAMPLE, 'utf8')) as Record<string, any>;
}

/**
 * The example policy with some deadlines shortened (e.g. `{ firstResponse: 'PT1S' }`). Its clocks run on
 * wall time and send no warnings, so tests do not depend on the hour they run at; `clocks` keeps the
 * example's business clocks and warnings.
 */
export function testPolicy(within: Record<string, string> = {}, version = 1, opts: { clocks?: boolean } = {}): Policy {
  const doc = exampleDocument();
  doc.contract.version = version;
  if (!opts.clocks) {
    for (const d of Object.values(doc.deadlines) as Record<string, unknown>[]) {
      d.clock = 'calendar';
      delete d.calendar;
    }
    doc.warnings = { at: [] };
  }
  for (const [name, duration] of Object.entries(within)) doc.deadlines[name].within = duration;
  return parsePolicy(doc, 'test policy');
}

export const CONTRACT = 'MC-2026-001';

export function openCase(overrides: Record<string, unknown> = {}) {
  return {
    contractId: CONTRACT,
    channel: 'phone',
    category: 'inquiry',
    customer: { id: 'cust-1', name: '张三', phone: '+86 138 0000 0000' },
    subject: 'How do I change my appointment?',
    description: 'The customer asks how to move a booked service visit.',
    ...overrides,
  } as const;
}
