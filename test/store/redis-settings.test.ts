import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REDIS_SETTINGS, startRedisServer } from '../../src/store/redis.ts';

// The shipped Redis settings live in one place (REDIS_SETTINGS); docker-compose.yml must run Redis with
// exactly them, and the private server of `npm start` must come up with them in effect.

describe('the shipped Redis settings', () => {
  it('are what docker-compose.yml runs Redis with', () => {
    const compose = parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as {
      services: { redis: { command: string[] } };
    };
    expect(compose.services.redis.command).toEqual(['redis-server', ...REDIS_SETTINGS]);
  });

  it('are in effect in the private redis-server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'intervene-redis-settings-'));
    const server = await startRedisServer(dir);
    const redis = new Redis(server.url);
    try {
      const config = Object.fromEntries(
        await Promise.all(
          ['appendonly', 'appendfsync', 'save', 'rdbcompression', 'maxmemory-policy', 'hz'].map(async (name) => {
            const [, value] = (await redis.config('GET', name)) as [string, string];
            return [name, value];
          }),
        ),
      );
      expect(config).toEqual({
        appendonly: 'yes',
        appendfsync: 'everysec',
        save: '',
        rdbcompression: 'no',
        'maxmemory-policy': 'noeviction',
        hz: '100',
      });
    } finally {
      redis.disconnect();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
