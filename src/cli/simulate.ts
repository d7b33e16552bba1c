import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { DomainError } from '../domain/errors.ts';
import { loadPolicyFiles, type Policy, PolicyError } from '../policy/policy.ts';
import { parseScriptYaml } from '../simulate/script.ts';
import { simulate } from '../simulate/simulate.ts';
import { formatTimeline } from '../simulate/timeline.ts';

export const SIMULATE_USAGE = `  intervene simulate --policy FILE --script CASE.yaml [--json]
                                               what-if: a scripted case on a simulated clock (docs/simulator.md)`;

export const SIMULATE_HELP = `intervene simulate — run a scripted case against a policy on a simulated clock

Usage:
  intervene simulate --policy FILE --script CASE.yaml [--json]

Options:
  --policy FILE     the contract policy (YAML), as INTERVENE_POLICIES would load it
  --script FILE     the what-if script: the case, outage windows, events at relative or absolute times, until
  --json            print the timeline as JSON instead of one aligned line per entry
  -h, --help        this text

Runs the very case machine the engine runs; needs no Redis and reads no configuration.
Exit codes: 0 done; 1 unexpected failure; 2 bad usage, an invalid policy or an invalid script (each bad field named).
See docs/simulator.md for the script format.`;

export interface SimulateIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** `intervene simulate`: prints the timeline; answers 2 with every bad field named on bad input. */
export async function simulateCommand(argv: readonly string[], io: SimulateIo): Promise<number> {
  const bad = (message: string) => {
    io.err(`intervene simulate: ${message}`);
    return 2;
  };
  let values: { policy?: string | undefined; script?: string | undefined; json: boolean; help: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: {
        policy: { type: 'string' },
        script: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    return bad(`${(error as Error).message}\n${SIMULATE_HELP}`);
  }
  if (values.help) {
    io.out(SIMULATE_HELP);
    return 0;
  }
  if (!values.policy) return bad('--policy FILE is required: the contract policy to run the script against');
  if (!values.script) return bad('--script FILE is required: the what-if script (docs/simulator.md)');
  try {
    const policies = await loadPolicyFiles(values.policy);
    if (policies.length !== 1) {
      return bad(`--policy: ${values.policy} holds ${policies.length} policies; name one file`);
    }
    const policy = policies[0] as Policy;
    const text = await readFile(values.script, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new DomainError(
        'VALIDATION_FAILED',
        `--script: cannot read ${values.script}: ${error.code ?? error.message}`,
      );
    });
    const timeline = simulate(policy, parseScriptYaml(text, policy, values.script));
    io.out(values.json ? JSON.stringify(timeline, null, 2) : formatTimeline(timeline));
    return 0;
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    // A bad policy or script: what is wrong, then each field with its rule.
    const head = error instanceof PolicyError ? `${error.source}: invalid policy` : error.message;
    return bad(`${head}${error.errors.map((e) => `\n  ${e.path}: ${e.message}`).join('')}`);
  }
}
