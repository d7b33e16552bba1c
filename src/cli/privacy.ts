import { parseArgs } from 'node:util';
import type { Actor } from '../../machines/types.ts';
import type { Principal } from '../api/keys.ts';
import { historyFor, viewFor } from '../api/mask.ts';
import { ConfigError } from '../config.ts';
import { DomainError, Forbidden, NotFound, ValidationError } from '../domain/errors.ts';
import { ROLES } from '../domain/vocabulary.ts';
import { caseView } from '../engine/view.ts';
import type { Policy } from '../policy/policy.ts';
import type { AccessEntry, AccessRecord } from '../privacy/access-log.ts';
import { DataKeyError, generateDataKey } from '../privacy/data-keys.ts';
import type { Disclosures } from '../privacy/projection.ts';
import { keyUsage, rotate } from '../privacy/rotation.ts';
import type { Runtime } from '../runtime.ts';
import type { StoredCase } from '../store/case-store.ts';
import { configOf, EXIT, type Io, intFlag, print, UsageError, type Values, withRuntime } from './command.ts';

// `intervene data …` and `intervene access …` (docs/privacy.md): key rotation, key usage, a new key,
// erasure and retention by hand, and the access log. main.ts hands them their arguments.

export const PRIVACY_USAGE = `  intervene data rotate [--dry-run] [--batch N] [--pace-ms MS]
  intervene data status
  intervene data keys generate [--id ID]
  intervene data intake-key
  intervene data erase --customer ID
  intervene data retention
  intervene access log (--case ID | --actor NAME | --customer ID) [--limit N]
  intervene access verify (--case ID | --actor NAME)`;

const HELP = `${PRIVACY_USAGE}

  data rotate          re-wraps every case's data key under INTERVENE_DATA_KEY_ID, online, printing
                       progress; --dry-run only counts. Run it after making a new key current.
  data status          how many cases each data key wraps: a key no case uses may be retired
  data keys generate   a new data key (<id>:<base64>) to add to INTERVENE_DATA_KEYS; in development
                       (no INTERVENE_DATA_KEYS) it is added to var/data-keys.yaml and made current
  data intake-key      publishes and prints the key intake producers seal bodies to (JSON, for
                       createIntakeProducer's intakeKey or a producer in another language)
  data erase           erases a customer's personal data from every case (as --as service|supervisor)
  data retention       runs the retention job once now
  access log           the access log of a case, an actor (API key name) or a customer, newest first
  access verify        recomputes an access-log stream's chain and names the first broken entry

Options: --as ROLE, --name NAME, --department ID (who acts, recorded in the access log), --json,
--config FILE. Exit codes: 0 done; 1 failure; 2 bad usage; 4 not found; 6 forbidden.`;

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  config: { type: 'string' },
  as: { type: 'string' },
  name: { type: 'string' },
  department: { type: 'string' },
  'dry-run': { type: 'boolean' },
  batch: { type: 'string' },
  'pace-ms': { type: 'string' },
  id: { type: 'string' },
  customer: { type: 'string' },
  case: { type: 'string' },
  actor: { type: 'string' },
  limit: { type: 'string' },
} as const;

/** Runs a `data` or `access` command, or answers `undefined` when argv names none. */
export async function runPrivacyCommand(argv: readonly string[], io: Io): Promise<number | undefined> {
  const [group = '', command = '', sub = ''] = argv;
  if (group !== 'data' && group !== 'access') return undefined;
  const name = command === 'keys' ? `${group} ${command} ${sub}` : `${group} ${command}`;
  try {
    const { values } = parseArgs({
      args: argv.slice(name.split(' ').length) as string[],
      options: OPTIONS,
      allowPositionals: false,
      strict: true,
    });
    if (values.help || !command) {
      io.out(`Usage:\n${HELP}`);
      return values.help ? EXIT.ok : EXIT.usage;
    }
    return await dispatch(name, values as Values, io);
  } catch (error) {
    return report(error, io, name);
  }
}

function actorOf(values: Values): Principal {
  const role = (values.as as string | undefined) ?? 'service';
  if (!(ROLES as readonly string[]).includes(role)) throw new UsageError(`--as must be one of ${ROLES.join(', ')}`);
  if (role === 'department' && !values.department) throw new UsageError('--as department needs --department ID');
  return {
    name: (values.name as string | undefined) ?? 'cli',
    role,
    ...(values.department ? { department: values.department as string } : {}),
  } as Principal;
}

const actorEntry = (p: Actor) => ({
  name: p.name,
  role: p.role,
  ...(p.department ? { department: p.department } : {}),
});

async function dispatch(name: string, values: Values, io: Io): Promise<number> {
  switch (name) {
    case 'data keys generate': {
      const made = generateDataKey(configOf(values), values.id as string | undefined);
      print(io, values, made, () =>
        made.file
          ? `${made.id} generated and made current in ${made.file}; now run: intervene data rotate`
          : `${made.line}\nAdd it to INTERVENE_DATA_KEYS, set INTERVENE_DATA_KEY_ID=${made.id} on every process, then run: intervene data rotate`,
      );
      return EXIT.ok;
    }
    case 'data rotate':
      return withRuntime(values, async (rt) => {
        const started = Date.now();
        const report = await rotate(rt.store, {
          dryRun: values['dry-run'] === true,
          batch: intFlag(values, 'batch', 200, 1, 10_000),
          paceMs: intFlag(values, 'pace-ms', 0, 0, 60_000),
          onProgress: (p) =>
            io.err(
              `rotation: ${p.scanned} cases scanned, ${p.rewrapped} re-wrapped, ${p.sealed} sealed, ${p.current} current`,
            ),
        });
        const summary = {
          ...report,
          keyId: rt.store.codec.ring.currentId,
          dryRun: values['dry-run'] === true,
          ms: Date.now() - started,
        };
        print(
          io,
          values,
          summary,
          () =>
            `${summary.dryRun ? 'would re-wrap' : 're-wrapped'} ${report.rewrapped} and ${summary.dryRun ? 'would seal' : 'sealed'} ${report.sealed} of ${report.scanned} cases under ${summary.keyId} (${report.current} already were) in ${summary.ms} ms`,
        );
        return EXIT.ok;
      });
    case 'data status':
      return withRuntime(values, async (rt) => {
        const usage = await keyUsage(rt.store);
        const status = { current: rt.store.codec.ring.currentId, configured: rt.store.codec.ring.ids, usage };
        print(io, values, status, () =>
          [
            `current key: ${status.current}; configured: ${status.configured.join(', ')}`,
            ...Object.entries(usage).map(([id, n]) => `  ${id.padEnd(24)} ${n}`),
          ].join('\n'),
        );
        return EXIT.ok;
      });
    case 'data intake-key':
      return withRuntime(values, async (rt) => {
        await rt.intakeKeys.publish(rt.redis, rt.config.INTERVENE_QUEUE_PREFIX);
        const key = rt.intakeKeys.publicKey();
        print(io, values, key, () => JSON.stringify(key));
        return EXIT.ok;
      });
    case 'data erase':
      return withRuntime(values, async (rt) => {
        const customer = values.customer as string | undefined;
        if (!customer?.trim()) throw new UsageError('data erase needs --customer ID');
        const actor = actorOf(values);
        if (!['service', 'supervisor'].includes(actor.role)) {
          await rt.access.record({ ...refusal(actor, 'erase'), clause: '4.2' });
          throw new Forbidden(`role ${actor.role} may not erase personal data (service, supervisor may)`, '4.2');
        }
        const { caseIds, intakeJobs } = await rt.erasure.customer(customer, actorEntry(actor), 'cli');
        print(
          io,
          values,
          { erased: caseIds.length, cases: caseIds, intakeJobs },
          () => `erased the personal data of ${caseIds.length} case(s) and ${intakeJobs} waiting intake job(s)`,
        );
        return EXIT.ok;
      });
    case 'data retention':
      return withRuntime(values, async (rt) => {
        const erased = await rt.erasure.retention();
        print(io, values, { erased }, () => `retention: erased the personal data of ${erased} closed case(s)`);
        return EXIT.ok;
      });
    case 'access log':
      return withRuntime(values, async (rt) => {
        const limit = intFlag(values, 'limit', 100, 1, 10_000);
        const page = values.case
          ? await rt.access.query({ caseId: values.case as string }, limit)
          : values.actor
            ? await rt.access.query({ actor: values.actor as string }, limit)
            : values.customer
              ? await rt.erasure
                  .casesOf(values.customer as string)
                  .then(({ ref, caseIds }) => rt.access.query({ customerRef: ref, caseIds }, limit))
              : undefined;
        if (!page) throw new UsageError('access log needs --case ID, --actor NAME or --customer ID');
        await rt.access.record({
          at: new Date().toISOString(),
          actor: actorEntry(actorOf(values)),
          action: 'access-log',
          ...(values.case ? { caseId: values.case as string } : {}),
          withinAuthority: true,
          via: 'cli',
        });
        print(io, values, page.items, () => page.items.map(line).join('\n') || 'no entries');
        return EXIT.ok;
      });
    case 'access verify':
      return withRuntime(values, async (rt) => {
        const key = values.case
          ? rt.access.caseKey(values.case as string)
          : values.actor
            ? rt.access.actorKey(values.actor as string)
            : undefined;
        if (!key) throw new UsageError('access verify needs --case ID or --actor NAME');
        const result = await rt.access.verify(key);
        print(io, values, result, () =>
          result.brokenAt
            ? `BROKEN: the chain fails at entry ${result.brokenAt} (after ${result.entries} good entries)`
            : `ok: ${result.entries} entries, chain intact`,
        );
        return result.brokenAt ? EXIT.failure : EXIT.ok;
      });
    default:
      throw new UsageError(`unknown command: ${name}`);
  }
}

function refusal(actor: Actor, action: string): AccessEntry {
  return {
    at: new Date().toISOString(),
    actor: actorEntry(actor),
    action,
    withinAuthority: false,
    code: 'FORBIDDEN',
    via: 'cli',
  };
}

function line(r: AccessRecord): string {
  const who = `${r.actor.name} (${r.actor.role}${r.actor.department ? `/${r.actor.department}` : ''})`;
  const what = `${r.action}${r.event ? ` ${r.event}` : ''}${r.caseId ? ` ${r.caseId}` : ''}`;
  const fields = r.fields?.length ? ` fields ${r.fields.join(',')}` : '';
  const masked = r.masked?.length ? ` masked ${r.masked.join(',')}` : '';
  const authority = r.withinAuthority ? '' : ` REFUSED ${r.code ?? ''}${r.clause ? ` (clause ${r.clause})` : ''}`;
  return `${r.at}  ${who}  ${what} via ${r.via}${fields}${masked}${authority}`;
}

function report(error: unknown, io: Io, name: string): number {
  const parseError = (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  if (error instanceof UsageError || parseError) {
    io.err(`intervene ${name}: ${(error as Error).message} (see intervene ${name.split(' ')[0]} --help)`);
    return EXIT.usage;
  }
  if (error instanceof ConfigError || error instanceof DataKeyError) {
    io.err(`intervene: ${error.message}`);
    return EXIT.usage;
  }
  if (error instanceof DomainError) {
    io.err(`intervene: ${error.message}${error.clause ? ` (clause ${error.clause})` : ''}`);
    if (error instanceof NotFound) return EXIT.notFound;
    if (error instanceof Forbidden) return 6;
    return error instanceof ValidationError ? EXIT.usage : EXIT.failure;
  }
  io.err(`intervene: ${(error as Error).message ?? String(error)}`);
  return EXIT.failure;
}

// ── `case show` / `case history` (main.ts): the same projection as the API, recorded in the access log ──

/** The case view as the CLI's actor may see it; the read is recorded (via `cli`). */
export async function cliView(rt: Runtime, actor: Actor, found: { stored: StoredCase; policy: Policy }) {
  const seen: Disclosures = new Map();
  const view = viewFor(caseView(found.stored, found.policy), actor as Principal, found.policy, seen);
  await recordSeen(rt, actor, 'read', seen);
  return view;
}

/** The audit trail as the CLI's actor may see it; the read is recorded. */
export async function cliHistory(rt: Runtime, actor: Actor, caseId: string): Promise<object[]> {
  const found = await rt.engine.get(caseId);
  const entries = await rt.store.history(caseId);
  if (!found) return entries;
  const seen: Disclosures = new Map();
  const items = historyFor(caseId, entries, actor as Principal, found.policy, seen);
  await recordSeen(rt, actor, 'history', seen);
  return items;
}

async function recordSeen(rt: Runtime, actor: Actor, action: string, seen: Disclosures): Promise<void> {
  const at = new Date().toISOString();
  await rt.access.record(
    ...[...seen].map(([caseId, shown]) => ({
      at,
      actor: actorEntry(actor),
      action,
      caseId,
      fields: [...shown.clear].sort(),
      ...(shown.masked.size > 0 ? { masked: [...shown.masked].sort() } : {}),
      withinAuthority: true,
      via: 'cli',
    })),
  );
}
