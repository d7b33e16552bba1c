import { parseArgs } from 'node:util';
import { createCaseMachine } from '../../machines/case.machine.ts';
import { loadConfig } from '../config.ts';
import { machineGraph, toMermaid, toSvg } from '../ops/diagram.ts';
import { loadPolicyFiles } from '../policy/policy.ts';
import { PolicyRegistry } from '../policy/registry.ts';

export const MACHINE_HELP = `intervene machine diagram — the case state machine, drawn from its definition

Usage:
  intervene machine diagram [--format mermaid|svg] [--contract ID] [--highlight STATE] [--json]

Options:
  --format mermaid|svg  Mermaid stateDiagram-v2 source (default) or a standalone SVG
  --contract ID         the contract whose current policy builds the machine; required when
                        INTERVENE_POLICIES holds more than one contract
  --highlight STATE     mark this state (as the ops case page marks a case's state)
  --json                print the graph itself: states, edges (event, guard), events
  --config FILE         a YAML configuration file (as every command; the environment wins over it)
  -h, --help            this text

Reads INTERVENE_POLICIES (or the configuration file's); needs no Redis. Exit codes: 0 done; 2 bad usage or unknown contract/state.`;

export interface MachineIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** `intervene machine diagram`: prints the diagram; answers 2 with the reason on bad usage. */
export async function machineCommand(
  argv: readonly string[],
  io: MachineIo,
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.err(`intervene: ${(error as Error).message}\n${MACHINE_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(MACHINE_HELP);
    return 0;
  }
  const usage = (message: string) => {
    io.err(`intervene: ${message}`);
    return 2;
  };
  if (positionals[0] !== 'diagram' || positionals.length > 1) {
    return usage(`unknown command: machine ${positionals.join(' ')}\n${MACHINE_HELP}`);
  }
  const format = values.format;
  if (format !== 'mermaid' && format !== 'svg') return usage(`--format must be mermaid or svg, not "${format}"`);

  const config = loadConfig(env, values.config ? { file: values.config } : {});
  const registry = new PolicyRegistry(await loadPolicyFiles(config.INTERVENE_POLICIES));
  const contracts = [...new Set(registry.all().map((p) => p.contract.id))].sort();
  const contract = values.contract ?? (contracts.length === 1 ? contracts[0] : undefined);
  if (contract === undefined) {
    return usage(`--contract ID is required: the policies hold ${contracts.join(', ') || 'no contract'}`);
  }
  if (!contracts.includes(contract)) {
    return usage(`--contract: no policy is loaded for ${contract} (loaded: ${contracts.join(', ') || 'none'})`);
  }
  const graph = machineGraph(createCaseMachine(registry.current(contract)));
  const highlight = values.highlight;
  if (highlight !== undefined && !graph.states.some((s) => s.id === highlight)) {
    return usage(
      `--highlight: "${highlight}" is not a state of the machine (states: ${graph.states.map((s) => s.id).join(', ')})`,
    );
  }
  if (values.json) {
    io.out(JSON.stringify(graph, null, 2));
    return 0;
  }
  const opts = highlight === undefined ? {} : { highlight };
  io.out((format === 'svg' ? toSvg(graph, opts) : toMermaid(graph, opts)).trimEnd());
  return 0;
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      format: { type: 'string', default: 'mermaid' },
      contract: { type: 'string' },
      highlight: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
