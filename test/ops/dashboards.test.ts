import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { exposition } from '../../src/metrics/scrape.ts';
import type { Runtime } from '../../src/runtime.ts';
import { waitForState } from '../support/cases.ts';
import { metricsRuntime } from '../support/ops-runtime.ts';
import { openCase, testPolicy } from '../support/policy.ts';
import { checkRulesText, metricNames, parseExposition, promtool } from '../support/prometheus.ts';
import { agent, closeRuntime } from '../support/runtime.ts';

// The example alert rules and the Grafana dashboard in ops/ must stay true to what the service exports:
// promtool checks their PromQL, and every metric they name must be in a real /metrics after traffic.

const ALERTS = new URL('../../ops/prometheus/alerts.yml', import.meta.url);
const DASHBOARD = new URL('../../ops/grafana/intervene.json', import.meta.url);

interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
  __inputs: { name: string; pluginId: string }[];
  panels: Panel[];
  uid: string;
  title: string;
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const dashboardExprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
const rules = (
  parse(readFileSync(ALERTS, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }
).groups.flatMap((g) => g.rules);

/** The data source every panel uses: the dashboard's input, chosen when it is imported. */
const DATASOURCE = ['$', '{DS_PROMETHEUS}'].join('');

/** Grafana's interval variables, as Grafana substitutes them, so promtool can parse the expression. */
const asPromQL = (expr: string) => expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m');

describe('ops/prometheus/alerts.yml', () => {
  it('passes promtool check rules', () => {
    const result = promtool(['check', 'rules', ALERTS.pathname]);
    expect(result.output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(result.status).toBe(0);
    expect(rules.length).toBeGreaterThanOrEqual(10);
  });

  it('covers breaches, firing lateness, dead letters, queue backlog, Redis and readiness', () => {
    const names = new Set(rules.flatMap((r) => metricNames(r.expr)));
    for (const metric of [
      'intervene_deadlines_breached_total',
      'intervene_deadline_firing_lateness_seconds_bucket',
      'intervene_deliveries_dead',
      'intervene_queue_jobs',
      'intervene_redis_up',
      'intervene_ready',
    ]) {
      expect(names, metric).toContain(metric);
    }
  });
});

describe('ops/grafana/intervene.json', () => {
  it('is an importable dashboard whose every query uses the DS_PROMETHEUS data source input', () => {
    expect(dashboard.uid).toBe('intervene-ops');
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', pluginId: 'prometheus' })]);
    expect(dashboardExprs.length).toBeGreaterThanOrEqual(20);
    for (const p of panels.filter((p) => p.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe(DATASOURCE);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
  });

  it('has only valid PromQL (promtool parses every query)', () => {
    const yaml = [
      'groups:',
      '  - name: dashboard',
      '    rules:',
      ...dashboardExprs.flatMap((e, i) => [
        `      - record: dashboard:query_${i}`,
        `        expr: ${JSON.stringify(asPromQL(e.expr))}`,
      ]),
    ].join('\n');
    const result = checkRulesText(yaml);
    expect(result.output).toContain(`SUCCESS: ${dashboardExprs.length} rules found`);
    expect(result.status).toBe(0);
  });
});

describe('metric names in the rules and the dashboard', () => {
  let rt: Runtime;
  let exported: Set<string>;
  let families: Set<string>;

  beforeAll(async () => {
    rt = await metricsRuntime(testPolicy({ firstResponse: 'PT1S' }));
    rt.startWorkers(['deadlines', 'dispatcher']);
    // Some traffic: an opening, a refusal, a deadline missed by the clock and its escalation.
    const { caseId } = await rt.engine.open(openCase(), agent);
    await expect(rt.engine.apply(caseId, { type: 'CLOSE' }, agent)).rejects.toThrow();
    await waitForState(rt, caseId, 'escalated', 5_000);
    const text = await exposition(rt);
    exported = new Set(parseExposition(text).map((s) => s.name));
    families = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string));
  }, 30_000);

  afterAll(async () => {
    if (rt) await closeRuntime(rt);
  });

  it('are all exported by the service (or are Prometheus’s own `up`)', () => {
    const used = new Map<string, string>();
    for (const r of rules) for (const name of metricNames(r.expr)) used.set(name, `alert ${r.alert}`);
    for (const e of dashboardExprs) for (const name of metricNames(e.expr)) used.set(name, `panel "${e.panel}"`);
    expect(used.size).toBeGreaterThanOrEqual(20);
    for (const [name, where] of used) {
      if (name === 'up') continue;
      expect(exported.has(name), `${name} (${where}) is not in /metrics`).toBe(true);
    }
  });

  it('show every metric family the service defines on the dashboard', () => {
    const shown = new Set(dashboardExprs.flatMap((e) => metricNames(e.expr)));
    const base = (name: string) => name.replace(/_(bucket|sum|count)$/, '');
    const shownFamilies = new Set([...shown].map(base));
    const own = [...families].filter((f) => f.startsWith('intervene_') && !/^intervene_(process|nodejs)_/.test(f));
    expect(own.length).toBeGreaterThanOrEqual(18);
    for (const family of own) expect(shownFamilies.has(family), family).toBe(true);
  });
});
