import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Actor } from '../../machines/types.ts';
import { createKey } from '../api/keys.ts';
import { loadConfig } from '../config.ts';
import { DomainError } from '../domain/errors.ts';
import { parseEvent, parseOpenCase } from '../domain/events.ts';
import { ROLES, type Role } from '../domain/vocabulary.ts';
import { createLogger } from '../log.ts';
import { listDead, redrive } from '../notify/dead-letters.ts';
import { createRuntime, type Runtime } from '../runtime.ts';
import { CLOCK_USAGE, runClockCommand } from './clocks.ts';
import { machineCommand } from './machine.ts';
import { OPS_USAGE, runOpsCommand } from './ops.ts';
import { cliHistory, cliView, PRIVACY_USAGE, runPrivacyCommand } from './privacy.ts';
import { REPORT_USAGE, reportCommand } from './report.ts';
import { SIMULATE_USAGE, simulateCommand } from './simulate.ts';

const HELP = `intervene — drive intervention cases by hand

Usage:
  intervene case open (--file CASE.json | --json-body '{...}') [--key IDEMPOTENCY_KEY]
  intervene case send ID (--file EVENT.json | --json-body '{"type":"RESPOND"}') [--key KEY] [--if-match VERSION]
  intervene case show ID
  intervene case history ID
  intervene keys create --role ROLE --name NAME [--department ID]
  intervene deliveries list --dead
  intervene deliveries redrive (ID | --all)
${OPS_USAGE}
${CLOCK_USAGE}
  intervene machine diagram [--format mermaid|svg] [--contract ID] [--highlight STATE]   (--help for more)
${SIMULATE_USAGE}
${REPORT_USAGE}
${PRIVACY_USAGE}

Options:
  --as ROLE            act as this role (${ROLES.join(', ')}); default service
  --department ID      the department, with --as department
  --name NAME          who is acting (recorded in the audit trail); default cli
  --json               print JSON (machine-readable)
  --config FILE        a YAML configuration file (docs/ops.md); the environment wins over it
  -h, --help           this text

Bodies use the names of the public vocabulary (README, "Events").
Exit codes: 0 done; 1 unexpected failure; 2 bad usage or invalid input; 3 refused by the agreement's
rules (the clause is printed); 4 not found; 5 conflict (version or idempotency key); 6 forbidden.
Environment: REDIS_URL, INTERVENE_POLICIES and the rest of the README's configuration.`;

const EXIT: Record<string, number> = {
  VALIDATION_FAILED: 2,
  NOT_FOUND: 4,
  VERSION_CONFLICT: 5,
  PRECONDITION_FAILED: 5,
  IDEMPOTENCY_CONFLICT: 5,
  CASE_EXISTS: 5,
  FORBIDDEN: 6,
};

class UsageError extends Error {}

/** Appends a hashed key to INTERVENE_KEYS (or the development keys file) and prints the key once. */
function createKeyCommand(
  values: { as: string; name: string; department?: string; role?: string; json: boolean; config?: string },
  out: (s: string) => void,
): number {
  const role = values.role ?? values.as;
  if (!(ROLES as readonly string[]).includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
  if (values.name === 'cli') throw new UsageError('--name NAME is required: it identifies the key in the audit trail');
  const config = loadConfig(process.env, values.config ? { file: values.config } : {});
  const file = config.INTERVENE_KEYS ?? join(config.INTERVENE_VAR_DIR, 'keys.yaml');
  const key = createKey(file, {
    name: values.name,
    role: role as Role,
    ...(values.department ? { department: values.department } : {}),
  });
  out(
    values.json
      ? JSON.stringify({ name: values.name, role, file, key })
      : `${key}\n(appended to ${file}; this key is shown once and not stored)`,
  );
  return 0;
}

function body(values: { file?: string | undefined; 'json-body'?: string | undefined }): unknown {
  const text = values.file ? readFileSync(values.file, 'utf8') : values['json-body'];
  if (text === undefined) throw new UsageError('give the body with --file FILE or --json-body JSON');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the body is not valid JSON: ${(error as Error).message}`);
  }
}

export async function run(argv: string[], out: (s: string) => void): Promise<number> {
  // Its own flags (--format, --contract, --highlight): parsed by src/cli/machine.ts.
  if (argv[0] === 'machine') return machineCommand(argv.slice(1), { out, err: (s) => process.stderr.write(`${s}\n`) });
  // What-if runs of a scripted case (docs/simulator.md): its own flags, no Redis, no configuration.
  if (argv[0] === 'simulate')
    return simulateCommand(argv.slice(1), { out, err: (s) => process.stderr.write(`${s}\n`) });
  // Service-data reports (docs/reports.md): its own flags.
  if (argv[0] === 'report') return reportCommand(argv.slice(1), { out, err: (s) => process.stderr.write(`${s}\n`) });
  // case why, outage declare|end|list, policy migrate: src/cli/clocks.ts (docs/clocks.md).
  const clocks = await runClockCommand(argv, { out, err: (s) => process.stderr.write(`${s}\n`) });
  if (clocks !== undefined) return clocks;
  // serve, worker, cases list, deadlines list, policy check, config print: src/cli/ops.ts (docs/ops.md).
  const ops = await runOpsCommand(argv, { out, err: (s) => process.stderr.write(`${s}\n`) });
  if (ops !== undefined) return ops;
  // data rotate|status|keys generate|erase|retention, access log|verify: src/cli/privacy.ts (docs/privacy.md).
  const privacy = await runPrivacyCommand(argv, { out, err: (s) => process.stderr.write(`${s}\n`) });
  if (privacy !== undefined) return privacy;
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      file: { type: 'string' },
      'json-body': { type: 'string' },
      key: { type: 'string' },
      'if-match': { type: 'string' },
      as: { type: 'string', default: 'service' },
      department: { type: 'string' },
      name: { type: 'string', default: 'cli' },
      role: { type: 'string' },
      json: { type: 'boolean', default: false },
      dead: { type: 'boolean', default: false },
      all: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      config: { type: 'string' },
    },
  });
  const [group, command, id] = positionals;
  if (group === 'keys' && command === 'create' && !values.help) return createKeyCommand(values, out);
  if (values.help || !['case', 'deliveries'].includes(group ?? '') || !command) {
    out(HELP);
    return values.help ? 0 : 2;
  }
  if (!(ROLES as readonly string[]).includes(values.as))
    throw new UsageError(`--as must be one of ${ROLES.join(', ')}`);
  const actor = {
    name: values.name,
    role: values.as,
    ...(values.department ? { department: values.department } : {}),
  } as Actor;
  const print = (value: unknown, text: () => string) => out(values.json ? JSON.stringify(value, null, 2) : text());

  const config = loadConfig(process.env, values.config ? { file: values.config } : {});
  const runtime = await createRuntime(config, createLogger(values.json ? 'silent' : 'warn', process.stderr));
  try {
    if (group === 'deliveries') return await deliveries(runtime, command, id, values, print);
    return await dispatch(runtime, command, id, values, actor, print);
  } finally {
    await runtime.dispatcher.flush();
    await runtime.close();
  }
}

async function deliveries(
  runtime: Runtime,
  command: string,
  id: string | undefined,
  values: { dead?: boolean; all?: boolean },
  print: (value: unknown, text: () => string) => void,
): Promise<number> {
  const { redis, store, notifyQueue } = runtime;
  const dead = await listDead(redis, store.keys, 10_000);
  if (command === 'list') {
    if (!values.dead) throw new UsageError('deliveries list needs --dead (the only listing so far)');
    print(dead, () =>
      dead.length === 0
        ? 'no dead deliveries'
        : dead.map((d) => `${d.id}  ${d.type ?? '?'}  dead since ${d.deadSince}  ${d.lastError ?? ''}`).join('\n'),
    );
    return 0;
  }
  if (command === 'redrive') {
    const targets = values.all ? dead : dead.filter((d) => d.id === id);
    if (!values.all && !id) throw new UsageError('deliveries redrive needs a delivery ID or --all');
    if (!values.all && targets.length === 0) throw new DomainError('NOT_FOUND', `no dead delivery ${id}`);
    for (const d of targets) await redrive(redis, store.keys, notifyQueue, d.partition, d.id);
    print({ redriven: targets.map((d) => d.id) }, () => `re-driven: ${targets.length}`);
    return 0;
  }
  throw new UsageError(`unknown command: deliveries ${command}`);
}

async function dispatch(
  runtime: Runtime,
  command: string,
  id: string | undefined,
  values: { file?: string; 'json-body'?: string; key?: string; 'if-match'?: string },
  actor: Actor,
  print: (value: unknown, text: () => string) => void,
): Promise<number> {
  const { engine } = runtime;
  const show = async (caseId: string) => {
    const found = await engine.get(caseId);
    if (!found) throw new DomainError('NOT_FOUND', `case ${caseId} does not exist`);
    // 4.2: as the acting role may see it, the read recorded in the access log (6.1).
    const view = await cliView(runtime, actor, found);
    print(view, () =>
      [
        `${view.id}  ${view.state}  v${view.version}  ${view.contractId}@${view.policyVersion}  ${view.category}/${view.channel}`,
        ...view.deadlines.map(
          (d) => `  ${d.name.padEnd(14)} ${d.status.padEnd(9)} ${d.dueAt ?? `${d.remainingMs} ms left`}  (${d.clause})`,
        ),
        ...(view.escalation
          ? [
              `  escalated to ${view.escalation.department} (level ${view.escalation.level}, ${view.escalation.handoff})`,
            ]
          : []),
      ].join('\n'),
    );
  };
  const key = values.key ? { idempotencyKey: values.key } : {};
  switch (command) {
    case 'open': {
      const result = await engine.open(parseOpenCase(body(values)), actor, key);
      await show(result.caseId);
      return 0;
    }
    case 'send': {
      if (!id) throw new UsageError('case send needs a case ID');
      const expected = values['if-match'] === undefined ? {} : { expectedVersion: Number(values['if-match']) };
      await engine.apply(id, parseEvent(body(values)), actor, { ...key, ...expected });
      await show(id);
      return 0;
    }
    case 'show':
      if (!id) throw new UsageError('case show needs a case ID');
      await show(id);
      return 0;
    case 'history': {
      if (!id) throw new UsageError('case history needs a case ID');
      const entries = (await cliHistory(runtime, actor, id)) as {
        v: number;
        at: string;
        event: string;
        from: string | null;
        to: string;
        clause: string;
        actor: { name: string; role: string };
      }[];
      if (entries.length === 0) throw new DomainError('NOT_FOUND', `case ${id} does not exist`);
      print(entries, () =>
        entries
          .map(
            (e) =>
              `v${e.v}  ${e.at}  ${e.event.padEnd(18)} ${e.from ?? '-'} → ${e.to}  clause ${e.clause}  by ${e.actor.name} (${e.actor.role})`,
          )
          .join('\n'),
      );
      return 0;
    }
    default:
      throw new UsageError(`unknown command: case ${command}`);
  }
}

const invokedDirectly = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/src\//, '/src/'));
if (invokedDirectly) {
  run(process.argv.slice(2), (s) => process.stdout.write(`${s}\n`)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof DomainError) {
        const fields = error.errors.map((e) => `\n  ${e.path}: ${e.message}`).join('');
        process.stderr.write(
          `intervene: ${error.message}${error.clause ? ` (clause ${error.clause})` : ''}${fields}\n`,
        );
        process.exit(error.name === 'EventRefused' ? 3 : (EXIT[error.code] ?? 1));
      }
      const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
      process.stderr.write(`intervene: ${(error as Error).message}\n`);
      process.exit(usage ? 2 : 1);
    },
  );
}
