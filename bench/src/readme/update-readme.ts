/**
 * `npm run bench:readme [-- --results DIR --readme FILE --charts DIR]`: rewrites the README's
 * section between `<!-- bench:begin -->` and `<!-- bench:end -->` from the newest report of each
 * scenario in bench/results, and draws its charts into docs/bench/.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { parseArgs } from 'node:util';
import type { Chart } from '../charts/chart-spec.ts';
import { renderChart } from '../charts/render-chart.ts';
import { SCENARIO_CHARTS } from '../charts/scenario-charts.ts';
import type { ScenarioResult } from '../scenario.ts';
import { newestPerScenario, readReports } from './latest-results.ts';
import { renderBenchSection, replaceBenchSection, type SectionEntry } from './readme-section.ts';

export interface UpdateReadmeOptions {
  readonly resultsDir: string;
  readonly readmePath: string;
  /** Where the README's charts go; SVGs of ours there that no scenario draws any more are removed. */
  readonly chartsDir: string;
}

/** A chart file name this tool writes: `<scenario>-<n>.svg`. */
const OUR_CHART = /^[a-z0-9_-]+-\d+\.svg$/;

/** A result's own charts, or, for a report written before results carried charts, those its scenario draws from the figures. */
function chartsOf(result: ScenarioResult): readonly Chart[] {
  return result.charts ?? SCENARIO_CHARTS[result.scenario]?.(result) ?? [];
}

/** A link from the README to `path`, with forward slashes. */
function href(readmePath: string, path: string): string {
  return relative(dirname(readmePath), path).split(sep).join('/');
}

export async function updateReadme(o: UpdateReadmeOptions): Promise<{ scenarios: string[]; charts: string[] }> {
  const latest = newestPerScenario(await readReports(o.resultsDir));
  if (latest.length === 0) throw new Error(`no bench report in ${o.resultsDir}; run \`npm run bench\` first`);
  await mkdir(o.chartsDir, { recursive: true });
  const written: string[] = [];
  const entries: SectionEntry[] = [];
  for (const { stored, result } of latest) {
    const charts = [];
    for (const [i, chart] of chartsOf(result).entries()) {
      const path = join(o.chartsDir, `${result.scenario}-${i + 1}.svg`);
      await writeFile(path, renderChart(chart));
      written.push(path);
      charts.push({ chart, href: href(o.readmePath, path) });
    }
    entries.push({
      result,
      machine: stored.report.machine,
      command: stored.report.command,
      reportHref: href(o.readmePath, stored.path.replace(/\.json$/, '.md')),
      charts,
    });
  }
  for (const name of await readdir(o.chartsDir)) {
    const path = join(o.chartsDir, name);
    if (OUR_CHART.test(name) && !written.includes(path)) await rm(path);
  }
  const readme = await readFile(o.readmePath, 'utf8');
  await writeFile(o.readmePath, replaceBenchSection(readme, renderBenchSection(entries)));
  return { scenarios: latest.map((l) => l.result.scenario), charts: written };
}

if (process.argv[1] === import.meta.filename) {
  const root = join(import.meta.dirname, '..', '..', '..');
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      results: { type: 'string', default: join(root, 'bench', 'results') },
      readme: { type: 'string', default: join(root, 'README.md') },
      charts: { type: 'string', default: join(root, 'docs', 'bench') },
    },
  });
  updateReadme({ resultsDir: values.results, readmePath: values.readme, chartsDir: values.charts }).then(
    ({ scenarios, charts }) => process.stdout.write(`${values.readme}: ${scenarios.join(', ')}; ${charts.length} charts in ${values.charts}\n`),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
