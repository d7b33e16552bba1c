import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord, encodeSnapshot, keptStreams } from '../../src/store/record.ts';

const DICTIONARY = readFileSync(new URL('../../src/store/dictionaries/case-v1.dict', import.meta.url));
const ZLIB = { dictionary: DICTIONARY, windowBits: 13, memLevel: 4 };

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

  it('writes records through kept zlib streams on this Node, in the format the one-shot functions read and write', () => {
    // The kept streams drive Node's undocumented zlib handle; on a Node without it records still work
    // (through deflateRawSync / inflateRawSync), but this test says so rather than letting it pass unseen.
    expect(keptStreams().available).toBe(true);
    const before = keptStreams();
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 3000 }), (json) => {
        const body = encodeSnapshot(json);
        expect(body[0]).toBe(0x5a);
        expect(inflateRawSync(body.subarray(1), ZLIB).toString('utf8')).toBe(json);
        const written = Buffer.concat([Buffer.from('7\nZ'), deflateRawSync(json, ZLIB)]);
        expect(decodeRecord(written)).toEqual({ version: 7, json });
      }),
      { numRuns: 300 },
    );
    // Every one of those went through the kept streams, none through the one-shot functions.
    const after = keptStreams();
    expect(after.deflate.kept - before.deflate.kept).toBe(300);
    expect(after.inflate.kept - before.inflate.kept).toBe(300);
    expect(after.deflate.oneShot).toBe(before.deflate.oneShot);
    expect(after.inflate.oneShot).toBe(before.inflate.oneShot);
  });

  it('a record whose compressed form fills the kept stream’s buffer, or is one byte over, is not cut off', () => {
    // Incompressible text whose DEFLATE output is exactly 65,535 bytes (the room the encoder has), then 65,536.
    let seed = Buffer.from('intervene');
    const chunks: string[] = [];
    for (let i = 0; i < 2000; i++) {
      seed = createHash('sha256').update(seed).digest();
      chunks.push(seed.toString('base64url'));
    }
    const text = chunks.join('');
    const size = (n: number) => deflateRawSync(text.slice(0, n), ZLIB).length;
    let lo = 60_000;
    let hi = text.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (size(mid) < 65_535) lo = mid + 1;
      else hi = mid;
    }
    expect(size(lo)).toBe(65_535);
    let over = lo;
    while (size(over) < 65_536) over++;
    expect(size(over)).toBe(65_536);
    for (const n of [lo, over]) {
      const json = text.slice(0, n);
      expect(decodeRecord(encodeRecord(9, json))).toEqual({ version: 9, json });
    }
  });

  it('a snapshot larger than the kept streams’ buffer round-trips (the one-shot path)', () => {
    const json = JSON.stringify({
      notes: Array.from({ length: 4000 }, (_, i) => `${i}:${randomBytes(24).toString('hex')}`),
    });
    expect(json.length).toBeGreaterThan(200_000);
    expect(decodeRecord(encodeRecord(3, json))).toEqual({ version: 3, json });
  });

  it('a corrupt or cut-off body throws zlib’s error, and the next record reads as before', () => {
    const good = encodeRecord(5, '{"state":"received","note":"张三"}');
    const cut = good.subarray(0, good.length - 4);
    expect(decodeRecord(good).version).toBe(5); // a record read just before: its output must not be reused
    expect(() => decodeRecord(cut)).toThrow(/unexpected end of file/);
    const corrupt = Buffer.concat([Buffer.from('5\nZ'), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x01])]);
    expect(() => decodeRecord(corrupt)).toThrow();
    expect(decodeRecord(good)).toEqual({ version: 5, json: '{"state":"received","note":"张三"}' });
    expect(decodeRecord(encodeRecord(6, '{}'))).toEqual({ version: 6, json: '{}' });
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
