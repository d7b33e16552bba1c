import { mkdirSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, startApi } from '../support/api.ts';
import { closeRuntime } from '../support/runtime.ts';
import { CANARY, CONTRACT, type Seeded, seed } from './seed.ts';

// The HTML report opened in headless Chromium (Debian's, driven by playwright-core), served by the API
// with its Content-Security-Policy: it renders its charts and makes no request beyond the page itself.
// A screenshot goes to test-artifacts/reports/.

const ARTIFACTS = 'test-artifacts/reports';
let seeded: Seeded;
let api: ApiServer;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  seeded = await seed();
  api = await startApi(seeded.rt);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
  if (seeded) await closeRuntime(seeded.rt);
});

describe('the HTML report in a real browser', () => {
  it('renders the figures and the charts, fetches nothing, breaks no content policy', async () => {
    const context = await browser.newContext({
      viewport: { width: 1300, height: 1000 },
      extraHTTPHeaders: { authorization: `Bearer ${api.keys.supervisor}` },
    });
    const page = await context.newPage();
    const requests: string[] = [];
    const logged: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => logged.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logged.push(`pageerror: ${e.message}`));
    const url = `${api.baseUrl}/v1/reports?contractId=${CONTRACT}&from=2026-11-02&to=2026-11-03&format=html`;
    const response = await page.goto(url);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-type']).toMatch(/^text\/html/);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
    await page.waitForLoadState('networkidle');
    expect(requests).toEqual([url]);
    expect(logged).toEqual([]);

    expect(await page.title()).toBe('某某服务主合同 (MC-2026-001) — service report 2026-11-02 to 2026-11-03');
    const cards = await page.locator('.card').allInnerTexts();
    expect(cards.map((c) => c.replace(/\s+/g, ' ').trim())).toEqual([
      'cases opened 5 previous: 2',
      'first response on time 80% previous: 50%',
      'escalation rate 60% previous: 50%',
      'satisfaction 3.5 / 5 previous: —',
      'breaches (real / excused) 2 / 0 clause 6.2 excuses outages',
      'reopen rate 25% 1 of 4 resolutions',
    ]);

    // Charts: every SVG laid out with a size; bars proportional to the figures they draw.
    const charts = page.locator('svg.chart');
    expect(await charts.count()).toBeGreaterThanOrEqual(10);
    for (const box of await charts.evaluateAll((svgs) => svgs.map((s) => s.getBoundingClientRect().toJSON()))) {
      expect(box.width).toBeGreaterThan(100);
      expect(box.height).toBeGreaterThan(20);
    }
    const category = page.locator('figure', { hasText: 'Cases opened by category' });
    const widths = await category
      .locator('rect.bar')
      .evaluateAll((rects) =>
        rects.map((r) => [r.querySelector('title')?.textContent, Number(r.getAttribute('width'))]),
      );
    expect(widths).toEqual([
      ['complaint: 2', 380],
      ['fee_waiver: 1', 190],
      ['inquiry: 1', 190],
      ['small_claim: 1', 190],
    ]);
    const themes = page.locator('figure', { hasText: 'Most frequent issue themes' });
    expect(await themes.locator('text').allTextContents()).toEqual(
      expect.arrayContaining(['refund', '3 ▲ (+2)', 'invoice', '2 = (+0)', '账单', '2 ★ new']),
    );
    const body = (await page.locator('body').textContent()) ?? '';
    for (const value of [CANARY.name, CANARY.namePart, CANARY.latinPart, CANARY.email, CANARY.phoneDigits]) {
      expect(body).not.toContain(value);
    }
    await page.screenshot({ path: `${ARTIFACTS}/report.png`, fullPage: true });
    await context.close();
  }, 60_000);
});
