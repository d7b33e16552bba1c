import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { parse, stringify } from 'yaml';
import type { CaseEvent, OpenCase } from '../src/domain/events.ts';
import { type Policy, parsePolicy } from '../src/policy/policy.ts';

// Small helpers of the benchmark harness: output, timing, percentiles, the workload.

/** biome forbids console; the bench writes its report to stdout directly. */
export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function envInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, not ${text}`);
  return value;
}

/** Runs `count` tasks with `concurrency` of them in flight: lane k takes the next unstarted index. */
export async function lanes(concurrency: number, count: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      await work(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

export interface Spread {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly min: number;
  readonly mean: number;
}

/** Nearest-rank percentiles. */
export function spread(values: ArrayLike<number>): Spread {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return { count: 0, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN, min: 0, mean: 0 };
  const at = (q: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))] as number;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: n,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted[n - 1] as number,
    min: sorted[0] as number,
    mean: sum / n,
  };
}

export const round = (x: number, digits = 0) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export const fmtInt = (x: number) => Math.round(x).toLocaleString('en-US');

export function fmtSpread(s: Spread, unit = 'ms'): string {
  return `p50 ${round(s.p50, 1)} / p90 ${round(s.p90, 1)} / p99 ${round(s.p99, 1)} / max ${round(s.max, 1)} ${unit} (min ${round(s.min, 1)}, n=${fmtInt(s.count)})`;
}

/** One section of INFO as a record of strings. */
export async function info(redis: Redis, section: string): Promise<Record<string, string>> {
  const text = await redis.info(section);
  const fields: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const sep = line.indexOf(':');
    if (sep > 0 && !line.startsWith('#')) fields[line.slice(0, sep)] = line.slice(sep + 1);
  }
  return fields;
}

/** Busy and total jiffies of the whole machine (Linux /proc/stat), to see what else ran beside the bench. */
function machineJiffies(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/**
 * CPU spent by this Node process, by redis-server and by everything else on the machine over a stretch of
 * wall time, in % of one core (the machine has availableParallelism() cores).
 */
export async function cpuMeter(redis: Redis) {
  const redisCpu = async () => {
    const cpu = await info(redis, 'cpu');
    return Number(cpu.used_cpu_user) + Number(cpu.used_cpu_sys);
  };
  const node0 = process.cpuUsage();
  const redis0 = await redisCpu();
  const machine0 = machineJiffies();
  const wall0 = performance.now();
  return async () => {
    const wallSec = (performance.now() - wall0) / 1000;
    const node = process.cpuUsage(node0);
    const redisSec = (await redisCpu()) - redis0;
    const machine1 = machineJiffies();
    const nodeSec = (node.user + node.system) / 1e6;
    const nodeCpuPct = round((100 * nodeSec) / wallSec);
    const redisCpuPct = round((100 * redisSec) / wallSec);
    let otherCpuPct: number | undefined;
    if (machine0 && machine1 && machine1.total > machine0.total) {
      const cores = availableParallelism();
      const machinePct = (100 * cores * (machine1.busy - machine0.busy)) / (machine1.total - machine0.total);
      otherCpuPct = Math.max(0, round(machinePct - nodeCpuPct - redisCpuPct));
    }
    const text =
      `node ${nodeCpuPct}% / redis ${redisCpuPct}%` +
      (otherCpuPct === undefined ? '' : ` / other processes ${otherCpuPct}%`) +
      ` cpu (of ${availableParallelism()} cores = ${availableParallelism() * 100}%)`;
    return { wallSec, nodeSec, redisSec, nodeCpuPct, redisCpuPct, otherCpuPct, text };
  };
}

// ---- the workload -------------------------------------------------------------------------------

const EXAMPLE = new URL('../policies/example.yaml', import.meta.url);

/**
 * The example policy as the workload defines it: every deadline on a wall-time clock and no
 * warnings (the example's business calendar and 50/75/90 % warnings would add three firings per deadline
 * and make the due times depend on the hour the bench runs), with some durations changed.
 */
function benchDocument(within: Record<string, string>) {
  const doc = parse(readFileSync(EXAMPLE, 'utf8')) as {
    deadlines: Record<string, { within: string; clock?: string; calendar?: string }>;
    warnings?: { at: number[] };
  };
  for (const deadline of Object.values(doc.deadlines)) {
    deadline.clock = 'calendar';
    delete deadline.calendar;
  }
  doc.warnings = { at: [] };
  for (const [name, duration] of Object.entries(within)) {
    const deadline = doc.deadlines[name];
    if (!deadline) throw new Error(`the example policy has no deadline ${name}`);
    deadline.within = duration;
  }
  return doc;
}

export function benchPolicy(within: Record<string, string> = {}): Policy {
  return parsePolicy(benchDocument(within), 'bench policy');
}

/** The bench policy as a YAML file (for worker processes). */
export function benchPolicyFile(within: Record<string, string>, dir: string): string {
  const file = join(dir, 'bench-policy.yaml');
  writeFileSync(file, stringify(benchDocument(within)));
  return file;
}

/** The policy's webhook secret variables with throwaway values (no secrets file is written; no webhook is called). */
export function dummySecrets(policy: Policy): Record<string, string> {
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const env: Record<string, string> = {};
  for (const d of Object.values(policy.departments)) if (d.webhook) env[d.webhook.secretEnv] = secret;
  if (policy.notices?.customer) env[policy.notices.customer.webhook.secretEnv] = secret;
  if (policy.notices?.owner) env[policy.notices.owner.webhook.secretEnv] = secret;
  return env;
}

/** A plausible intake: the size of a real case record matters for the memory figure. */
export function openInput(policy: Policy, i: number): OpenCase {
  return {
    contractId: policy.contract.id,
    channel: 'phone',
    category: 'inquiry',
    customer: { id: `cust-${i}`, name: '张三', phone: '+86 138 0000 0000' },
    subject: 'How do I change my appointment?',
    description: 'The customer asks how to move a booked service visit to another day next week.',
  };
}

/** A backend service may send CS and department events alike (authorize.ts). */
export const SERVICE = { name: 'bench-backend', role: 'service' } as const;

/**
 * One case's life, chosen so that most events move a deadline (the wake-up timer is the earliest armed one):
 * RESPOND meets firstResponse (disarm + arm initialNotice); VERIFY changes no clock; REQUEST_INFO pauses all
 * (disarm); CUSTOMER_REPLY resumes (arm, new epoch); COORDINATE meets initialNotice and arms coordination
 * (disarm + arm, 2 deliveries); DEPARTMENT_REPLY meets coordination (disarm); RESOLVE arms followUp (arm,
 * 1 delivery). Per 7 events: 4 wake-up timer arms, 4 disarms, 3 webhook deliveries.
 */
export const LIFE: readonly CaseEvent[] = [
  { type: 'RESPOND', message: 'We are looking into it.' },
  { type: 'VERIFY', identityVerified: true, serviceUsageConfirmed: true },
  { type: 'REQUEST_INFO', request: 'Please send the booking number.' },
  { type: 'CUSTOMER_REPLY', message: 'It is B-12345.' },
  { type: 'COORDINATE', department: 'finance', request: 'Please confirm the booking fee.' },
  { type: 'DEPARTMENT_REPLY', department: 'finance', reply: 'Fee confirmed.' },
  { type: 'RESOLVE', resolution: 'Appointment moved to Friday.' },
];

/** The state each event of LIFE leads to, checked by both loops. */
export const LIFE_STATES = [
  'received',
  'verified',
  'awaitingCustomer',
  'verified',
  'coordinating',
  'verified',
  'resolved',
] as const;
