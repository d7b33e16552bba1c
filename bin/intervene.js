#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx intervene` works without a build step.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The flags of src/node-flags.ts (a test keeps the two equal).
const flags = ['--max-semi-space-size=64'];
const child = spawn(
  process.execPath,
  [...flags, '--import', 'tsx', join(root, 'src/cli/main.ts'), ...process.argv.slice(2)],
  {
    stdio: 'inherit',
  },
);
// `intervene serve` and `worker` stop gracefully on SIGTERM: pass it on (docker stop, systemd, kill). A
// terminal's Ctrl-C already reaches the child with this process's group, so SIGINT is not sent twice.
for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
process.on('SIGINT', () => {});
child.on('exit', (code, signal) => process.exit(code ?? 128 + (signal ? constants.signals[signal] : 1)));
