import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect } from 'vitest';
import { buildApp } from '../../src/api/app.ts';
import { type KeyEntry, KeyRing, newKey, sha256 } from '../../src/api/keys.ts';
import { createClient, type InterveneClient } from '../../src/client/index.ts';
import type { Runtime } from '../../src/runtime.ts';
import { closeRuntime, testRuntime, VERIFY } from './runtime.ts';

// A real HTTP server for end-to-end API tests: the Fastify app of src/api/app.ts on a test runtime,
// listening on 127.0.0.1, with one API key per caller (every role, and three departments).

export const CALLERS = {
  service: { name: 'billing-backend', role: 'service' },
  agent: { name: 'agent-li', role: 'agent' },
  supervisor: { name: 'supervisor-wang', role: 'supervisor' },
  ops: { name: 'ops-zhao', role: 'ops' },
  auditor: { name: 'auditor-qian', role: 'auditor' },
  legal: { name: 'dept-legal', role: 'department', department: 'legal' },
  finance: { name: 'dept-finance', role: 'department', department: 'finance' },
  management: { name: 'dept-management', role: 'department', department: 'management' },
} as const satisfies Record<string, Omit<KeyEntry, 'sha256'>>;

export type Caller = keyof typeof CALLERS;
export const CALLER_NAMES = Object.keys(CALLERS) as Caller[];

/** A fresh key per caller and the ring that knows only their hashes. */
export function makeKeys(): { ring: KeyRing; keys: Record<Caller, string> } {
  const keys = Object.fromEntries(CALLER_NAMES.map((c) => [c, newKey()])) as Record<Caller, string>;
  const ring = new KeyRing(CALLER_NAMES.map((c) => ({ ...CALLERS[c], sha256: sha256(keys[c]) })));
  return { ring, keys };
}

export interface ApiResponse<T = any> {
  readonly status: number;
  readonly headers: Headers;
  readonly contentType: string;
  readonly text: string;
  /** The parsed JSON body (undefined when the body is empty or not JSON). */
  readonly body: T;
  readonly ms: number;
}

export interface RequestOptions {
  /** Who calls (default `service`); `null` sends no Authorization header. */
  readonly as?: Caller | null;
  /** Sends this bearer key instead of a caller's. */
  readonly key?: string;
  /** A JSON body (sent with content-type application/json). */
  readonly json?: unknown;
  /** A raw body, sent as is with the headers given. */
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /** Abort the request after this long (default 10 s). */
  readonly timeoutMs?: number;
}

export interface ApiServer {
  readonly rt: Runtime;
  readonly app: FastifyInstance;
  readonly baseUrl: string;
  readonly keys: Record<Caller, string>;
  client(caller: Caller): InterveneClient;
  request<T = any>(method: string, path: string, opts?: RequestOptions): Promise<ApiResponse<T>>;
  close(): Promise<void>;
}

export async function startApi(rt: Runtime): Promise<ApiServer> {
  const { ring, keys } = makeKeys();
  const app = await buildApp({ runtime: rt, keys: ring });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    rt,
    app,
    baseUrl,
    keys,
    client: (caller) => createClient({ baseUrl, apiKey: keys[caller] }),
    request: (method, path, opts = {}) => httpRequest(baseUrl, keys, method, path, opts),
    close: () => app.close(),
  };
}

export async function httpRequest(
  baseUrl: string,
  keys: Record<Caller, string>,
  method: string,
  path: string,
  opts: RequestOptions = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  const as = opts.as === undefined ? 'service' : opts.as;
  if (opts.key !== undefined) headers.authorization = `Bearer ${opts.key}`;
  else if (as !== null) headers.authorization = `Bearer ${keys[as]}`;
  let body: string | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  if (opts.body !== undefined) body = opts.body;
  Object.assign(headers, opts.headers);
  const started = performance.now();
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return {
    status: response.status,
    headers: response.headers,
    contentType: response.headers.get('content-type') ?? '',
    text,
    body: parsed,
    ms: performance.now() - started,
  };
}

/** Asserts an RFC 9457 problem: media type, the five members, the status echoed, and optionally a named field. */
export function expectProblem(
  res: ApiResponse,
  status: number,
  code?: string,
  opts: { path?: string; clause?: string; mentions?: string } = {},
): void {
  const where = `${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, where).toBe(status);
  expect(res.contentType, where).toMatch(/^application\/problem\+json/);
  const p = res.body as Record<string, unknown>;
  expect(p, where).toBeTypeOf('object');
  for (const member of ['type', 'title', 'detail', 'code'])
    expect(typeof p[member], `${member} in ${where}`).toBe('string');
  expect(p.status, where).toBe(status);
  if (code !== undefined) expect(p.code, where).toBe(code);
  if (opts.clause !== undefined) expect(p.clause, where).toBe(opts.clause);
  if (opts.path !== undefined) {
    const errors = (p.errors ?? []) as { path: string; message: string }[];
    expect(
      errors.map((e) => e.path),
      where,
    ).toContain(opts.path);
  }
  if (opts.mentions !== undefined) {
    const errors = (p.errors ?? []) as { path: string; message: string }[];
    expect(
      errors.some((e) => e.path.includes(opts.mentions as string) || e.message.includes(opts.mentions as string)),
      where,
    ).toBe(true);
  }
}

/** Every key under the runtime's case prefix with its type and size, once the dispatcher is idle. */
export async function prefixSnapshot(rt: Runtime): Promise<string[]> {
  await rt.dispatcher.flush();
  const prefix = rt.config.INTERVENE_PREFIX;
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await rt.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  keys.sort();
  const out: string[] = [];
  for (const key of keys) {
    const type = await rt.redis.type(key);
    const size =
      type === 'hash'
        ? await rt.redis.hlen(key)
        : type === 'list'
          ? await rt.redis.llen(key)
          : type === 'zset'
            ? await rt.redis.zcard(key)
            : type === 'stream'
              ? await rt.redis.xlen(key)
              : type === 'string'
                ? await rt.redis.strlen(key)
                : -1;
    out.push(`${key} ${type} ${size}`);
  }
  return out;
}

/** A case as the service sees it, read over HTTP. */
export async function caseOf(api: ApiServer, id: string): Promise<Record<string, any>> {
  const res = await api.request('GET', `/v1/cases/${id}`);
  expect(res.status, res.text).toBe(200);
  return res.body as Record<string, any>;
}

export async function historyOf(api: ApiServer, id: string): Promise<Record<string, any>[]> {
  const res = await api.request('GET', `/v1/cases/${id}/history`);
  expect(res.status, res.text).toBe(200);
  return (res.body as { items: Record<string, any>[] }).items;
}

/** Opens a case over HTTP and returns its view (fails the test unless 201). */
export async function openOverHttp(
  api: ApiServer,
  body: unknown,
  opts: Omit<RequestOptions, 'json'> = {},
): Promise<Record<string, any>> {
  const res = await api.request('POST', '/v1/cases', { ...opts, json: body });
  expect(res.status, res.text).toBe(201);
  return res.body as Record<string, any>;
}

/** Sends an event over HTTP and returns the new view (fails the test unless 200). */
export async function sendOverHttp(
  api: ApiServer,
  id: string,
  event: unknown,
  opts: Omit<RequestOptions, 'json'> = {},
): Promise<Record<string, any>> {
  const res = await api.request('POST', `/v1/cases/${id}/events`, { ...opts, json: event });
  expect(res.status, `${JSON.stringify(event)} → ${res.text}`).toBe(200);
  return res.body as Record<string, any>;
}

/**
 * A real server on a fresh test runtime for one file's tests: started before them (then `ready` runs),
 * closed and its keys deleted after them.
 */
export function useApi(ready: (server: { rt: Runtime; api: ApiServer }) => void | Promise<void>): void {
  let rt: Runtime | undefined;
  let api: ApiServer | undefined;
  beforeAll(async () => {
    rt = await testRuntime();
    api = await startApi(rt);
    await ready({ rt, api });
  });
  afterAll(async () => {
    await api?.close();
    if (rt) await closeRuntime(rt);
  });
}

/** Builds a case over HTTP, as the service, in a given state; resolves to its id. */
export type StateFixture = () => Promise<string>;

/**
 * One fixture per state the role tests need a case in (each a state that accepts some event): opened
 * with `base()`, then driven there with the events a backend would send. `server` is read when a fixture
 * runs, so the fixtures can be built before `useApi` has started the server.
 */
export function stateFixtures(server: () => ApiServer, base: () => Record<string, unknown>) {
  const received: StateFixture = async () => (await openOverHttp(server(), base())).id;
  const verified: StateFixture = async () => {
    const id = await received();
    await sendOverHttp(server(), id, VERIFY);
    return id;
  };
  const coordinatingFinance: StateFixture = async () => {
    const id = await verified();
    await sendOverHttp(server(), id, { type: 'COORDINATE', department: 'finance', request: 'check the invoice' });
    return id;
  };
  const escalatedLegal: StateFixture = async () =>
    (await openOverHttp(server(), { ...base(), category: 'complaint', flags: ['legal_dispute'] })).id;
  const awaitingCustomer: StateFixture = async () => {
    const id = await received();
    await sendOverHttp(server(), id, { type: 'REQUEST_INFO', request: 'the invoice number, please' });
    return id;
  };
  const resolved: StateFixture = async () => {
    const id = await verified();
    await sendOverHttp(server(), id, { type: 'RESOLVE', resolution: 'answered' });
    return id;
  };
  return { received, verified, coordinatingFinance, escalatedLegal, awaitingCustomer, resolved };
}
