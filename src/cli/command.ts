import { type Config, loadConfig } from '../config.ts';
import { createLogger } from '../log.ts';
import { createRuntime, type Runtime } from '../runtime.ts';

// What every operations command shares: its shape, usage errors, exit codes, and the configuration
// and runtime a reading command works on.

/** Exit codes of these commands (the same meanings as the rest of the CLI). */
export const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 4 } as const;

/** Bad usage: a flag or argument breaks a rule. Exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface Io {
  /** Standard output: the result. */
  readonly out: (line: string) => void;
  /** Standard error: progress, warnings and errors. */
  readonly err: (line: string) => void;
}

export type Options = Record<string, { type: 'string' | 'boolean'; short?: string }>;
export type Values = Record<string, string | boolean | undefined>;

export interface Command {
  readonly usage: string;
  readonly help: string;
  readonly options: Options;
  /** Positional arguments after the command's words: how many at least and at most. */
  readonly positionals?: readonly [number, number];
  run(values: Values, positionals: string[], io: Io): Promise<number>;
}

/** The configuration, from the environment over `--config FILE` (or INTERVENE_CONFIG). */
export function configOf(values: Values): Config {
  const file = values.config as string | undefined;
  return loadConfig(process.env, file ? { file } : {});
}

/** A runtime for a reading command (no workers), closed after `work`. */
export async function withRuntime<T>(values: Values, work: (rt: Runtime) => Promise<T>): Promise<T> {
  const config = configOf(values);
  const runtime = await createRuntime(config, createLogger(values.json ? 'silent' : 'warn', process.stderr));
  try {
    return await work(runtime);
  } finally {
    await runtime.close();
  }
}

/** Parses an integer flag within bounds, naming the flag and the rule when it is not one. */
export function intFlag(values: Values, name: string, fallback: number, min: number, max: number): number {
  const text = values[name];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (typeof text !== 'string' || !/^\d+$/.test(text) || n < min || n > max) {
    throw new UsageError(`--${name}: must be an integer from ${min} to ${max}, not "${String(text)}"`);
  }
  return n;
}

/** Prints JSON with --json, else the text. */
export function print(io: Io, values: Values, value: unknown, text: () => string): void {
  io.out(values.json ? JSON.stringify(value, null, 2) : text());
}
