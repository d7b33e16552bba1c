import { readFileSync } from 'node:fs';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

// The case record is the largest thing Redis holds per case. It is stored as `<version>\n` and then the
// snapshot JSON compressed with raw DEFLATE and a preset dictionary (typical snapshots, so the field names
// and the usual values cost almost nothing): `<version>\nZ<deflate bytes>`. A 1,100-byte snapshot of an open
// case becomes ~440 bytes, which is what holds a case under 2 KiB with its audit, indexes and timer. The
// commit script reads only the version before the newline; everything else goes through this module.
//
// The dictionary of a format never changes once written (records compressed with it must stay readable):
// a better one is a new marker and a new file. A body beginning with `{` is plain JSON (records written
// before compression, and hand-written test fixtures) and is read as such.

const NEWLINE = 0x0a;
const V1 = 0x5a; // 'Z': raw DEFLATE with dictionaries/case-v1.dict
const DICTIONARY_V1 = readFileSync(new URL('./dictionaries/case-v1.dict', import.meta.url));
// An 8 KiB window holds the dictionary and any snapshot's back-references; with a small hash table and
// output chunk, each call allocates ~50 KiB of zlib state instead of ~300 KiB (which the GC then chases).
const ZLIB = { dictionary: DICTIONARY_V1, windowBits: 13, memLevel: 4, chunkSize: 4096 } as const;

/** The stored form of a snapshot: what follows `<version>\n` in the case record. */
export function encodeSnapshot(json: string): Buffer {
  const packed = deflateRawSync(json, ZLIB);
  // Unpooled: the case store keeps the last body it wrote per case, and a slice of Node's shared 8 KiB
  // pool would keep the whole block alive.
  const out = Buffer.allocUnsafeSlow(packed.length + 1);
  out[0] = V1;
  packed.copy(out, 1);
  return out;
}

/** The whole case record: `<version>\n<encoded snapshot>`. */
export function encodeRecord(version: number, json: string): Buffer {
  return Buffer.concat([Buffer.from(`${version}\n`, 'latin1'), encodeSnapshot(json)]);
}

/** A case record as read (GET as a Buffer) → its version and snapshot JSON. */
export function decodeRecord(raw: Buffer | string): { version: number; json: string } {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  const newline = bytes.indexOf(NEWLINE);
  if (newline < 0) throw new Error('case record: no version line');
  const version = Number(bytes.toString('latin1', 0, newline));
  const body = bytes.subarray(newline + 1);
  if (body[0] === V1) return { version, json: inflateRawSync(body.subarray(1), ZLIB).toString('utf8') };
  return { version, json: body.toString('utf8') };
}
