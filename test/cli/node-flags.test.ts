import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { missingNodeFlags, NODE_FLAGS } from '../../src/node-flags.ts';

// The Node flags of src/node-flags.ts are written out where a module cannot be imported: the npm
// scripts, the `intervene` wrapper, the Dockerfile and the documented commands. They must all say the same.

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const flags = NODE_FLAGS.join(' ');

describe('the service is started with NODE_FLAGS everywhere', () => {
  it('npm start, npm run bench and npm run intervene', () => {
    const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(scripts.start).toBe(`node ${flags} --import tsx src/main.ts`);
    expect(scripts.bench).toBe(`node ${flags} --import tsx bench/run.ts`);
    expect(scripts.intervene).toBe('node bin/intervene.js');
  });

  it('the intervene wrapper (bin/intervene.js)', () => {
    expect(read('bin/intervene.js')).toContain(`const flags = ${JSON.stringify(NODE_FLAGS).replaceAll('"', "'")};`);
  });

  it("the Dockerfile's command", () => {
    const cmd = read('Dockerfile')
      .split('\n')
      .find((line) => line.startsWith('CMD '));
    expect(JSON.parse((cmd as string).slice(4))).toEqual(['node', ...NODE_FLAGS, '--import', 'tsx', 'src/main.ts']);
  });

  it('every `node ... --import tsx` command in the README and docs', () => {
    const docs = ['README.md', ...readdirSync(new URL('../../docs', import.meta.url)).map((f) => `docs/${f}`)];
    const commands = docs.flatMap((path) =>
      [...read(path).matchAll(/`node ((?:--\S+ )*)--import tsx ([^`]+)`/g)].map((m) => ({ path, m })),
    );
    expect(commands.length).toBeGreaterThan(0);
    for (const { path, m } of commands) expect(m[1]?.trim(), `${path}: ${m[0]}`).toBe(flags);
  });
});

describe('missingNodeFlags', () => {
  it('finds a flag on the command line or in NODE_OPTIONS, whatever its value', () => {
    expect(missingNodeFlags([...NODE_FLAGS], '')).toEqual([]);
    expect(missingNodeFlags([], `--enable-source-maps ${flags}`)).toEqual([]);
    expect(missingNodeFlags(['--max-semi-space-size=32'], '')).toEqual([]);
  });

  it('names the flags that are missing', () => {
    expect(missingNodeFlags(['--import', 'tsx'], '')).toEqual([...NODE_FLAGS]);
    expect(missingNodeFlags([], '--max-old-space-size=4096')).toEqual([...NODE_FLAGS]);
  });
});
