import { mkdirSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/policy.ts';
import type { Runtime } from '../../src/runtime.ts';
import { type ApiServer, openOverHttp, sendOverHttp, startApi } from '../support/api.ts';
import { exampleDocument, openCase, testPolicy } from '../support/policy.ts';
import { closeRuntime, testRuntime } from '../support/runtime.ts';
import { waitFor } from '../support/wait.ts';

// The ops dashboard in a real browser (issue 5): Debian's headless Chromium driven by playwright-core
// against the API on a real port and a real Redis, with the deadline and notify workers running.
// Screenshots go to test-artifacts/ops/.

const ARTIFACTS = 'test-artifacts/ops';
const XSS = '<img src=x onerror="window.__xss=1">Refund <script>window.__xss=2</script>&amp;';
const CUSTOMER = { id: 'cust-7', name: '张三丰', phone: '+86 138 1234 5678', email: 'zhang@example.com' };
const DESCRIPTION = 'Lives at 12 Example Road and wants the late fee back.';

/** A second contract whose first response is due after one second, so its case breaches and escalates. */
function hastyPolicy() {
  const doc = exampleDocument();
  doc.contract.id = 'MC-2026-002';
  doc.deadlines.firstResponse.within = 'PT1S';
  // Nothing listens here: every delivery fails at once and, with one attempt, is dead-lettered.
  for (const d of Object.values(doc.departments) as { webhook: { url: string } }[])
    d.webhook.url = 'http://127.0.0.1:1/';
  doc.notices.customer.webhook.url = 'http://127.0.0.1:1/';
  return parsePolicy(doc, 'hasty test policy');
}

let rt: Runtime;
let api: ApiServer;
let browser: Browser;
let atRisk: string;
let breached: string;
const external: string[] = [];
const cspErrors: string[] = [];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  rt = await testRuntime({
    policies: [testPolicy({ firstResponse: 'PT3M' }), hastyPolicy()],
    env: { INTERVENE_NOTIFY_ATTEMPTS: '1', INTERVENE_NOTIFY_BACKOFF_MS: '10' },
  });
  rt.startWorkers(['deadlines', 'notify', 'dispatcher']);
  api = await startApi(rt);
  atRisk = (await openOverHttp(api, openCase({ customer: CUSTOMER, subject: XSS, description: DESCRIPTION }))).id;
  for (let i = 0; i < 2; i++) {
    const id = (await openOverHttp(api, openCase({ subject: `calm ${i}` }))).id;
    await sendOverHttp(api, id, { type: 'RESPOND', message: 'on it' });
  }
  breached = (await openOverHttp(api, openCase({ contractId: 'MC-2026-002', customer: CUSTOMER }))).id;
  await waitFor(async () => (await rt.engine.get(breached))?.stored.state === 'escalated', {
    timeoutMs: 10_000,
    what: 'the hasty case to miss its first response and escalate',
  });
  await waitFor(async () => (await rt.redis.zcard(`${rt.config.INTERVENE_PREFIX}deliveries:dead`)) > 0, {
    timeoutMs: 15_000,
    what: 'a delivery to be dead-lettered',
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
  if (rt) await closeRuntime(rt);
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.on('request', (r) => {
    if (!r.url().startsWith(api.baseUrl) && !r.url().startsWith('data:')) external.push(r.url());
  });
  page.on('console', (m) => {
    if (/Content[ -]Security[ -]Policy/i.test(m.text())) cspErrors.push(`${page.url()}: ${m.text()}`);
  });
  return page;
}

async function logIn(page: Page, key: string): Promise<void> {
  await page.goto(`${api.baseUrl}/ops`);
  await page.fill('#key', key);
  await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
}

/** The element's text with runs of white space as one space. */
const text = async (page: Page, selector: string) =>
  ((await page.textContent(selector)) ?? '').replace(/\s+/g, ' ').trim();

const shot = (page: Page, name: string) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });

describe('the ops dashboard in Chromium', () => {
  let page: Page;

  it('sends a visitor without a session to the login page and refuses bad keys there', async () => {
    page = await newPage();
    await page.goto(`${api.baseUrl}/ops`);
    expect(new URL(page.url()).pathname).toBe('/ops/login');
    await shot(page, '01-login');
    await logIn(page, 'ivk_wrong');
    await expect.poll(() => page.textContent('[role=alert]')).toBe('That API key is not valid.');
    await logIn(page, api.keys.service);
    expect(await page.textContent('main')).toContain('role service may not use the ops pages');
  });

  it('logs in with an ops key and shows the at-risk case first, counting down live', async () => {
    await logIn(page, api.keys.ops);
    expect(new URL(page.url()).pathname).toBe('/ops');
    const first = page.locator('#at-risk tr').first();
    expect(await first.getAttribute('data-case')).toBe(atRisk);
    const left = first.locator('td.left');
    const before = (await left.textContent()) as string;
    expect(before).toMatch(/^[23]m \d+s$/);
    expect(await first.textContent()).toContain('firstResponse');
    await expect.poll(() => left.textContent(), { timeout: 5_000 }).not.toBe(before);
    // No personal data in the at-risk list, and the subject (user input) is not there either.
    const panel = (await page.textContent('#panel-at-risk')) as string;
    for (const secret of [CUSTOMER.name, CUSTOMER.phone, CUSTOMER.email, 'Refund']) expect(panel).not.toContain(secret);
    await shot(page, '02-dashboard');
  });

  it('shows the breach, the escalation with its clause, the dead letter and every queue', async () => {
    const found = await rt.engine.get(breached);
    const to = found?.stored.context.escalation?.department as string;
    const toName = found?.policy.departments[to]?.name as string;
    expect(await text(page, `#breaches tr:has-text("${breached}")`)).toMatch(
      new RegExp(`firstResponse ?3\\.1\\.3 ?escalated ?${to} \\(level 1\\)`),
    );
    expect(await text(page, `#escalations tr:has-text("${breached}")`)).toMatch(
      new RegExp(`deadline_missed ?${toName} \\(${to}\\) ?1 ?pending ?3\\.1\\.3`),
    );
    expect(await page.textContent('#dead-total')).toMatch(/^\([1-9]\d*/);
    expect(await page.locator('#dead tr').first().textContent()).toContain(breached);
    const queues = await page.locator('#queues tr td:first-child').allTextContents();
    expect(queues.sort()).toEqual(['deadlines', 'intake', 'notify']);
    const states = await page.locator('#states tr').allTextContents();
    expect(states).toContain('received3');
    expect(states).toContain('escalated1');
    const byContract = await page.locator('#by-contract tr').allTextContents();
    expect(byContract).toEqual(['MC-2026-001received3', 'MC-2026-002escalated1']);
    // The page polls the summary: a new case shows up without a reload.
    const fresh = (await openOverHttp(api, openCase({ subject: 'fresh' }))).id;
    await expect.poll(() => page.locator(`#at-risk tr[data-case="${fresh}"]`).count(), { timeout: 12_000 }).toBe(1);
  });

  it('opens the case page: timeline, deadlines, and the diagram with the current state highlighted', async () => {
    await Promise.all([page.waitForLoadState('load'), page.click(`#at-risk a:text("${atRisk}")`)]);
    expect(new URL(page.url()).pathname).toBe(`/ops/cases/${atRisk}`);
    expect(await text(page, '#timeline tr[data-v="1"]')).toMatch(
      /OPEN.*→ received.*2\.1.*billing-backend.*firstResponse armed.*initialNotice armed/,
    );
    expect(await page.locator('#deadlines tr[data-deadline="firstResponse"] .left').textContent()).toMatch(
      /^[23]m \d+s$/,
    );
    const current = page.locator('svg.machine-diagram g.node.current');
    expect(await current.count()).toBe(1);
    expect(await current.getAttribute('data-state')).toBe('received');
    expect(await page.locator('svg.machine-diagram g.node').count()).toBeGreaterThanOrEqual(7);
    await shot(page, '03-case');
  });

  it('masks personal data and withholds free text for ops', async () => {
    const customer = await text(page, '#customer');
    expect(customer).toContain('张**');
    expect(customer).toContain('5678');
    for (const secret of [CUSTOMER.name, CUSTOMER.phone, CUSTOMER.email]) expect(customer).not.toContain(secret);
    expect(await text(page, '#subject')).toBe('[redacted]');
    expect(await text(page, '#description')).toBe('[redacted]');
    expect(await text(page, '#masked-note')).toContain('masked and free text withheld for role ops');
    const main = await text(page, 'main');
    for (const secret of [DESCRIPTION, 'Refund', CUSTOMER.email]) expect(main).not.toContain(secret);
  });

  it('draws the escalated case with its breach, hand-off and dead delivery on the timeline', async () => {
    await page.goto(`${api.baseUrl}/ops/cases/${breached}`);
    expect(await page.locator('svg.machine-diagram g.node.current').getAttribute('data-state')).toBe('escalated');
    expect(await text(page, '#timeline tr:has-text("firstResponse breached")')).toMatch(
      /DEADLINE received → escalated ?3\.1\.3 ?intervene-timers \(system\) firstResponse breached .*hand-off → \w+ \(level 1\).*hand-off package: dead/,
    );
    // Warnings before the breach (docs/clocks.md), when the policy sets them, are on the timeline too.
    const warned = (await rt.store.history(breached)) as { v: number; data?: { warning?: number } }[];
    for (const e of warned.filter((x) => x.data?.warning !== undefined)) {
      expect(await text(page, `#timeline tr[data-v="${e.v}"]`)).toContain(`firstResponse warning ${e.data?.warning}`);
    }
    await shot(page, '04-case-escalated');
  });

  it('shows Bull Board over the queues at /ops/queues (not intake: its waiting jobs hold personal data)', async () => {
    await page.goto(`${api.baseUrl}/ops/queues`);
    for (const name of ['deadlines', 'notify', 'outages', 'reports']) {
      await page.getByText(name, { exact: true }).first().waitFor({ timeout: 15_000 });
    }
    // The overview's cards: one per queue with its job count; notify holds the dead-lettered deliveries' failed jobs.
    await expect.poll(() => page.getByText(/^\d+ Jobs$/).count(), { timeout: 15_000 }).toBe(4);
    await shot(page, '05-queues');
  });

  it('logs out, after which the pages ask for a login again', async () => {
    await page.goto(`${api.baseUrl}/ops`);
    await Promise.all([page.waitForLoadState('load'), page.click('header button')]);
    expect(new URL(page.url()).pathname).toBe('/ops/login');
    await page.goto(`${api.baseUrl}/ops/cases/${atRisk}`);
    expect(new URL(page.url()).pathname).toBe('/ops/login');
  });

  it('shows a supervisor, who may see personal data, the case whole, the subject as text and never as markup', async () => {
    const supervisor = await newPage();
    await logIn(supervisor, api.keys.supervisor);
    await supervisor.goto(`${api.baseUrl}/ops/cases/${atRisk}`);
    const customer = await text(supervisor, '#customer');
    for (const value of [CUSTOMER.name, CUSTOMER.phone, CUSTOMER.email]) expect(customer).toContain(value);
    expect(await supervisor.textContent('#description')).toBe(DESCRIPTION);
    expect(await supervisor.locator('#masked-note').count()).toBe(0);
    // The subject is user input: an XSS payload shows as the text it is.
    expect(await supervisor.textContent('#subject')).toBe(XSS);
    expect(await supervisor.locator('#subject img, #subject script').count()).toBe(0);
    expect(await supervisor.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    await shot(supervisor, '06-case-supervisor');
  });

  it('made no request to another origin and broke no Content-Security-Policy rule', () => {
    expect(external).toEqual([]);
    expect(cspErrors).toEqual([]);
  });
});
