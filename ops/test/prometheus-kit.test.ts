import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { alertRules, allPanels, dashboardExpressions, kitPaths, readDashboard } from './kit-files.ts';
import { promtool, requirePromtool, type PromtoolResult } from './promtool.ts';

const output = (r: PromtoolResult) => `exit ${r.code}\n${r.stdout}${r.stderr}`;

beforeAll(() => {
  requirePromtool();
});

describe('ops/prometheus', () => {
  it('prometheus.yml passes promtool check config (its rule files included)', async () => {
    const result = await promtool(['check', 'config', kitPaths.prometheusConfig]);
    expect(result.code, output(result)).toBe(0);
    expect(result.stdout).toContain('SUCCESS: 1 rule files found');
  });

  it('scrapes ingest :8080, verifier :8081 and analytics :8082 under their own jobs', async () => {
    const text = await readFile(kitPaths.prometheusConfig, 'utf8');
    for (const [job, port] of [['cityops-ingest', 8080], ['cityops-verifier', 8081], ['cityops-analytics', 8082]] as const) {
      expect(text).toMatch(new RegExp(`job_name: ${job}\\n(?:\\s+.*\\n)*?\\s+- targets: \\['127\\.0\\.0\\.1:${port}'\\]`));
    }
  });

  it('cityops-rules.yml passes promtool check rules', async () => {
    const result = await promtool(['check', 'rules', kitPaths.rules]);
    expect(result.code, output(result)).toBe(0);
    expect(result.stdout + result.stderr).not.toMatch(/warn|lint/i);
  });

  it('cityops-rules.test.yml passes promtool test rules', async () => {
    const result = await promtool(['test', 'rules', kitPaths.rulesTests]);
    expect(result.code, output(result)).toBe(0);
    expect(result.stdout).toContain('SUCCESS');
  });

  it('every alert holds for a while and carries a severity, a summary and a description', async () => {
    const rules = alertRules(await readFile(kitPaths.rules, 'utf8'));
    expect(rules.length).toBeGreaterThanOrEqual(10);
    for (const { alert, text } of rules) {
      expect(text, alert).toMatch(/^\s+expr: /m);
      expect(text, alert).toMatch(/^\s+for: \d+[smh]$/m);
      expect(text, alert).toMatch(/^\s+severity: (warning|critical)$/m);
      expect(text, alert).toMatch(/^\s+summary: \S/m);
      expect(text, alert).toMatch(/^\s+description: \S/m);
    }
  });

  it('covers what issue 5 asks of the pipeline', async () => {
    // What each rule's expression says: its text up to `for:`.
    const expressions = alertRules(await readFile(kitPaths.rules, 'utf8')).map(({ text }) => text.split(/^\s+for: /m)[0] ?? '');
    const covered = {
      'ingest lag': 'cityops_ingest_lag_seconds',
      'writer backlog': 'cityops_ingest_buffered_rows',
      'dead-letter rate': 'outcome="dead_letter"',
      'warehouse insert failures': 'cityops_ingest_warehouse_errors_total',
      'verifier pool queue': 'cityops_verifier_pool_queue_batches',
      'OVERLOADED verdicts': 'cityops_verifier_overloaded_total',
      'pool utilization': 'cityops_verifier_pool_utilization',
      'stale trust list': 'cityops_verifier_trust_age_seconds',
      'stale revocation data': 'cityops_verifier_revocation_age_seconds',
      'broker client drops': 'cityops_broker_clients',
      'rollup failures': 'cityops_analytics_rollup_runs_total{outcome="failed"}',
      // Issues 15 and 17: clients flooding the broker before authentication; devices inventing sensors.
      'connections refused before authentication': 'cityops_broker_refused_sockets_total',
      'packets over the wire limits': 'cityops_broker_refused_packets_total',
      'readings of unknown sensors': 'cityops_ingest_sensor_refusals_total',
    };
    for (const [what, needle] of Object.entries(covered)) {
      expect(expressions.some((expr) => expr.includes(needle)), `no alert expression about ${what} (${needle})`).toBe(true);
    }
  });
});

describe('ops/grafana/cityops-dashboard.json', () => {
  it('is an importable dashboard: Prometheus as the DS_PROMETHEUS input, schema 39, unique panel ids', async () => {
    const dashboard = await readDashboard();
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.uid).toBe('cityops-pipeline');
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    const panels = allPanels(dashboard.panels);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size, 'panel ids are unique').toBe(ids.length);
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
      expect(panel.gridPos, panel.title).toBeDefined();
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
  });

  it('has the panels an operator looks for', async () => {
    const titles = allPanels((await readDashboard()).panels).map((p) => p.title);
    for (const title of [
      'Readings/s',
      'Publish → visible latency',
      'Writer backlog',
      'Dead letters by reason',
      'Broker clients',
      'Verifications/s by verdict',
      'Verify latency p99',
      'Pool utilization',
      'Trust list and revocation age',
      'Indicator query p99',
      'Rollup runs',
    ]) {
      expect(titles).toContain(title);
    }
  });

  it('every panel query is valid PromQL (promtool check rules over them, Grafana variables filled in)', async () => {
    const expressions = dashboardExpressions(await readDashboard());
    expect(expressions.length).toBeGreaterThanOrEqual(11);
    const rules = expressions.map(
      (expr, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*'))}`,
    );
    const dir = await mkdtemp(join(tmpdir(), 'cityops-ops-dashboard-'));
    try {
      const file = join(dir, 'dashboard-queries.yml');
      await writeFile(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
      const result = await promtool(['check', 'rules', file]);
      expect(result.code, output(result)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
