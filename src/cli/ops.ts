import { parseArgs } from 'node:util';
import { ConfigError } from '../config.ts';
import { DomainError, NotFound, ValidationError } from '../domain/errors.ts';
import { casesList, deadlinesList } from './cases.ts';
import { type Command, EXIT, type Io, type Options, UsageError, type Values } from './command.ts';
import { configPrint } from './config-print.ts';
import { policyCheck } from './policy-check.ts';
import { serve, worker } from './serve.ts';

// The operations commands of `intervene` (docs/ops.md): running the service, reading what is due,
// checking a policy file, printing the configuration. main.ts hands them their arguments; each
// handles its own errors and returns its exit code.

const COMMON: Options = { help: { type: 'boolean', short: 'h' } };

const COMMANDS: Readonly<Record<string, Command>> = {
  serve,
  worker,
  'cases list': casesList,
  'deadlines list': deadlinesList,
  'policy check': policyCheck,
  'config print': configPrint,
};

/** The lines main.ts's help lists for these commands. */
export const OPS_USAGE = Object.values(COMMANDS)
  .map((c) => `  intervene ${c.usage}`)
  .join('\n');

/** Runs an operations command, or answers `undefined` when argv names none (main.ts handles it). */
export async function runOpsCommand(argv: readonly string[], io: Io): Promise<number | undefined> {
  const [first = '', second = ''] = argv;
  const words = first in COMMANDS ? 1 : `${first} ${second}` in COMMANDS ? 2 : 0;
  if (words === 0) return undefined;
  const name = argv.slice(0, words).join(' ');
  const command = COMMANDS[name] as Command;
  try {
    const { values, positionals } = parseArgs({
      args: argv.slice(words) as string[],
      options: { ...COMMON, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      io.out(`Usage: intervene ${command.usage}\n\n${command.help}`);
      return EXIT.ok;
    }
    const [min, max] = command.positionals ?? [0, 0];
    if (positionals.length < min)
      throw new UsageError(`${name} needs ${min === 1 ? 'an argument' : `${min} arguments`}`);
    if (positionals.length > max) throw new UsageError(`unexpected argument: ${positionals[max]}`);
    return await command.run(values as Values, positionals, io);
  } catch (error) {
    return report(error, io, name);
  }
}

/** One line per problem on stderr, each bad field named; the exit code for the kind of error. */
function report(error: unknown, io: Io, name: string): number {
  const parseError = (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  if (error instanceof UsageError || parseError) {
    io.err(`intervene ${name}: ${(error as Error).message} (see intervene ${name} --help)`);
    return EXIT.usage;
  }
  if (error instanceof ConfigError) {
    io.err(`intervene: ${error.message}`);
    return EXIT.usage;
  }
  if (error instanceof DomainError) {
    io.err(`intervene: ${error.message}${error.errors.map((e) => `\n  ${e.path}: ${e.message}`).join('')}`);
    if (error instanceof NotFound) return EXIT.notFound;
    return error instanceof ValidationError ? EXIT.usage : EXIT.failure;
  }
  io.err(`intervene: ${(error as Error).message ?? String(error)}`);
  return EXIT.failure;
}
