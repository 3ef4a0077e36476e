import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MachineInfo } from './machine-info.ts';
import type { ScenarioResult } from './scenario.ts';

export interface BenchReport {
  readonly machine: MachineInfo;
  readonly results: readonly ScenarioResult[];
}

export function renderMarkdown(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `# cityops benchmark report`,
    '',
    `${m.date} · git ${m.gitSha} · Node ${m.node} · ${m.cpu} × ${m.cores} cores · ${m.memoryGiB} GiB`,
    '',
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
    for (const t of r.tables ?? []) {
      lines.push('', `${t.title}:`, '', `| ${t.columns.join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`);
      for (const row of t.rows) lines.push(`| ${row.join(' | ')} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** Writes `<dir>/<date>.json` and `<dir>/<date>.md`; returns their paths. */
export async function writeReport(dir: string, report: BenchReport): Promise<{ json: string; markdown: string }> {
  await mkdir(dir, { recursive: true });
  const stamp = report.machine.date.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  const json = join(dir, `${stamp}.json`);
  const markdown = join(dir, `${stamp}.md`);
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(markdown, renderMarkdown(report));
  return { json, markdown };
}
