import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import fc from 'fast-check';
import { Command, Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { queueClient } from '../../src/store/redis.ts';
import { encodeCommand, ioredisToWritable, useOnePassEncoding, WireScript } from '../../src/store/wire.ts';
import { redisUrl } from '../support/runtime.ts';

// The commit script's command is built in one pass (src/store/wire.ts): the bytes must be exactly those
// ioredis would have written, and the script must run on a Redis that has never seen it.

// Strings with lone surrogates too (UTF-8 writes them as U+FFFD, three bytes): fast-check's string units
// do not produce them.
const surrogate = fc.constantFrom('\ud83d', '\udc00', '\ud800\ud800', 'a\udfff', '\ud83d\ude00');
const argument = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.array(fc.oneof(surrogate, fc.string({ maxLength: 5 })), { maxLength: 6 }).map((bits) => bits.join('')),
  fc.uint8Array({ maxLength: 700 }).map((bytes) => Buffer.from(bytes)),
);
const bytes = (x: string | Buffer) => (Buffer.isBuffer(x) ? x : Buffer.from(x));

describe('commands built in one pass', () => {
  it('are byte for byte what ioredis writes for the same arguments (strings in any script, binary, empty)', () => {
    fc.assert(
      fc.property(fc.constantFrom('evalsha', 'eval', 'set'), fc.array(argument, { maxLength: 45 }), (name, args) => {
        // ioredis's own building, whether or not useOnePassEncoding has been installed in this process.
        const theirs = ioredisToWritable.call(new Command(name, [...args]), {});
        expect(encodeCommand(name, args).equals(bytes(theirs))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  describe('a script run through them, on real Redis', () => {
    const redis = new Redis(redisUrl(), { enableAutoPipelining: true });
    afterAll(() => redis.disconnect());

    it('runs on a server that does not know it yet (NOSCRIPT: sent once by EVAL), then by EVALSHA', async () => {
      // A script no test has loaded: its first EVALSHA is refused with NOSCRIPT.
      const script = new WireScript(
        `-- ${randomUUID()}\nreturn {KEYS[1], ARGV[1], tostring(string.len(ARGV[2])), string.sub(ARGV[2], 1, 3), ARGV[3]}`,
      );
      expect(await redis.script('EXISTS', script.sha)).toEqual([0]);
      const binary = Buffer.from([0, 255, 10, 13, 128, 7]);
      const key = `wire-test:${randomUUID()}`;
      const expected = [key, '版本 7', '6', binary.subarray(0, 3).toString('utf8'), ''];
      expect(await script.run(redis, [key], ['版本 7', binary, ''])).toEqual(expected);
      expect(await redis.script('EXISTS', script.sha)).toEqual([1]);
      expect(await script.run(redis, [key], ['版本 7', binary, ''])).toEqual(expected);
    });

    it('writes the commands of one turn of the event loop together, each answered with its own reply', async () => {
      const script = new WireScript(`return ARGV[1] .. ':' .. string.len(ARGV[2])`);
      await script.run(redis, ['k'], ['warm', '']);
      const cork = vi.spyOn(redis.stream, 'cork');
      const uncork = vi.spyOn(redis.stream, 'uncork');
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) => script.run(redis, ['k'], [String(i), Buffer.alloc(i)])),
      );
      expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => `${i}:${i}`));
      expect(cork).toHaveBeenCalledTimes(1);
      expect(uncork).toHaveBeenCalledTimes(1);
    });

    it('a command the client throws on is rejected alone: the others of its turn are still sent', async () => {
      const script = new WireScript(`return ARGV[1]`);
      vi.spyOn(redis, 'sendCommand').mockImplementationOnce(() => {
        throw new Error('refused by the client');
      });
      const [first, second] = await Promise.allSettled([
        script.run(redis, ['k'], ['first']),
        script.run(redis, ['k'], ['second']),
      ]);
      expect(first).toMatchObject({ status: 'rejected', reason: { message: 'refused by the client' } });
      expect(second).toEqual({ status: 'fulfilled', value: 'second' });
    });

    it('waits for a client that is not connected yet', async () => {
      const later = new Redis(redisUrl(), { lazyConnect: true });
      try {
        const script = new WireScript(`return ARGV[1]`);
        expect(await Promise.all([script.run(later, ['k'], ['a']), script.run(later, ['k'], ['b'])])).toEqual([
          'a',
          'b',
        ]);
      } finally {
        later.disconnect();
      }
    });

    it("rejects with the script's own error, and runs nothing twice", async () => {
      const key = `wire-test:${randomUUID()}`;
      const script = new WireScript(`redis.call('INCR', KEYS[1])\nreturn redis.error_reply('REFUSED ' .. ARGV[1])`);
      await expect(script.run(redis, [key], ['because'])).rejects.toThrow('REFUSED because');
      expect(await redis.get(key)).toBe('1');
      await redis.del(key);
    });
  });

  describe('every binary command of the process (useOnePassEncoding, installed by the client factories)', () => {
    it('is installed by the factories, and builds the bytes ioredis would, binary or not', () => {
      queueClient(redisUrl()).disconnect();
      expect(Command.prototype.toWritable).not.toBe(ioredisToWritable);
      useOnePassEncoding();
      fc.assert(
        fc.property(fc.constantFrom('evalsha', 'hset', 'set'), fc.array(argument, { maxLength: 45 }), (name, args) => {
          const command = new Command(name, [...args]);
          const ours = command.toWritable({});
          const theirs = ioredisToWritable.call(command, {});
          expect(bytes(ours).equals(bytes(theirs))).toBe(true);
          // Strings only: still ioredis's own string.
          if (args.every((a) => typeof a === 'string')) expect(typeof ours).toBe('string');
        }),
        { numRuns: 500 },
      );
    });

    it('builds the same bytes for prefixed keys, numbers and nested arrays (ioredis converts them first)', () => {
      useOnePassEncoding();
      const binary = Buffer.from([0, 255, 13, 10]);
      const cases = [
        new Command('hset', ['k', 'f', binary, 7, null, ['a', 2]] as never[], { keyPrefix: 'pre:' }),
        new Command('set', [Buffer.from('key'), binary], { keyPrefix: 'pre:' }),
        new Command('evalsha', ['sha', 1, 'k', binary, 1.5, BigInt(12)] as never[]),
      ];
      for (const command of cases) {
        expect(bytes(command.toWritable({})).equals(bytes(ioredisToWritable.call(command, {})))).toBe(true);
      }
    });

    it('writes a run of string arguments longer than it joins into one string in pieces: the same bytes', () => {
      // 2^26 units at most are joined: two of 40 M make a run too long, one of 70 M is written alone.
      const long = 'x'.repeat(40_000_000);
      const args = [Buffer.from([1]), long, long, 'y', 'z'.repeat(70_000_000), 'w'];
      const built = encodeCommand('evalsha', args);
      expect(built.equals(bytes(ioredisToWritable.call(new Command('evalsha', args), {})))).toBe(true);
    });

    it("leaves a command with arguments it does not know (not strings or Buffers) to ioredis's own building", () => {
      useOnePassEncoding();
      const command = new Command('set', ['k', Buffer.from([1])]);
      (command as unknown as { args: unknown[] }).args[1] = new Uint8Array([1, 2]);
      expect(bytes(command.toWritable({})).equals(bytes(ioredisToWritable.call(command, {})))).toBe(true);
    });

    it('a script command keeps its EVAL-then-EVALSHA rewriting (binary arguments, a real server)', async () => {
      useOnePassEncoding();
      const redis = new Redis(redisUrl());
      try {
        redis.defineCommand('wireEcho', { numberOfKeys: 1, lua: `-- ${randomUUID()}\nreturn ARGV[1]` });
        const echo = (arg: Buffer) =>
          (redis as unknown as Record<string, (...a: unknown[]) => Promise<Buffer>>).wireEchoBuffer?.('k', arg);
        const binary = Buffer.from([0, 255, 10, 13, 128]);
        expect(await echo(binary)).toEqual(binary);
        expect(await echo(binary)).toEqual(binary);
      } finally {
        redis.disconnect();
      }
    });

    it("carries BullMQ's scripts (msgpack arguments): a job added and read back is intact", async () => {
      const connection = queueClient(redisUrl());
      const queue = new Queue(`wire-${randomUUID()}`, { connection, prefix: 'wire-test' });
      try {
        const data = { partition: 3, id: 'd-版本-1', bytes: [0, 255, 13, 10] };
        const job = await queue.add('handoff', data, { jobId: 'd-1', attempts: 20, delay: 5_000 });
        const read = await queue.getJob(job.id as string);
        expect(read?.data).toEqual(data);
        expect(read?.opts).toMatchObject({ attempts: 20, delay: 5_000 });
        expect(await queue.getJobState('d-1')).toBe('delayed');
      } finally {
        await queue.obliterate({ force: true });
        await queue.close();
        connection.disconnect();
      }
    });
  });
});
