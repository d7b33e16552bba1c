import { readFileSync } from 'node:fs';
import { constants, DeflateRaw, deflateRawSync, InflateRaw, inflateRawSync } from 'node:zlib';

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
// An 8 KiB window holds the dictionary and any snapshot's back-references; with a small hash table, a
// stream holds ~50 KiB of zlib state instead of ~300 KiB.
const ZLIB = { dictionary: DICTIONARY_V1, windowBits: 13, memLevel: 4, chunkSize: 4096 } as const;

/** The native zlib handle under a Node zlib stream: what `deflateRawSync` drives, minus the stream. */
interface ZlibHandle {
  writeSync(
    flush: number,
    input: Buffer,
    inOff: number,
    inLen: number,
    out: Buffer,
    outOff: number,
    outLen: number,
  ): void;
  reset(): void;
  onerror: (...args: unknown[]) => void;
}

/**
 * One zlib stream per direction, kept for the life of the process and reset between records. Each
 * `deflateRawSync` / `inflateRawSync` call builds a stream object and ~50 KiB of native zlib state and
 * frees them again, per commit and per load (a 1,650-byte snapshot, in isolation: encode 20.2 µs
 * one-shot, 14.0 µs on a kept stream; decode 7.9 and 3.4 µs). The kept stream is driven through the handle
 * `zlibBufferSync` itself uses, which Node does not document; so anything unexpected (a Node without
 * it, a zlib error, output larger than the scratch buffer, input left over) is done again by the
 * documented function, which then returns the same bytes' meaning or throws zlib's own error.
 */
class KeptStream {
  readonly #make: () => object;
  readonly #once: (input: Buffer) => Buffer;
  #handle: ZlibHandle | undefined;
  #state: Uint32Array | undefined;
  #failed = false;
  /** How many records went through the kept stream, and how many through the one-shot function. */
  readonly counts = { kept: 0, oneShot: 0 };

  constructor(make: () => object, once: (input: Buffer) => Buffer) {
    this.#make = make;
    this.#once = once;
    this.#open();
  }

  /** Whether the kept stream is in use (false: this Node's zlib has not the expected internals). */
  get kept(): boolean {
    return this.#handle !== undefined;
  }

  #open(): void {
    const stream = this.#make() as { _handle?: Partial<ZlibHandle>; _writeState?: unknown };
    const handle = stream._handle;
    if (
      typeof handle?.writeSync !== 'function' ||
      typeof handle.reset !== 'function' ||
      !(stream._writeState instanceof Uint32Array)
    ) {
      this.#handle = undefined;
      return;
    }
    // Errors are reported here (synchronously, from writeSync) instead of destroying the stream.
    handle.onerror = () => {
      this.#failed = true;
    };
    this.#handle = handle as ZlibHandle;
    this.#state = stream._writeState;
  }

  /**
   * Runs `input[from..]` through the stream into `out[at..]`; returns the length written, or -1 when
   * the result is not known to be whole (then the caller uses the one-shot function).
   */
  run(input: Buffer, from: number, out: Buffer, at: number): number {
    const handle = this.#handle;
    const state = this.#state;
    if (!handle || !state) return -1;
    const room = out.length - at;
    this.#failed = false;
    handle.writeSync(constants.Z_FINISH, input, from, input.length - from, out, at, room);
    // _writeState: [output bytes left, input bytes left]. A full output may be a cut-off one.
    const outLeft = state[0] as number;
    const whole = !this.#failed && outLeft > 0 && state[1] === 0;
    // On an error Node leaves _writeState as it was: only #failed tells. A stream after an error, or
    // whose reset failed, is not reused.
    if (!this.#failed) handle.reset();
    if (this.#failed) this.#open();
    const written = whole ? room - outLeft : -1;
    if (written >= 0) this.counts.kept++;
    return written;
  }

  once(input: Buffer): Buffer {
    this.counts.oneShot++;
    return this.#once(input);
  }
}

const deflater = new KeptStream(
  () => new DeflateRaw(ZLIB),
  (input) => deflateRawSync(input, ZLIB),
);
const inflater = new KeptStream(
  () => new InflateRaw(ZLIB),
  (input) => inflateRawSync(input, ZLIB),
);
/** Output space for one record: a snapshot that does not fit goes through the one-shot functions. */
const scratch = Buffer.allocUnsafeSlow(64 * 1024);

/** For tests: whether this Node has the kept streams, and how many records went which way. */
export const keptStreams = () => ({
  available: deflater.kept && inflater.kept,
  deflate: { ...deflater.counts },
  inflate: { ...inflater.counts },
});

/** The stored form of a snapshot: what follows `<version>\n` in the case record. */
export function encodeSnapshot(json: string): Buffer {
  const input = Buffer.from(json, 'utf8');
  const n = deflater.run(input, 0, scratch, 1);
  const packed = n >= 0 ? scratch.subarray(1, 1 + n) : deflater.once(input);
  // Unpooled: the case store keeps the last body it wrote per case, and a slice of Node's shared 8 KiB
  // pool would keep the whole block alive.
  const out = Buffer.allocUnsafeSlow(packed.length + 1);
  packed.copy(out, 1);
  out[0] = V1;
  return out;
}

/** A stored snapshot body (`Z` + DEFLATE bytes) → its JSON. */
function inflateBody(body: Buffer): string {
  const n = inflater.run(body, 1, scratch, 0);
  if (n >= 0) return scratch.toString('utf8', 0, n);
  return inflater.once(body.subarray(1)).toString('utf8');
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
  if (body[0] === V1) return { version, json: inflateBody(body) };
  return { version, json: body.toString('utf8') };
}
