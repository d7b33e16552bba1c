import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaseView } from '../../src/client/index.ts';
import type { Runtime } from '../../src/runtime.ts';
import { type ApiResponse, type ApiServer, openOverHttp, sendOverHttp, startApi } from '../support/api.ts';
import { CONTRACT, openCase, testPolicy } from '../support/policy.ts';
import { closeRuntime, testRuntime, VERIFY } from '../support/runtime.ts';
import { sleep } from '../support/wait.ts';

// GET /v1/cases over real HTTP: filters, newest first, cursor paging without duplicates or gaps.

const OTHER = 'MC-2026-002';
let rt: Runtime;
let api: ApiServer;
/** Every case opened here, oldest first. */
const opened: { id: string; kind: string }[] = [];

function otherContract() {
  const p = testPolicy();
  return { ...p, contract: { ...p.contract, id: OTHER, name: 'another contract' } };
}

beforeAll(async () => {
  rt = await testRuntime({ policies: [testPolicy(), otherContract()] });
  api = await startApi(rt);
  // 25 cases of different kinds, opened one after another (a couple of ms apart: distinct opening times).
  for (let i = 0; i < 25; i++) {
    const kind = ['plain', 'verified', 'legal', 'finance', 'other'][i % 5] as string;
    const body =
      kind === 'legal'
        ? openCase({ category: 'complaint', flags: ['legal_dispute'], subject: `case ${i}` })
        : kind === 'other'
          ? openCase({ contractId: OTHER, subject: `case ${i}` })
          : openCase({ subject: `case ${i}` });
    const { id } = await openOverHttp(api, body);
    if (kind === 'verified' || kind === 'finance') await sendOverHttp(api, id, VERIFY);
    if (kind === 'finance') {
      await sendOverHttp(api, id, { type: 'COORDINATE', department: 'finance', request: 'check' });
    }
    opened.push({ id, kind });
    await sleep(2);
  }
});
afterAll(async () => {
  await api?.close();
  if (rt) await closeRuntime(rt);
});

const newestFirst = (kinds?: string[]) =>
  opened
    .filter((c) => !kinds || kinds.includes(c.kind))
    .map((c) => c.id)
    .reverse();

async function list(query: string, as: 'service' | 'legal' | 'finance' = 'service') {
  const res = await api.request('GET', `/v1/cases${query}`, { as });
  expect(res.status, res.text).toBe(200);
  expect(Object.keys(res.body).sort()).toEqual(['items', 'nextCursor']);
  return res.body as { items: CaseView[]; nextCursor: string | null };
}

/** Follows nextCursor to the end, checking each page's size. */
async function pages(query: string, limit: number) {
  const seen: string[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 50; i++) {
    const sep = query ? '&' : '';
    const page = await list(`?${query}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    sizes.push(page.items.length);
    seen.push(...page.items.map((c) => c.id));
    cursor = page.nextCursor;
    if (!cursor) return { seen, sizes };
  }
  throw new Error('more than 50 pages');
}

describe('GET /v1/cases', () => {
  it('pages through every case, newest first, 10 at a time: no duplicates, no gaps', async () => {
    const { seen, sizes } = await pages('', 10);
    expect(seen).toEqual(newestFirst());
    expect(new Set(seen).size).toBe(25);
    expect(sizes.slice(0, 2)).toEqual([10, 10]);
    const all = await list('?limit=200');
    expect(all.items.map((c) => c.id)).toEqual(newestFirst());
    expect(all.nextCursor).toBeNull();
    const createdAt = all.items.map((c) => Date.parse(c.createdAt as string));
    expect(createdAt).toEqual([...createdAt].sort((a, b) => b - a));
  });

  it('the default limit is 50 and the typed client pages the same way', async () => {
    const client = api.client('service');
    expect((await client.listCases()).items).toHaveLength(25);
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listCases({ limit: 7, ...(cursor ? { cursor } : {}) });
      ids.push(...page.items.map((c) => c.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(ids).toEqual(newestFirst());
  });

  it('filters by state, and pages within the filter', async () => {
    expect((await list('?state=received&limit=200')).items.map((c) => c.id)).toEqual(newestFirst(['plain', 'other']));
    expect((await list('?state=verified')).items.map((c) => c.id)).toEqual(newestFirst(['verified']));
    expect((await list('?state=escalated')).items.map((c) => c.id)).toEqual(newestFirst(['legal']));
    expect((await list('?state=coordinating')).items.map((c) => c.id)).toEqual(newestFirst(['finance']));
    expect((await list('?state=closed')).items).toEqual([]);
    const { seen } = await pages('state=received', 3);
    expect(seen).toEqual(newestFirst(['plain', 'other']));
    for (const item of (await list('?state=escalated')).items) expect(item.state).toBe('escalated');
  });

  it('filters by contractId', async () => {
    expect((await list(`?contractId=${OTHER}`)).items.map((c) => c.id)).toEqual(newestFirst(['other']));
    const { seen } = await pages(`contractId=${CONTRACT}`, 4);
    expect(seen).toEqual(newestFirst(['plain', 'verified', 'legal', 'finance']));
    expect((await list('?contractId=MC-NONE')).items).toEqual([]);
  });

  it('filters by department, combined with state', async () => {
    expect((await list('?department=legal')).items.map((c) => c.id)).toEqual(newestFirst(['legal']));
    expect((await list('?department=finance')).items.map((c) => c.id)).toEqual(newestFirst(['finance']));
    expect((await list('?department=finance&state=received')).items).toEqual([]);
    expect((await list('?department=legal&state=escalated')).items.map((c) => c.id)).toEqual(newestFirst(['legal']));
    // A department key is scoped to its own cases whatever it asks for.
    expect((await list('', 'finance')).items.map((c) => c.id)).toEqual(newestFirst(['finance']));
    expect((await list('?department=finance', 'finance')).items.map((c) => c.id)).toEqual(newestFirst(['finance']));
  });

  it('filters by breached', async () => {
    // Nothing has breached yet: every case is breached=false.
    expect((await list('?breached=true')).items).toEqual([]);
    expect((await list('?breached=false&limit=200')).items.map((c) => c.id)).toEqual(newestFirst());
    expect((await api.client('service').listCases({ breached: true })).items).toEqual([]);
  });

  it('filters by dueBefore: soonest due first, only cases with an armed deadline before the bound', async () => {
    // firstResponse (15 min) is armed on every received and verified case; escalated ones have handoff (2 h);
    // coordinating ones have coordination (1 d) and nothing earlier (firstResponse was met by COORDINATE).
    const inTwentyMinutes = new Date(Date.now() + 20 * 60_000).toISOString();
    const soon = (await list(`?dueBefore=${encodeURIComponent(inTwentyMinutes)}&limit=200`)).items;
    expect(soon.map((c) => c.id).sort()).toEqual(newestFirst(['plain', 'verified', 'other']).sort());
    const due = soon.map((c) =>
      Math.min(...c.deadlines.filter((d) => d.status === 'armed').map((d) => Date.parse(d.dueAt as string))),
    );
    expect(due).toEqual([...due].sort((a, b) => a - b));
    const inThreeHours = new Date(Date.now() + 3 * 3_600_000).toISOString();
    const later = (await list(`?dueBefore=${encodeURIComponent(inThreeHours)}&limit=200`)).items;
    expect(later.map((c) => c.id).sort()).toEqual(newestFirst(['plain', 'verified', 'other', 'legal']).sort());
    const { seen } = await pages(`dueBefore=${encodeURIComponent(inThreeHours)}`, 4);
    expect(seen).toEqual(later.map((c) => c.id));
    const past = new Date(Date.now() - 60_000).toISOString();
    expect((await list(`?dueBefore=${encodeURIComponent(past)}`)).items).toEqual([]);
  });

  it('limit=1 pages one case at a time', async () => {
    const { seen, sizes } = await pages('', 1);
    expect(seen).toEqual(newestFirst());
    expect(sizes.filter((s) => s === 1)).toHaveLength(25);
  });
});

describe('GET /v1/cases when many cases share an opening time', () => {
  it('cursor paging loses no case when more than limit+50 cases of one partition share one opening time', async () => {
    // An injected clock (as the engine supports) opens 300 cases in the same millisecond: ~75 per partition.
    const now = Date.now();
    const tied = await testRuntime({ clock: () => now });
    const tiedApi = await startApi(tied);
    try {
      const ids = new Set<string>();
      for (let i = 0; i < 300; i++) {
        ids.add(
          (await tied.engine.open(openCase({ subject: `tie ${i}` }), { name: 'importer', role: 'service' })).caseId,
        );
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 100; page++) {
        const res: ApiResponse = await tiedApi.request('GET', `/v1/cases?limit=10${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        seen.push(...res.body.items.map((c: CaseView) => c.id));
        cursor = res.body.nextCursor;
        if (!cursor) break;
      }
      expect(new Set(seen).size).toBe(seen.length);
      expect(new Set(seen)).toEqual(ids);
    } finally {
      await tiedApi.close();
      await closeRuntime(tied);
    }
  });
});
