import { parseArgs } from 'node:util';
import type { Actor } from '../../machines/types.ts';
import { outageView } from '../api/clock-routes.ts';
import { loadConfig } from '../config.ts';
import { enqueueOutageWork } from '../deadlines/outage-jobs.ts';
import { parseDeclareOutage, parseEndOutage } from '../deadlines/outages.ts';
import { NotFound, ValidationError } from '../domain/errors.ts';
import { ROLES } from '../domain/vocabulary.ts';
import { explainDeadlines } from '../engine/why.ts';
import { createLogger } from '../log.ts';
import { createRuntime, type Runtime } from '../runtime.ts';

// Issue "clocks" on the command line: `case why`, `outage declare|end|list`, `policy migrate`.

export const CLOCK_USAGE = `  intervene case why ID                       each deadline explained: armed, calendar, pauses, warnings, due, outcome
  intervene outage declare --start ISO [--end ISO] --reason force_majeure|system_failure --note TEXT
                           [--contract ID] [--channel CH]     a window the clocks in scope do not count (6.2)
  intervene outage end ID [--end ISO]          close an open window; the cases it held resume from its end
  intervene outage list
  intervene policy migrate --contract ID --to-version N --reason TEXT [--dry-run]
                                               apply another pinned policy version to the contract's open cases`;

const usage = (message: string) => new ValidationError(message, [{ path: '(arguments)', message }]);

interface Io {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}

/** Handles the clock commands; `undefined` when argv is not one of them. */
export async function runClockCommand(argv: string[], io: Io): Promise<number | undefined> {
  const [group, command] = argv;
  const ours =
    (group === 'case' && command === 'why') || group === 'outage' || (group === 'policy' && command === 'migrate');
  if (!ours) return undefined;
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      start: { type: 'string' },
      end: { type: 'string' },
      reason: { type: 'string' },
      note: { type: 'string' },
      contract: { type: 'string' },
      channel: { type: 'string' },
      'to-version': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      as: { type: 'string', default: 'ops' },
      name: { type: 'string', default: 'cli' },
      json: { type: 'boolean', default: false },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.out(`Usage:\n${CLOCK_USAGE}\n\nOptions: --as ROLE (default ops) --name NAME --json --config FILE`);
    return 0;
  }
  if (!(ROLES as readonly string[]).includes(values.as)) throw usage(`--as must be one of ${ROLES.join(', ')}`);
  const actor = { name: values.name, role: values.as } as Actor;
  const print = (value: unknown, text: () => string) => io.out(values.json ? JSON.stringify(value, null, 2) : text());
  const config = loadConfig(process.env, values.config ? { file: values.config } : {});
  const runtime = await createRuntime(config, createLogger(values.json ? 'silent' : 'warn', process.stderr));
  try {
    const id = positionals[2];
    if (group === 'case') return await why(runtime, id, print);
    if (group === 'outage') return await outage(runtime, command, id, values, actor, print);
    return await migrate(runtime, values, actor, print, io);
  } finally {
    await runtime.dispatcher.flush();
    await runtime.close();
  }
}

type Print = (value: unknown, text: () => string) => void;

async function why(runtime: Runtime, id: string | undefined, print: Print): Promise<number> {
  if (!id) throw usage('case why needs a case ID');
  const found = await runtime.engine.get(id);
  if (!found) throw new NotFound(`case ${id} does not exist`);
  const items = explainDeadlines(found.policy, found.stored, await runtime.store.history(id));
  print({ caseId: id, items }, () =>
    items
      .map((d) =>
        [
          `${d.name} (clause ${d.clause}, ${d.within} on a ${d.clock} clock${d.calendar ? `, calendar ${d.calendar}` : ''}): ${d.status}, due ${d.dueAt}${d.lateMs !== undefined ? `, fired ${d.lateMs} ms late` : ''}${d.excusedBy ? `, excused by outage ${d.excusedBy}` : ''}`,
          `  warnings at ${d.warnings.at.map((f) => `${f * 100}%`).join(', ') || 'none'}: ${d.warnings.sent} sent${d.warnings.nextAt ? `, next ${d.warnings.nextAt}` : ''}`,
          ...d.pauses.map(
            (p) =>
              `  paused since ${p.at} for ${p.outage ? `outage ${p.outage}` : p.reason} by ${p.by} (clause ${p.clause})`,
          ),
          ...d.steps.map(
            (s) =>
              `  ${s.at}  ${s.step.padEnd(9)} ${s.event.padEnd(14)} by ${s.by.name} (${s.by.role}), clause ${s.clause}` +
              `${s.dueAt && s.step !== 'met' ? `, due ${s.dueAt}` : ''}${s.remainingMs !== undefined ? `, ${s.remainingMs} ms left` : ''}${s.reason ? ` — ${s.reason}` : ''}`,
          ),
        ].join('\n'),
      )
      .join('\n'),
  );
  return 0;
}

async function outage(
  runtime: Runtime,
  command: string | undefined,
  id: string | undefined,
  values: { start?: string; end?: string; reason?: string; note?: string; contract?: string; channel?: string },
  actor: Actor,
  print: Print,
): Promise<number> {
  if (command !== 'list' && actor.role !== 'ops' && actor.role !== 'supervisor') {
    throw usage('outages are declared and ended by ops or supervisor (--as ops)');
  }
  if (command === 'declare') {
    const input = parseDeclareOutage({
      start: values.start,
      ...(values.end ? { end: values.end } : {}),
      reason: values.reason,
      note: values.note,
      scope: {
        ...(values.contract ? { contractId: values.contract } : {}),
        ...(values.channel ? { channel: values.channel } : {}),
      },
    });
    const declared = await runtime.outages.declare(input, actor);
    if (declared.start < Date.now()) await enqueueOutageWork(runtime.outageQueue, declared, 'excuse');
    print(outageView(declared), () => `declared outage ${declared.id}`);
    return 0;
  }
  if (command === 'end') {
    if (!id) throw usage('outage end needs an outage ID');
    const { end } = parseEndOutage(values.end ? { end: values.end } : {});
    const ended = await runtime.outages.end(id, actor, end === undefined ? undefined : Date.parse(end));
    await enqueueOutageWork(runtime.outageQueue, ended, 'end');
    await enqueueOutageWork(runtime.outageQueue, ended, 'excuse');
    print(outageView(ended), () => `ended outage ${ended.id}; the cases it held resume from its end`);
    return 0;
  }
  if (command === 'list') {
    const list = (await runtime.outages.list()).map((o) => outageView(o));
    print({ items: list }, () =>
      list.length === 0
        ? 'no outages'
        : list
            .map((o) => `${o.id}  ${o.start} → ${o.end ?? 'open'}  ${o.reason}  ${JSON.stringify(o.scope)}  ${o.note}`)
            .join('\n'),
    );
    return 0;
  }
  throw usage(`unknown command: outage ${command ?? ''}`);
}

async function migrate(
  runtime: Runtime,
  values: { contract?: string; 'to-version'?: string; reason?: string; 'dry-run'?: boolean },
  actor: Actor,
  print: Print,
  io: Io,
): Promise<number> {
  const contract = values.contract;
  const version = Number(values['to-version']);
  if (!contract) throw usage('--contract ID is required');
  if (!Number.isInteger(version) || version < 1) throw usage('--to-version must be a positive integer');
  if (!values.reason?.trim()) throw usage('--reason TEXT is required: a migration is recorded with why');
  const { store, engine } = runtime;
  const migrated: string[] = [];
  let seen = 0;
  // Every open case of the contract on another version, page by page over the `created` index.
  let cursor: { score: number; id: string } | undefined;
  for (;;) {
    const page = await store.page('created', 'asc', 500, cursor);
    for (const { id: caseId } of page) {
      const found = await engine.get(caseId);
      seen += 1;
      if (seen % 500 === 0) io.err(`migrate: ${seen} cases looked at, ${migrated.length} migrated`);
      const s = found?.stored;
      if (!s || s.context.open.contractId !== contract || s.state === 'closed' || s.policyVersion === version) continue;
      if (!values['dry-run']) {
        await engine.migrate(caseId, version, values.reason, actor, { idempotencyKey: `migrate.${version}.${caseId}` });
      }
      migrated.push(caseId);
    }
    if (page.length < 500) break;
    cursor = page[page.length - 1];
  }
  print(
    { contract, toVersion: version, dryRun: values['dry-run'] ?? false, cases: migrated },
    () =>
      `${values['dry-run'] ? 'would migrate' : 'migrated'} ${migrated.length} open case(s) of ${contract} to version ${version}`,
  );
  return 0;
}
