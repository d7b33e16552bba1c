import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.ts';
import { parsePolicyYaml } from '../../src/policy/policy.ts';
import { parseScript, parseScriptYaml } from '../../src/simulate/script.ts';

// A what-if script is parsed once: every bad field is named with its rule, and nothing runs.

const POLICY_FILE = new URL('../../policies/example.yaml', import.meta.url);
const policy = parsePolicyYaml(readFileSync(POLICY_FILE, 'utf8'), 'example.yaml');

const VALID = {
  start: '2026-10-09T09:00:00+08:00',
  case: {
    channel: 'phone',
    category: 'complaint',
    customer: { id: 'c-1', name: 'Test Customer' },
    subject: 'Subject',
    description: 'Description',
  },
  outages: [{ id: 'o1', start: 'PT1H', end: '2026-10-09T10:30:00+08:00', reason: 'system_failure' }],
  events: [
    { at: 'PT5M', as: 'agent', event: { type: 'RESPOND' } },
    { at: '2026-10-09T10:00:00+08:00', as: 'department', department: 'legal', event: { type: 'RESPOND' } },
  ],
  until: 'P5D',
};

function errorsOf(doc: unknown): { path: string; message: string }[] {
  try {
    parseScript(doc, policy);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return [...(error as ValidationError).errors];
  }
  throw new Error('the script was accepted');
}

const withEvent = (event: Record<string, unknown>) => ({ ...VALID, events: [event] });

describe('parseScript', () => {
  it('resolves relative and absolute times, actors and the contract', () => {
    const script = parseScript(VALID, policy);
    const start = Date.parse('2026-10-09T09:00:00+08:00');
    expect(script.start).toBe(start);
    expect(script.until).toBe(start + 5 * 86_400_000);
    expect(script.open.contractId).toBe('MC-2026-001');
    expect(script.outages).toEqual([
      {
        id: 'o1',
        start: start + 3_600_000,
        end: start + 5_400_000,
        reason: 'system_failure',
        declared: start + 3_600_000,
      },
    ]);
    expect(script.events.map((e) => [e.at - start, e.actor])).toEqual([
      [300_000, { name: 'agent', role: 'agent' }],
      [3_600_000, { name: 'department', role: 'department', department: 'legal' }],
    ]);
  });

  it.each([
    ['start', { ...VALID, start: '2026-10-09 09:00' }, 'an ISO-8601 date-time with an offset'],
    ['until', { ...VALID, until: 'tomorrow' }, 'a duration from start such as PT5M'],
    ['until', { ...VALID, until: 'PT0S' }, 'must be after start'],
    ['case.customer.name', { ...VALID, case: { ...VALID.case, customer: { id: 'c' } } }, 'required'],
    ['case.channel', { ...VALID, case: { ...VALID.case, channel: 'fax' } }, 'must be one of phone, chat, email'],
    ['case.contractId', { ...VALID, case: { ...VALID.case, contractId: 'X' } }, 'Unrecognized key'],
    ['outages.0.reason', { ...VALID, outages: [{ id: 'o1', start: 'PT1H', reason: 'lunch' }] }, 'force_majeure or'],
    [
      'outages.0.end',
      { ...VALID, outages: [{ id: 'o1', start: 'PT1H', end: 'PT1H', reason: 'force_majeure' }] },
      'after',
    ],
    [
      'outages.1.id',
      {
        ...VALID,
        outages: [
          { id: 'o1', start: 'PT1H', reason: 'force_majeure' },
          { id: 'o1', start: 'PT2H', reason: 'force_majeure' },
        ],
      },
      'already the id of outages.0',
    ],
    ['events.0.as', withEvent({ at: 'PT1M', as: 'boss', event: { type: 'RESPOND' } }), 'one of the roles'],
    ['events.0.at', withEvent({ at: 5, as: 'agent', event: { type: 'RESPOND' } }), 'a duration from start'],
    [
      'events.0.at',
      withEvent({ at: '2026-10-09T08:00:00+08:00', as: 'agent', event: { type: 'RESPOND' } }),
      'before start',
    ],
    ['events.0.at', withEvent({ at: 'P6D', as: 'agent', event: { type: 'RESPOND' } }), 'after until'],
    ['events.0.department', withEvent({ at: 'PT1M', as: 'department', event: { type: 'RESPOND' } }), 'required when'],
    ['events.0.event.type', withEvent({ at: 'PT1M', as: 'agent', event: { type: 'SHOUT' } }), 'must be one of RESPOND'],
    [
      'events.0.event.type',
      withEvent({ at: 'PT1M', as: 'agent', event: { type: 'DEADLINE', name: 'handoff', epoch: 1 } }),
      'raised by deadline timers only',
    ],
    [
      'events.0.event.reason',
      withEvent({ at: 'PT1M', as: 'agent', event: { type: 'PAUSE', reason: 'coffee', note: 'x' } }),
      'must be one of customer_caused',
    ],
    ['events.0.event', withEvent({ at: 'PT1M', as: 'agent', event: 'RESPOND' }), 'must be an object'],
    [
      'events.0.bogus',
      withEvent({ at: 'PT1M', as: 'agent', bogus: 1, event: { type: 'RESPOND' } }),
      'Unrecognized key',
    ],
  ])('names %s and its rule', (path, doc, rule) => {
    const errors = errorsOf(doc);
    // An unknown key is named by its parent object's path and the key itself.
    const parent = path.split('.').slice(0, -1).join('.');
    const key = path.split('.').at(-1);
    const hit = errors.find((e) => e.path === path || (e.path === parent && e.message.includes(`"${key}"`)));
    expect(hit, JSON.stringify(errors)).toBeDefined();
    expect(hit?.message).toContain(rule);
  });

  it('names events out of order against the one they follow', () => {
    const errors = errorsOf({
      ...VALID,
      events: [
        { at: 'PT10M', as: 'agent', event: { type: 'RESPOND' } },
        { at: 'PT5M', as: 'agent', event: { type: 'RESPOND' } },
      ],
    });
    expect(errors).toEqual([
      { path: 'events.1.at', message: 'is before events.0.at: events run in the order written' },
    ]);
  });

  it('reports bad YAML as such, and prefixes the file to the message', () => {
    expect(() => parseScriptYaml('start: [', policy, 'x.yaml')).toThrow(/x.yaml is not valid YAML/);
    expect(() => parseScriptYaml('start: 1', policy, 'x.yaml')).toThrow(/^x.yaml: invalid script/);
  });
});
