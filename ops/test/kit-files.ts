import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const OPS = join(import.meta.dirname, '..');

export const kitPaths = {
  prometheusConfig: join(OPS, 'prometheus', 'prometheus.yml'),
  rules: join(OPS, 'prometheus', 'cityops-rules.yml'),
  rulesTests: join(OPS, 'prometheus', 'cityops-rules.test.yml'),
  dashboard: join(OPS, 'grafana', 'cityops-dashboard.json'),
} as const;

export interface DashboardPanel {
  readonly id?: number;
  readonly type?: string;
  readonly title?: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly gridPos?: { readonly h: number; readonly w: number; readonly x: number; readonly y: number };
  readonly targets?: readonly { readonly expr?: string; readonly refId?: string; readonly datasource?: { readonly uid?: string } }[];
  readonly panels?: readonly DashboardPanel[];
}

export interface Dashboard {
  readonly __inputs?: readonly { readonly name: string; readonly type: string; readonly pluginId: string }[];
  readonly schemaVersion: number;
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly DashboardPanel[];
}

export async function readDashboard(): Promise<Dashboard> {
  return JSON.parse(await readFile(kitPaths.dashboard, 'utf8')) as Dashboard;
}

/** Every panel, rows' nested panels included. */
export function allPanels(panels: readonly DashboardPanel[]): DashboardPanel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Every query expression of the dashboard's panels. */
export function dashboardExpressions(dashboard: Dashboard): string[] {
  return allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
}

export interface AlertRuleText {
  readonly alert: string;
  /** The rule's lines as written (expr, for, labels, annotations). */
  readonly text: string;
}

/**
 * The alerting rules of the rules file, split at each `- alert:` item. A line reader, not a YAML
 * parser: `promtool check rules` is what says the file is valid; this only lets the test look at
 * what each rule says.
 */
export function alertRules(rulesText: string): AlertRuleText[] {
  const rules: AlertRuleText[] = [];
  let current: { alert: string; lines: string[]; indent: number } | undefined;
  for (const line of rulesText.split('\n')) {
    const start = /^(\s*)- alert:\s*(\S+)\s*$/.exec(line);
    const indent = line.length - line.trimStart().length;
    if (start !== null) {
      if (current !== undefined) rules.push({ alert: current.alert, text: current.lines.join('\n') });
      current = { alert: start[2] ?? '', lines: [], indent: (start[1] ?? '').length };
    } else if (current !== undefined && line.trim() !== '' && indent <= current.indent) {
      rules.push({ alert: current.alert, text: current.lines.join('\n') });
      current = undefined;
    } else {
      current?.lines.push(line);
    }
  }
  if (current !== undefined) rules.push({ alert: current.alert, text: current.lines.join('\n') });
  return rules;
}
