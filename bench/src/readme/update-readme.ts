/**
 * `npm run bench:readme [-- --results DIR --doc FILE --charts DIR] [--check]`: rewrites the
 * benchmarks page's section (docs/BENCHMARKS.md, between `<!-- bench:begin -->` and
 * `<!-- bench:end -->`) from the newest report of each scenario in bench/results, and draws its
 * charts into docs/bench/. `--check` writes nothing and exits 1 when the page or a chart is not
 * what the committed reports give (the README keeps only a headline and links to the page).
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
  /** The Markdown page with the bench markers (docs/BENCHMARKS.md). */
  readonly docPath: string;
  /** Where the page's charts go; SVGs of ours there that no scenario draws any more are removed. */
  readonly chartsDir: string;
}

/** What `updateReadme` would write: the page's whole text, each chart, and our charts no scenario draws any more. */
export interface BenchDocPlan {
  readonly scenarios: string[];
  readonly text: string;
  readonly charts: readonly { readonly path: string; readonly svg: string }[];
  readonly stale: readonly string[];
}

/** A chart file name this tool writes: `<scenario>-<n>.svg`. */
const OUR_CHART = /^[a-z0-9_-]+-\d+\.svg$/;

/** A result's own charts, or, for a report written before results carried charts, those its scenario draws from the figures. */
function chartsOf(result: ScenarioResult): readonly Chart[] {
  return result.charts ?? SCENARIO_CHARTS[result.scenario]?.(result) ?? [];
}

/** A link from the page to `path`, with forward slashes. */
function href(docPath: string, path: string): string {
  return relative(dirname(docPath), path).split(sep).join('/');
}

/** Reads the reports and the page and renders everything, writing nothing. */
export async function planBenchDoc(o: UpdateReadmeOptions): Promise<BenchDocPlan> {
  const latest = newestPerScenario(await readReports(o.resultsDir));
  if (latest.length === 0) throw new Error(`no bench report in ${o.resultsDir}; run \`npm run bench\` first`);
  const charts: { path: string; svg: string }[] = [];
  const entries: SectionEntry[] = [];
  for (const { stored, result } of latest) {
    const drawn = [];
    for (const [i, chart] of chartsOf(result).entries()) {
      const path = join(o.chartsDir, `${result.scenario}-${i + 1}.svg`);
      charts.push({ path, svg: renderChart(chart) });
      drawn.push({ chart, href: href(o.docPath, path) });
    }
    entries.push({
      result,
      machine: stored.report.machine,
      command: stored.report.command,
      reportHref: href(o.docPath, stored.path.replace(/\.json$/, '.md')),
      charts: drawn,
    });
  }
  const existing = await readdir(o.chartsDir).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  });
  const stale = existing
    .filter((name) => OUR_CHART.test(name))
    .map((name) => join(o.chartsDir, name))
    .filter((path) => !charts.some((c) => c.path === path));
  const text = replaceBenchSection(await readFile(o.docPath, 'utf8'), renderBenchSection(entries));
  return { scenarios: latest.map((l) => l.result.scenario), text, charts, stale };
}

export async function updateReadme(o: UpdateReadmeOptions): Promise<{ scenarios: string[]; charts: string[] }> {
  const plan = await planBenchDoc(o);
  await mkdir(o.chartsDir, { recursive: true });
  for (const c of plan.charts) await writeFile(c.path, c.svg);
  for (const path of plan.stale) await rm(path);
  await writeFile(o.docPath, plan.text);
  return { scenarios: plan.scenarios, charts: plan.charts.map((c) => c.path) };
}

/** What differs between the files on disk and the plan: the page, a chart missing or changed, a stale chart. */
export async function benchDocDifferences(o: UpdateReadmeOptions): Promise<string[]> {
  const plan = await planBenchDoc(o);
  const differences: string[] = [];
  const read = (path: string) => readFile(path, 'utf8').catch(() => undefined);
  if ((await read(o.docPath)) !== plan.text) differences.push(`${o.docPath}: not what the reports give`);
  for (const c of plan.charts) if ((await read(c.path)) !== c.svg) differences.push(`${c.path}: missing or not what its report gives`);
  for (const path of plan.stale) differences.push(`${path}: no scenario draws it any more`);
  return differences;
}

const USAGE = `npm run bench:readme [-- --results DIR] [--doc FILE] [--charts DIR] [--check]
  rewrites docs/BENCHMARKS.md between its bench markers, and docs/bench/*.svg, from the newest report
  of each scenario in bench/results; --check writes nothing and exits 1 if they are out of date.`;

/** The command line: usage on --help, one line and exit code 2 on a misuse (as `npm run bench`). */
function parseCommandLine(argv: readonly string[], root: string) {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        results: { type: 'string', default: join(root, 'bench', 'results') },
        doc: { type: 'string', default: join(root, 'docs', 'BENCHMARKS.md') },
        charts: { type: 'string', default: join(root, 'docs', 'bench') },
        check: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`npm run bench:readme: ${(err as Error).message.split('\n')[0] ?? ''} (npm run bench:readme -- --help shows the usage)\n`);
    process.exit(2);
  }
}

if (process.argv[1] === import.meta.filename) {
  const values = parseCommandLine(process.argv.slice(2), join(import.meta.dirname, '..', '..', '..'));
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const options = { resultsDir: values.results, docPath: values.doc, chartsDir: values.charts };
  const run = values.check
    ? benchDocDifferences(options).then((differences) => {
        if (differences.length === 0) return `${values.doc}: up to date with ${values.results}`;
        process.exitCode = 1;
        return `${differences.join('\n')}\nrun \`npm run bench:readme\` and commit the page and its charts`;
      })
    : updateReadme(options).then(({ scenarios, charts }) => `${values.doc}: ${scenarios.join(', ')}; ${charts.length} charts in ${values.charts}`);
  run.then(
    (line) => process.stdout.write(`${line}\n`),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
