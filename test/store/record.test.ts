import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord, encodeSnapshot } from '../../src/store/record.ts';

// The case record's stored form (src/store/record.ts): `<version>\n` and the snapshot, compressed with a
// preset dictionary that must never change once records are written with it.

describe('case record encoding', () => {
  it('round-trips any snapshot text and version', () => {
    fc.assert(
      fc.property(fc.nat(), fc.string({ unit: 'grapheme', maxLength: 2000 }), (version, json) => {
        expect(decodeRecord(encodeRecord(version, json))).toEqual({ version, json });
      }),
      { numRuns: 300 },
    );
  });

  it('reads a plain-JSON record (written before compression, or by hand) as it is', () => {
    expect(decodeRecord(Buffer.from('12\n{"state":"received"}'))).toEqual({
      version: 12,
      json: '{"state":"received"}',
    });
    expect(decodeRecord('3\n{"a":"张三"}')).toEqual({ version: 3, json: '{"a":"张三"}' });
    expect(() => decodeRecord(Buffer.from('no version line'))).toThrow(/no version line/);
  });

  it('an open case’s snapshot of ~1,100 bytes is stored in under 512', () => {
    const snapshot = JSON.stringify({
      state: 'received',
      policyVersion: 1,
      context: {
        caseId: 'c0123456789abcdef01234567',
        open: { contractId: 'MC-2026-001', channel: 'phone', category: 'inquiry' },
        flags: [],
        deadlines: {
          firstResponse: {
            epoch: 1,
            armedAt: 1795627391100,
            since: 1795627391100,
            status: 'armed',
            dueAt: 1795628291100,
          },
          initialNotice: {
            epoch: 2,
            armedAt: 1795627391100,
            since: 1795627391100,
            status: 'armed',
            dueAt: 1795641791100,
          },
        },
        epoch: 2,
        responded: false,
        verified: false,
        escalation: null,
        coordination: null,
        resolution: null,
        survey: null,
        resumeTo: null,
        accepted: 1,
        createdAt: 1795627391100,
        updatedAt: 1795627391100,
      },
      opened: { hash: '1cdec4f740107156e0736d47355b49c6', state: 'received' },
      pii: { k: `k1.${randomBytes(60).toString('base64url')}`, d: randomBytes(250).toString('base64url') },
    });
    expect(snapshot.length).toBeGreaterThan(1000);
    expect(encodeSnapshot(snapshot).length).toBeLessThan(512);
  });

  it('the v1 dictionary is the one records were written with (a better one is a new format, not an edit)', () => {
    const bytes = readFileSync(new URL('../../src/store/dictionaries/case-v1.dict', import.meta.url));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(
      '039c90932f02520b993f8fe7f013d4b97aa353ae15cf336ec72d418c79d7078b',
    );
  });
});
