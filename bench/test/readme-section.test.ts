import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { newestPerScenario, type StoredReport } from '../src/readme/latest-results.ts';
import { BEGIN_MARKER, END_MARKER, replaceBenchSection } from '../src/readme/readme-section.ts';
import { benchDocDifferences, updateReadme } from '../src/readme/update-readme.ts';
import type { BenchReport } from '../src/report.ts';
import type { ScenarioResult } from '../src/scenario.ts';

const machine = (date: string) => ({ gitSha: 'abc1234', node: 'v20.20.2', cpu: 'AMD EPYC', cores: 2, memoryGiB: 24, date });

function result(scenario: string, figures: Record<string, number>, met = true): ScenarioResult {
  return { scenario, question: `How fast is ${scenario}?`, figures, targets: [{ name: `${scenario} target`, target: '>= 1', met }], notes: [] };
}

function stored(date: string, results: ScenarioResult[], extra: Partial<BenchReport> = {}): StoredReport {
  return { path: `/r/${date}.json`, report: { machine: machine(date), results, ...extra } };
}

describe('replaceBenchSection', () => {
  const readme = `# title\n\nprose before\n\n${BEGIN_MARKER}\nold figures\n${END_MARKER}\n\nprose after\n`;

  it('replaces only what is between the markers and keeps them', () => {
    const out = replaceBenchSection(readme, 'new figures');
    expect(out).toBe(`# title\n\nprose before\n\n${BEGIN_MARKER}\nnew figures\n${END_MARKER}\n\nprose after\n`);
    expect(replaceBenchSection(out, 'new figures')).toBe(out); // idempotent
  });

  it('refuses a README without the markers, with them reversed or twice', () => {
    expect(() => replaceBenchSection('# no markers\n', 'x')).toThrow(/no <!-- bench:begin -->/);
    expect(() => replaceBenchSection(`${END_MARKER}\n${BEGIN_MARKER}\n`, 'x')).toThrow(/comes before/);
    expect(() => replaceBenchSection(`${readme}${readme}`, 'x')).toThrow(/more than one/);
  });
});

describe('newestPerScenario', () => {
  it('takes each scenario from the newest report that ran it, skipping smoke runs, in a fixed order', () => {
    const old = stored('2026-11-26T10:00:00.000Z', [result('codec', { a: 1 }), result('ingest', { a: 1 }), result('verify', { a: 1 })]);
    const newer = stored('2026-11-26T12:00:00.000Z', [result('verify', { a: 2 }), result('soak', { a: 2 })]);
    const smoke = stored('2026-11-26T13:00:00.000Z', [result('verify', { a: 3 })], { smoke: true });
    const latest = newestPerScenario([newer, smoke, old]);
    expect(latest.map((l) => [l.result.scenario, l.result.figures.a])).toEqual([
      ['codec', 1],
      ['ingest', 1],
      ['verify', 2],
      ['soak', 2],
    ]);
  });
});

describe('updateReadme (docs/BENCHMARKS.md)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('writes the section and its charts from the committed-style reports, leaving the rest of the page alone; --check finds what is out of date', async () => {
    const root = await mkdtemp(join(tmpdir(), 'cityops-bench-readme-'));
    dirs.push(root);
    const results = join(root, 'bench', 'results');
    const charts = join(root, 'docs', 'bench');
    await mkdir(results, { recursive: true });
    await mkdir(charts, { recursive: true });
    await writeFile(join(charts, 'gone-1.svg'), '<svg/>'); // a scenario no report has any more
    await writeFile(join(charts, 'keep.png'), 'not ours');
    const first: BenchReport = {
      machine: machine('2026-11-26T10:00:00.000Z'),
      results: [result('ingest', { readings_per_second: 500_000, chdb_ceiling_readings_per_second: 1_000_000, visible_p50_ms: 600, visible_p99_ms: 1200 }, false)],
    };
    const second: BenchReport = {
      machine: machine('2026-11-26T12:00:00.000Z'),
      command: 'npm run bench -- alerts --duration 20',
      results: [result('alerts', { alert_visible_p50_ms: 29, alert_visible_p90_ms: 52, alert_visible_p99_ms: 85, alert_visible_max_ms: 87 })],
    };
    await writeFile(join(results, '2026-11-26T10-00-00Z.json'), JSON.stringify(first));
    await writeFile(join(results, '2026-11-26T12-00-00Z.json'), JSON.stringify(second));
    await writeFile(join(results, 'notes.json'), '{}'); // not a report: ignored
    const docPath = join(root, 'docs', 'BENCHMARKS.md');
    const before = '# cityops\n\n## Measured\n\nHand-written prose.\n\n';
    const after = '\n\n## Development\n\nMore prose.\n';
    await writeFile(docPath, `${before}${BEGIN_MARKER}\nstale\n${END_MARKER}${after}`);

    const { scenarios } = await updateReadme({ resultsDir: results, docPath, chartsDir: charts });
    expect(scenarios).toEqual(['ingest', 'alerts']);
    const readme = await readFile(docPath, 'utf8');
    expect(readme.startsWith(`${before}${BEGIN_MARKER}\n`)).toBe(true);
    expect(readme.endsWith(`\n${END_MARKER}${after}`)).toBe(true);
    expect(readme).not.toContain('stale');
    expect(readme).toContain('`npm run bench -- alerts --duration 20` · 2026-11-26 12:00 UTC · git abc1234');
    expect(readme).toContain('command not recorded · 2026-11-26 10:00 UTC'); // the older report, kept for ingest
    expect(readme).toContain('report [../bench/results/2026-11-26T10-00-00Z.md](../bench/results/2026-11-26T10-00-00Z.md)');
    expect(readme).toContain('| ingest target | >= 1 | **not met** |');
    expect(readme).toContain('| readings/s into the warehouse, next to chDB inserting the same rows | cityops ingest (MQTT → WAL → chDB) | **500,000 readings/s** | 0.5× chDB engine alone, pre-encoded RowBinary; 1.67× the target |');
    expect(readme).toContain('| publish → queryable latency | p50 | **600 ms** |  |'); // the target is for p99 only
    expect(readme).toContain('|  | p99 | **1,200 ms** | 0.6× the target |');
    expect(readme).toContain('](bench/ingest-1.svg)');
    expect(readme).toContain('](bench/alerts-1.svg)');
    expect((await readdir(charts)).sort()).toEqual(['alerts-1.svg', 'ingest-1.svg', 'ingest-2.svg', 'keep.png']);

    await updateReadme({ resultsDir: results, docPath, chartsDir: charts });
    expect(await readFile(docPath, 'utf8')).toBe(readme); // deterministic
    const options = { resultsDir: results, docPath, chartsDir: charts };
    expect(await benchDocDifferences(options)).toEqual([]);

    // Out of date: a chart edited by hand, one no scenario draws, the page's section edited.
    await writeFile(join(charts, 'alerts-1.svg'), '<svg/>');
    await writeFile(join(charts, 'gone-2.svg'), '<svg/>');
    await writeFile(docPath, readme.replace('**600 ms**', '**60 ms**'));
    expect(await benchDocDifferences(options)).toEqual([
      `${docPath}: not what the reports give`,
      `${join(charts, 'alerts-1.svg')}: missing or not what its report gives`,
      `${join(charts, 'gone-2.svg')}: no scenario draws it any more`,
    ]);
  });
});

describe('the committed docs/BENCHMARKS.md', () => {
  it('and docs/bench/ are what `npm run bench:readme` makes of the committed reports in bench/results', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const differences = await benchDocDifferences({ resultsDir: join(root, 'bench', 'results'), docPath: join(root, 'docs', 'BENCHMARKS.md'), chartsDir: join(root, 'docs', 'bench') });
    expect(differences).toEqual([]);
  });
});
