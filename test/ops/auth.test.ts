import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/runtime.ts';
import { type ApiServer, type Caller, openOverHttp, useApi } from '../support/api.ts';
import { openCase } from '../support/policy.ts';

// Who may use /ops and how a browser logs in (issue 5): roles ops, supervisor and auditor; a session
// cookie that is not the key; no session → the login page; CSRF refused; logout ends the session.

let rt: Runtime;
let api: ApiServer;
useApi((server) => {
  ({ rt, api } = server);
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function http(method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  const res = await fetch(`${api.baseUrl}${path}`, {
    method,
    headers,
    redirect: 'manual',
    ...(body === undefined ? {} : { body }),
  });
  return { status: res.status, headers: res.headers, text: await res.text() } satisfies Answer;
}

const FORM = 'application/x-www-form-urlencoded';
const sameSite = () => ({ 'content-type': FORM, origin: api.baseUrl });

function login(key: string, opts: { next?: string; headers?: Record<string, string> } = {}) {
  const body = new URLSearchParams({ key, next: opts.next ?? '/ops' }).toString();
  return http('POST', '/ops/login', opts.headers ?? sameSite(), body);
}

/** Logs in as a caller and returns the `name=value` of the session cookie. */
async function sessionOf(caller: Caller): Promise<string> {
  const res = await login(api.keys[caller]);
  expect(res.status, res.text).toBe(303);
  return (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
}

async function sessionKeys(): Promise<string[]> {
  return rt.redis.keys(`${rt.config.INTERVENE_PREFIX}ops:session:*`);
}

describe('/ops without a session', () => {
  it('redirects a page to the login page, keeping where it was going', async () => {
    const res = await http('GET', '/ops/cases/abc?x=1');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/ops/login?next=${encodeURIComponent('/ops/cases/abc?x=1')}`);
    expect((await http('GET', '/ops')).headers.get('location')).toBe('/ops/login?next=%2Fops');
    expect((await http('GET', '/ops/queues')).status).toBe(303);
  });

  it('answers the JSON endpoints 401 with a problem', async () => {
    const res = await http('GET', '/ops/api/summary');
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(res.text)).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('ignores a forged or unknown session cookie', async () => {
    for (const cookie of ['ivn_ops=abc', `ivn_ops=${'A'.repeat(43)}`, `ivn_ops=${api.keys.ops}`]) {
      expect((await http('GET', '/ops', { cookie })).status, cookie).toBe(303);
    }
  });

  it('serves the login page under a strict Content-Security-Policy', async () => {
    const res = await http('GET', '/ops/login');
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]+'/);
    expect(csp).toContain("frame-ancestors 'none'");
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1] as string;
    expect(res.text).toContain(`<script nonce="${nonce}">`);
    expect(res.text).not.toMatch(/<script(?![^>]*nonce=)/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });
});

describe('logging in', () => {
  it('refuses a key that is not valid, and creates no session', async () => {
    const before = await sessionKeys();
    const res = await login('ivk_not-a-real-key');
    expect(res.status).toBe(401);
    expect(res.text).toContain('That API key is not valid.');
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(await sessionKeys()).toEqual(before);
  });

  it('names the field when the key is missing', async () => {
    const res = await http('POST', '/ops/login', sameSite(), 'next=%2Fops');
    expect(res.status).toBe(400);
    expect(res.text).toContain('key: required');
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('refuses roles other than ops, supervisor and auditor with a 403 page', async () => {
    const before = await sessionKeys();
    for (const caller of ['service', 'agent', 'legal'] as const) {
      const res = await login(api.keys[caller]);
      expect(res.status, caller).toBe(403);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.text).toContain(`role ${caller === 'legal' ? 'department' : caller} may not use the ops pages`);
      expect(res.headers.get('set-cookie')).toBeNull();
    }
    expect(await sessionKeys()).toEqual(before);
  });

  it('gives ops a session cookie that is HttpOnly, SameSite=Strict and not the key', async () => {
    const res = await login(api.keys.ops);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ops');
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^ivn_ops=[A-Za-z0-9_-]{43}; Path=\/ops; Max-Age=28800; HttpOnly; SameSite=Strict$/);
    const token = cookie.split(';')[0]?.split('=')[1] as string;
    expect(token).not.toContain(api.keys.ops);
    const key = `${rt.config.INTERVENE_PREFIX}ops:session:${createHash('sha256').update(token).digest('hex')}`;
    const stored = (await rt.redis.get(key)) as string;
    expect(JSON.parse(stored)).toMatchObject({ name: 'ops-zhao', role: 'ops' });
    expect(stored).not.toContain(api.keys.ops);
    const ttl = await rt.redis.ttl(key);
    expect(ttl).toBeGreaterThan(28_700);
    expect(ttl).toBeLessThanOrEqual(28_800);
    const page = await http('GET', '/ops', { cookie: cookie.split(';')[0] as string });
    expect(page.status).toBe(200);
    expect(page.text).toContain('At risk');
    expect(page.text).toContain('ops-zhao (ops)');
  });

  it('lets supervisors and auditors in too', async () => {
    for (const caller of ['supervisor', 'auditor'] as const) {
      const res = await http('GET', '/ops/api/session', { cookie: await sessionOf(caller) });
      expect(JSON.parse(res.text)).toEqual({
        name: caller === 'supervisor' ? 'supervisor-wang' : 'auditor-qian',
        role: caller,
      });
    }
  });

  it('goes on to the page it came from, but never to another site', async () => {
    expect((await login(api.keys.ops, { next: '/ops/cases/c1' })).headers.get('location')).toBe('/ops/cases/c1');
    for (const next of ['//evil.example/x', 'https://evil.example/', '/v1/cases', '/ops\\..\\x', '/opsx']) {
      expect((await login(api.keys.ops, { next })).headers.get('location'), next).toBe('/ops');
    }
  });

  it('refuses a login posted from another site (CSRF)', async () => {
    const before = await sessionKeys();
    for (const headers of [
      { 'content-type': FORM, origin: 'http://evil.example' },
      { 'content-type': FORM, origin: 'null' },
      { 'content-type': FORM, 'sec-fetch-site': 'cross-site' },
    ]) {
      const res = await login(api.keys.ops, { headers });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.headers.get('set-cookie')).toBeNull();
    }
    expect(await sessionKeys()).toEqual(before);
  });
});

describe('bearer keys on /ops', () => {
  it('lets an ops key read the JSON endpoints and refuses other roles with 403', async () => {
    const ok = await http('GET', '/ops/api/summary', { authorization: `Bearer ${api.keys.auditor}` });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toHaveProperty('atRisk');
    const agent = await http('GET', '/ops/api/summary', { authorization: `Bearer ${api.keys.agent}` });
    expect(agent.status).toBe(403);
    expect(JSON.parse(agent.text)).toMatchObject({ code: 'FORBIDDEN', detail: expect.stringMatching(/role agent/) });
    const page = await http('GET', '/ops', { authorization: `Bearer ${api.keys.service}` });
    expect(page.status).toBe(403);
    expect(page.text).toContain('role service may not use the ops pages');
    expect((await http('GET', '/ops', { authorization: 'Bearer ivk_wrong' })).status).toBe(401);
  });
});

describe('logging out', () => {
  it('ends the session: the cookie is cleared and no longer opens a page', async () => {
    const cookie = await sessionOf('ops');
    const before = (await sessionKeys()).length;
    const res = await http('POST', '/ops/logout', { cookie, origin: api.baseUrl });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ops/login');
    expect(res.headers.get('set-cookie')).toMatch(/^ivn_ops=; Path=\/ops; Max-Age=0; HttpOnly; SameSite=Strict/);
    expect((await sessionKeys()).length).toBe(before - 1);
    expect((await http('GET', '/ops', { cookie })).status).toBe(303);
  });

  it('refuses a logout posted from another site and keeps the session', async () => {
    const cookie = await sessionOf('ops');
    const res = await http('POST', '/ops/logout', { cookie, origin: 'http://evil.example' });
    expect(res.status).toBe(403);
    expect((await http('GET', '/ops', { cookie })).status).toBe(200);
  });
});

describe('the queue board behind the same login', () => {
  it('shows the board to an auditor and refuses an auditor changing a queue', async () => {
    const cookie = await sessionOf('auditor');
    const board = await http('GET', '/ops/queues', { cookie });
    expect(board.status).toBe(200);
    expect(board.text).toContain('<base href="/ops/queues/"');
    expect(board.text).not.toMatch(/https?:\/\//);
    expect(board.headers.get('content-security-policy')).toContain("default-src 'self'");
    const queues = await http('GET', '/ops/queues/api/queues', { cookie });
    expect(queues.status).toBe(200);
    expect(
      JSON.parse(queues.text)
        .queues.map((q: { name: string }) => q.name)
        .sort(),
    ).toEqual(['deadlines', 'notify', 'outages', 'reports']);
    const pause = await http('PUT', '/ops/queues/api/queues/notify/pause', { cookie, origin: api.baseUrl });
    expect(pause.status).toBe(403);
    expect(await rt.notifyQueue.isPaused()).toBe(false);
  });

  it('lets no role add or rewrite jobs on the board (they would act in another’s name)', async () => {
    const cookie = await sessionOf('ops');
    const headers = { cookie, origin: api.baseUrl, 'content-type': 'application/json' };
    const add = await http(
      'POST',
      '/ops/queues/api/queues/deadlines/add',
      headers,
      JSON.stringify({ name: 'x', data: {} }),
    );
    expect(add.status).toBe(403);
    expect(add.text).toContain('may not add jobs');
    const rewrite = await http('PATCH', '/ops/queues/api/queues/deadlines/some-job/update-data', headers, '{}');
    expect(rewrite.status).toBe(403);
    expect(await rt.deadlineQueue.count()).toBe(0);
  });

  it('lets ops pause and resume a queue from the board, but not from another site', async () => {
    const cookie = await sessionOf('ops');
    const forged = await http('PUT', '/ops/queues/api/queues/notify/pause', { cookie, origin: 'http://evil.example' });
    expect(forged.status).toBe(403);
    expect(await rt.notifyQueue.isPaused()).toBe(false);
    const pause = await http('PUT', '/ops/queues/api/queues/notify/pause', { cookie, origin: api.baseUrl });
    expect(pause.status, pause.text).toBe(200);
    expect(await rt.notifyQueue.isPaused()).toBe(true);
    const resume = await http('PUT', '/ops/queues/api/queues/notify/resume', { cookie, origin: api.baseUrl });
    expect(resume.status, resume.text).toBe(200);
    expect(await rt.notifyQueue.isPaused()).toBe(false);
  });
});

describe('the case page', () => {
  it('names the rule for an invalid id and says when a case does not exist', async () => {
    const cookie = await sessionOf('ops');
    const bad = await http('GET', `/ops/cases/${encodeURIComponent('a b<c')}`, { cookie });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('id: 1 to 64 letters');
    expect(bad.text).not.toContain('b<c');
    const missing = await http('GET', '/ops/cases/cnothere', { cookie });
    expect(missing.status).toBe(404);
    expect(missing.text).toContain('case cnothere does not exist');
    const c = await openOverHttp(api, openCase());
    expect((await http('GET', `/ops/cases/${c.id}`, { cookie })).status).toBe(200);
  });
});

describe('/ops/reports: the service-data report on the dashboard (3.3, 5.2)', () => {
  it('shows the report page to a logged-in ops user, with its own strict policy, and names a bad query', async () => {
    await openOverHttp(api, openCase({ subject: 'Invoice question' }));
    const cookie = await sessionOf('supervisor');
    const res = await http('GET', '/ops/reports', { cookie });
    expect(res.status, res.text.slice(0, 300)).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.text).toContain('MC-2026-001');
    const bad = await http('GET', '/ops/reports?from=yesterday', { cookie });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('query.from');
    // Not for every role: an agent's key does not open the ops pages.
    expect((await http('GET', '/ops/reports', { authorization: `Bearer ${api.keys.agent}` })).status).toBe(403);
  });

  it('links the report from every ops page', async () => {
    const cookie = await sessionOf('ops');
    expect((await http('GET', '/ops', { cookie })).text).toContain('href="/ops/reports"');
  });
});

describe('rate limits on the ops pages', () => {
  it('a key past its budget per second gets 429 with Retry-After; so does a burst of login attempts', async () => {
    // 250 requests: however the burst falls across one-second windows, one window gets more than 100.
    const burst = await Promise.all(
      Array.from({ length: 250 }, () =>
        http('GET', '/ops/api/session', { authorization: `Bearer ${api.keys.auditor}` }),
      ),
    );
    const limited = burst.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]?.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(JSON.parse(limited[0]?.text ?? '{}')).toMatchObject({ code: 'RATE_LIMITED' });
    const guesses = await Promise.all(
      Array.from({ length: 250 }, () => login('ivk_not-a-key', { headers: sameSite() })),
    );
    expect(guesses.some((r) => r.status === 429)).toBe(true);
  });
});
