import { createHash } from 'node:crypto';
import { Command, type Redis } from 'ioredis';

// The commit script is sent with one argument in binary (the compressed case record) among ~40 strings.
// ioredis builds such a command argument by argument (three byte-length passes and a write per argument,
// then, auto-pipelined, one more copy to join it with the strings of the other commands): ~16-19 µs for a
// commit, against ~4 µs to build the same bytes in one pass. This module builds them in one pass and
// hands ioredis a command that is written as is.

/**
 * A run of string arguments is joined into one string (written with one call) up to this many UTF-16 units,
 * well below V8's longest string (~2^29): arguments of hundreds of MB then still build, as with ioredis.
 */
const TEXT_RUN = 1 << 26;

/** The RESP bytes of a command: runs of string arguments are written with one call each. */
export function encodeCommand(name: string, args: readonly (string | Buffer)[]): Buffer {
  const parts: (string | Buffer)[] = [];
  let text = `*${args.length + 1}\r\n$${Buffer.byteLength(name)}\r\n${name}\r\n`;
  let textBytes = Buffer.byteLength(text);
  let size = 0;
  for (const arg of args) {
    if (typeof arg === 'string') {
      const length = Buffer.byteLength(arg);
      const head = `$${length}\r\n`;
      if (text.length + arg.length > TEXT_RUN) {
        parts.push(text);
        size += textBytes;
        text = '';
        textBytes = 0;
        if (arg.length > TEXT_RUN) {
          parts.push(head, arg, '\r\n');
          size += head.length + length + 2;
          continue;
        }
      }
      text += `${head}${arg}\r\n`;
      textBytes += head.length + length + 2;
    } else {
      const head = `$${arg.length}\r\n`;
      parts.push(text + head, arg);
      size += textBytes + head.length + arg.length;
      text = '\r\n';
      textBytes = 2;
    }
  }
  parts.push(text);
  size += textBytes;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const part of parts) {
    if (typeof part === 'string') at += out.write(part, at);
    else at += part.copy(out, at);
  }
  return out;
}

/** ioredis's own way of building a command's bytes (kept for commands with no binary argument, and for tests). */
export const ioredisToWritable = Command.prototype.toWritable;

/** Whether every argument is a string or a Buffer: the only arguments `encodeCommand` knows. */
function plainArguments(args: readonly unknown[]): args is (string | Buffer)[] {
  for (const arg of args) if (typeof arg !== 'string' && !Buffer.isBuffer(arg)) return false;
  return true;
}

/**
 * Every command ioredis sends with a binary argument is built by `encodeCommand` from then on, in this
 * process. BullMQ's scripts carry msgpack arguments, so each job added, fetched or completed is such a
 * command: built argument by argument, one took ~6 µs and allocated several copies; in one pass ~2 µs.
 * Commands of strings only keep ioredis's own building (one string), and so does any command whose
 * arguments are not all strings and Buffers (ioredis converts the others before it builds; a later ioredis
 * that stopped doing so would still be served by its own code). The bytes are the same either way
 * (test/store/wire.test.ts compares them with the installed ioredis's own building, so an upgrade that
 * changes it fails there). Which commands take this path follows ioredis's `bufferMode` flag, set by its
 * constructor. Idempotent; a `toWritable` that something else has replaced first is left alone (commands
 * are then built the slower way, not wrongly).
 */
export function useOnePassEncoding(): void {
  if (Command.prototype.toWritable !== ioredisToWritable) return;
  Command.prototype.toWritable = function toWritable(this: Command, socket) {
    const command = this as unknown as { bufferMode?: boolean; name: string; args: unknown[] };
    return command.bufferMode && plainArguments(command.args)
      ? encodeCommand(command.name, command.args)
      : ioredisToWritable.call(this, socket);
  };
}

/** A command whose bytes are already built: ioredis writes them (again, if it re-sends after a reconnect). */
class EncodedCommand extends Command {
  readonly #wire: Buffer;

  constructor(name: string, args: (string | Buffer)[]) {
    super(name, args, { replyEncoding: 'utf8' });
    this.#wire = encodeCommand(name, args);
  }

  override toWritable(): Buffer {
    return this.#wire;
  }
}

/**
 * The commands sent to one client in one turn of the event loop, written to its socket together (one
 * system call), as ioredis's auto-pipelining does for the commands it builds.
 */
const batches = new WeakMap<Redis, EncodedCommand[]>();

function send(redis: Redis, command: EncodedCommand): Promise<unknown> {
  let batch = batches.get(redis);
  if (!batch) {
    batch = [];
    batches.set(redis, batch);
    process.nextTick(flush, redis, batch);
  }
  batch.push(command);
  return command.promise;
}

function flush(redis: Redis, batch: readonly EncodedCommand[]): void {
  batches.delete(redis);
  // Not connected: ioredis queues the commands and writes them once it is.
  const stream = redis.status === 'ready' ? redis.stream : undefined;
  stream?.cork();
  try {
    for (const command of batch) {
      try {
        void redis.sendCommand(command);
      } catch (error) {
        // One command's failure is its own: the others of the turn are still sent.
        command.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
  } finally {
    stream?.uncork();
  }
}

/**
 * A Lua script run by EVALSHA, its command built by encodeCommand. A server that does not know the script
 * (a new or restarted Redis: NOSCRIPT, nothing was run) gets it once by EVAL, which also caches it there.
 */
export class WireScript {
  readonly #lua: string;
  readonly sha: string;

  constructor(lua: string) {
    this.#lua = lua;
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | Buffer)[]): Promise<unknown> {
    const rest = [String(keys.length), ...keys, ...args];
    try {
      return await send(redis, new EncodedCommand('evalsha', [this.sha, ...rest]));
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return send(redis, new EncodedCommand('eval', [this.#lua, ...rest]));
    }
  }
}
