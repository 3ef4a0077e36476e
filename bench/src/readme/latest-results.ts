/** The reports in a results directory, and for each scenario the newest report that ran it. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchReport } from '../report.ts';
import type { ScenarioResult } from '../scenario.ts';

export interface StoredReport {
  /** The report's JSON file. */
  readonly path: string;
  readonly report: BenchReport;
}

export interface LatestResult {
  readonly stored: StoredReport;
  readonly result: ScenarioResult;
}

/** The order scenarios appear in; others follow by name. */
const ORDER = ['codec', 'ingest', 'verify', 'scan', 'query', 'alerts', 'broker', 'hostile', 'edge', 'soak', 'scaling', 'memory'];

/** Every `<stamp>.json` report in `dir` (other files are left alone). */
export async function readReports(dir: string): Promise<StoredReport[]> {
  const names = (await readdir(dir)).filter((n) => /^\d{4}-\d\d-\d\dT[\d-]+Z\.json$/.test(n)).sort();
  const reports: StoredReport[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const report = JSON.parse(await readFile(path, 'utf8')) as BenchReport;
    if (typeof report.machine?.date !== 'string' || !Array.isArray(report.results)) throw new Error(`${path} is not a bench report (no machine.date or results)`);
    reports.push({ path, report });
  }
  return reports;
}

/**
 * For each scenario, its result in the newest report that ran it, so a report of some scenarios
 * does not hide the others' older results. Smoke runs are skipped: their figures mean nothing.
 */
export function newestPerScenario(reports: readonly StoredReport[]): LatestResult[] {
  const newest = new Map<string, LatestResult>();
  for (const stored of reports) {
    if (stored.report.smoke === true) continue;
    for (const result of stored.report.results) {
      const seen = newest.get(result.scenario);
      if (seen === undefined || Date.parse(stored.report.machine.date) > Date.parse(seen.stored.report.machine.date)) newest.set(result.scenario, { stored, result });
    }
  }
  const rank = (name: string) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);
  return [...newest.values()].sort((a, b) => rank(a.result.scenario) - rank(b.result.scenario) || a.result.scenario.localeCompare(b.result.scenario));
}
