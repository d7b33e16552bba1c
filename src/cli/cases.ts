import { nextDue } from '../../machines/clocks.ts';
import { listCases, listQuerySchema } from '../api/list.ts';
import { parseDuration } from '../domain/duration.ts';
import { NotFound } from '../domain/errors.ts';
import { CASE_STATES } from '../domain/vocabulary.ts';
import type { StoredCase } from '../store/case-store.ts';
import { type Command, type Io, intFlag, print, UsageError, type Values, withRuntime } from './command.ts';
import { type DueDeadline, dueDeadlines } from './due.ts';

// `intervene cases list` and `intervene deadlines list`: the read side for ops, from the Redis indexes.
// They print case ids, states and clocks — never the customer's details.

const iso = (ms: number) => new Date(ms).toISOString();

/** `1h 05m`, `14m 59s`, `850 ms`; negative: overdue. */
export function formatLeft(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const a = Math.abs(ms);
  if (a < 1_000) return `${sign}${Math.round(a)} ms`;
  const s = Math.floor(a / 1_000);
  const [d, h, m, sec] = [Math.floor(s / 86_400), Math.floor(s / 3_600) % 24, Math.floor(s / 60) % 60, s % 60];
  const two = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${sign}${d}d ${two(h)}h`;
  if (h > 0) return `${sign}${h}h ${two(m)}m`;
  return m > 0 ? `${sign}${m}m ${two(sec)}s` : `${sign}${sec}s`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function stateFlag(values: Values): string | undefined {
  const state = values.state as string | undefined;
  if (state !== undefined && !(CASE_STATES as readonly string[]).includes(state)) {
    throw new UsageError(`--state: must be one of ${CASE_STATES.join(', ')}, not "${state}"`);
  }
  return state;
}

function contractFlag(values: Values): string | undefined {
  const contract = values.contract as string | undefined;
  if (contract !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(contract)) {
    throw new UsageError('--contract: a contract id (letters, digits, "_" or "-", 1 to 64 characters)');
  }
  return contract;
}

const progressOn = (io: Io) => (read: number) => io.err(`… ${read} cases read`);

function dueRow(d: DueDeadline, now: number) {
  return {
    caseId: d.caseId,
    state: d.state,
    contractId: d.contractId,
    policyVersion: d.policyVersion,
    deadline: d.deadline,
    status: 'armed',
    epoch: d.epoch,
    dueAt: iso(d.dueAt),
    remainingMs: d.dueAt - now,
    clause: d.clause,
  };
}

const dueTable = (rows: ReturnType<typeof dueRow>[], empty: string) =>
  rows.length === 0
    ? empty
    : table(
        ['CASE', 'STATE', 'CONTRACT', 'DEADLINE', 'CLAUSE', 'DUE', 'LEFT'],
        rows.map((r) => [
          r.caseId,
          r.state,
          `${r.contractId}@${r.policyVersion}`,
          r.deadline,
          r.clause ?? '-',
          r.dueAt,
          formatLeft(r.remainingMs),
        ]),
      );

/** What a case list shows of a case: no customer data. */
function summary(stored: StoredCase) {
  const c = stored.context;
  const next = nextDue(c.deadlines);
  return {
    id: c.caseId,
    state: stored.state,
    contractId: c.open.contractId,
    policyVersion: stored.policyVersion,
    version: stored.version,
    category: c.open.category,
    channel: c.open.channel,
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
    nextDeadline: next ? { name: next.name, dueAt: iso(next.dueAt) } : null,
    breached: Object.entries(c.deadlines)
      .filter(([, d]) => d.status === 'breached')
      .map(([name]) => name),
    escalatedTo: c.escalation?.department ?? null,
  };
}

export const casesList: Command = {
  usage: 'cases list [--at-risk] [--state S] [--contract ID] [--limit N] [--json]',
  help: `Lists cases, newest first, from the Redis indexes (no customer data is printed).

  --at-risk       instead: the cases whose next deadline is soonest due and not yet missed, soonest
                  first, with the time left (one row per case: its earliest armed deadline)
  --state S       only cases in state S (${CASE_STATES.join(', ')})
  --contract ID   only cases of this main contract
  --limit N       at most N rows (1–200; default 20)
  --json          JSON: { "items": [...] }
  --config FILE   a YAML configuration file (docs/ops.md)

Exit codes: 0 listed (also when nothing matched); 1 unexpected failure; 2 bad usage or configuration.`,
  options: {
    'at-risk': { type: 'boolean' },
    state: { type: 'string' },
    contract: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    config: { type: 'string' },
  },
  async run(values, _positionals, io) {
    const state = stateFlag(values);
    const contractId = contractFlag(values);
    const limit = intFlag(values, 'limit', 20, 1, 200);
    return withRuntime(values, async (rt) => {
      const now = Date.now();
      if (values['at-risk']) {
        const due = await dueDeadlines(rt, {
          after: now,
          limit,
          earliestOnly: true,
          filter: (s) => (!state || s.state === state) && (!contractId || s.context.open.contractId === contractId),
          progress: progressOn(io),
        });
        const items = due.map((d) => dueRow(d, now));
        print(io, values, { items }, () => dueTable(items, 'no case has an armed deadline ahead'));
        return 0;
      }
      const query = listQuerySchema.parse({
        limit,
        ...(state ? { state } : {}),
        ...(contractId ? { contractId } : {}),
      });
      const { items } = await listCases(rt, query, async (stored) => summary(stored));
      print(io, values, { items }, () =>
        items.length === 0
          ? 'no cases'
          : table(
              ['CASE', 'STATE', 'CONTRACT', 'CATEGORY', 'CREATED', 'NEXT DEADLINE', 'BREACHED'],
              items.map((c) => [
                c.id,
                c.state,
                `${c.contractId}@${c.policyVersion}`,
                c.category,
                c.createdAt,
                c.nextDeadline ? `${c.nextDeadline.name} ${c.nextDeadline.dueAt}` : '-',
                c.breached.join(',') || '-',
              ]),
            ),
      );
      return 0;
    });
  },
};

export const deadlinesList: Command = {
  usage: 'deadlines list [--case ID] [--due-within DURATION] [--limit N] [--json]',
  help: `Lists armed deadlines across cases, soonest due first (overdue ones, not yet fired, first of all).

  --case ID              instead: every deadline of one case, whatever its status (armed, paused, met,
                         breached, excused, cancelled), with its clause
  --due-within DURATION  only deadlines due within this ISO-8601 duration from now (PT15M, PT2H, P1D)
  --limit N              at most N rows (1–1000; default 100)
  --json                 JSON: { "items": [...] }
  --config FILE          a YAML configuration file (docs/ops.md)

Exit codes: 0 listed; 1 unexpected failure; 2 bad usage or configuration; 4 no such case.`,
  options: {
    case: { type: 'string' },
    'due-within': { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    config: { type: 'string' },
  },
  async run(values, _positionals, io) {
    const within = values['due-within'] as string | undefined;
    const withinMs = within === undefined ? undefined : parseDuration(within);
    if (within !== undefined && (withinMs === undefined || withinMs <= 0)) {
      throw new UsageError(
        `--due-within: not an ISO-8601 duration greater than zero such as PT15M or P1D: "${within}"`,
      );
    }
    const limit = intFlag(values, 'limit', 100, 1, 1000);
    const caseId = values.case as string | undefined;
    if (caseId !== undefined && (within !== undefined || values.limit !== undefined)) {
      throw new UsageError('--case lists one case: it takes neither --due-within nor --limit');
    }
    return withRuntime(values, async (rt) => {
      const now = Date.now();
      if (caseId !== undefined) {
        const found = await rt.engine.get(caseId);
        if (!found) throw new NotFound(`case ${caseId} does not exist`);
        const items = Object.entries(found.stored.context.deadlines).map(([name, d]) => ({
          deadline: name,
          status: d.status,
          epoch: d.epoch,
          dueAt: d.status === 'paused' ? null : iso(d.dueAt),
          remainingMs: d.status === 'paused' ? (d.remainingMs ?? null) : d.status === 'armed' ? d.dueAt - now : null,
          clause: found.policy.deadlines[name]?.clause ?? null,
        }));
        print(io, values, { caseId, state: found.stored.state, items }, () =>
          table(
            ['DEADLINE', 'STATUS', 'CLAUSE', 'DUE', 'LEFT'],
            items.map((d) => [
              d.deadline,
              d.status,
              d.clause ?? '-',
              d.dueAt ?? '-',
              d.remainingMs === null ? '-' : `${formatLeft(d.remainingMs)}${d.status === 'paused' ? ' (paused)' : ''}`,
            ]),
          ),
        );
        return 0;
      }
      const due = await dueDeadlines(rt, {
        ...(withinMs === undefined ? {} : { until: now + withinMs }),
        limit,
        progress: progressOn(io),
      });
      const items = due.map((d) => dueRow(d, now));
      print(io, values, { items }, () =>
        dueTable(items, within ? `no armed deadline due within ${within}` : 'no armed deadline'),
      );
      return 0;
    });
  },
};
