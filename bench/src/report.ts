import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderChart } from './charts/render-chart.ts';
import type { MachineInfo } from './machine-info.ts';
import { renderProfiles } from './profiling/profile-markdown.ts';
import type { ScenarioResult } from './scenario.ts';

export interface BenchReport {
  readonly machine: MachineInfo;
  /** The command line that produced the report (`npm run bench -- alerts --duration 20`). */
  readonly command?: string;
  /** A smoke run: it proves the scenarios work, its figures mean nothing (the README skips it). */
  readonly smoke?: boolean;
  readonly results: readonly ScenarioResult[];
}

/** `2026-11-26T14:27:08.472Z` → `2026-11-26T14-27-08Z`: the name of a report's files. */
export function reportStamp(date: string): string {
  return date.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
}

/** The file of a result's n-th chart (from 1), next to the report's Markdown. */
export function chartFileName(stamp: string, scenario: string, n: number): string {
  return `${stamp}-${scenario}-${n}.svg`;
}

export function renderMarkdown(report: BenchReport): string {
  const m = report.machine;
  const stamp = reportStamp(m.date);
  const lines = [
    `# cityops benchmark report`,
    '',
    `${m.date} · git ${m.gitSha} · Node ${m.node} · ${m.cpu} × ${m.cores} cores · ${m.memoryGiB} GiB`,
    '',
    ...(report.command === undefined ? [] : [`\`${report.command}\`${report.smoke === true ? ' (smoke run: the figures mean nothing)' : ''}`, '']),
  ];
  for (const r of report.results) {
    lines.push(`## ${r.scenario}`, '', r.question, '', '| figure | value |', '|---|---|');
    for (const [name, value] of Object.entries(r.figures)) {
      lines.push(`| ${name} | ${Number.isInteger(value) ? value : value.toFixed(2)} |`);
    }
    if (r.targets.length > 0) {
      lines.push('', '| target | wanted | met |', '|---|---|---|');
      for (const t of r.targets) lines.push(`| ${t.name} | ${t.target} | ${t.met ? 'yes' : '**no**'} |`);
    }
    if (r.notes.length > 0) lines.push('', ...r.notes.map((n) => `- ${n}`));
    (r.charts ?? []).forEach((c, i) => lines.push('', `![${c.title}](${chartFileName(stamp, r.scenario, i + 1)})`));
    for (const t of r.tables ?? []) {
      lines.push('', `${t.title}:`, '', `| ${t.columns.join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`);
      for (const row of t.rows) lines.push(`| ${row.join(' | ')} |`);
    }
    if (r.profiles !== undefined) {
      lines.push('', '### CPU profiles', '', `\`${r.profiles.dir}\` (\`npm run bench:profile-report -- <dir>\` reads them again).`, '');
      lines.push(...(r.profiles.threads.length === 0 ? ['No profile was written.'] : renderProfiles(r.profiles.threads, { headingLevel: 4, top: 15 })));
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** Writes `<dir>/<date>.json`, `<dir>/<date>.md` and each chart as `<dir>/<date>-<scenario>-<n>.svg`; returns their paths. */
export async function writeReport(dir: string, report: BenchReport): Promise<{ json: string; markdown: string; charts: string[] }> {
  await mkdir(dir, { recursive: true });
  const stamp = reportStamp(report.machine.date);
  const json = join(dir, `${stamp}.json`);
  const markdown = join(dir, `${stamp}.md`);
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(markdown, renderMarkdown(report));
  const charts: string[] = [];
  for (const r of report.results) {
    for (const [i, chart] of (r.charts ?? []).entries()) {
      const path = join(dir, chartFileName(stamp, r.scenario, i + 1));
      await writeFile(path, renderChart(chart));
      charts.push(path);
    }
  }
  return { json, markdown, charts };
}
