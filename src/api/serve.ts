import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime.ts';
import { buildApp } from './app.ts';
import { developmentKeys, KeyRing, readKeysFile } from './keys.ts';

/** Starts the HTTP API on the configured port. Without INTERVENE_KEYS, development keys are made under var/. */
export async function serveApi(runtime: Runtime, write: (line: string) => void): Promise<FastifyInstance> {
  const { config } = runtime;
  const file = config.INTERVENE_KEYS ?? join(config.INTERVENE_VAR_DIR, 'keys.yaml');
  if (!config.INTERVENE_KEYS) {
    const departments = [...new Set(runtime.policies.all().flatMap((p) => Object.keys(p.departments)))];
    const made = developmentKeys(file, departments);
    if (made.length > 0) {
      write(`Development API keys written (hashed) to ${file}; shown once:`);
      for (const { key, entry } of made) write(`  ${entry.name.padEnd(28)} ${entry.role.padEnd(11)} ${key}`);
      write('For real keys set INTERVENE_KEYS=<file> and run: npx intervene keys create --role service --name <name>');
    }
  }
  const keys = new KeyRing(readKeysFile(file));
  const app = await buildApp({ runtime, keys });
  await app.listen({ port: config.PORT, host: config.HOST });
  runtime.log.info({ port: config.PORT, host: config.HOST, keys: keys.size }, 'HTTP API listening');
  return app;
}
