import type { HierarchyLevel } from '@cityops/protocol';
import type { Warehouse } from '@cityops/warehouse';
import type { ConditionSet } from './condition-set.ts';
import type { DeviceEntry } from './device-directory.ts';
import { ruleDurationMs } from './rule-duration.ts';
import type { VerificationAnomalyRule } from './rule-schema.ts';

/** The columns a rule may match on; identifiers come from here, values are query parameters. */
const MATCH_FIELDS = ['verdict', 'reason', 'kind'] as const;

interface VenueRow {
  venue: string;
  scanner: string;
  recent: number | string;
  recent_all: number | string;
  baseline: number | string;
}

export interface VerificationAnomalyDeps {
  readonly warehouse: Warehouse;
  readonly conditions: ConditionSet;
  readonly now: () => number;
  readonly device: (id: string) => DeviceEntry | undefined;
  readonly onEvaluations: (n: number) => void;
}

export interface VerificationAnomalyCheck {
  readonly rule: VerificationAnomalyRule;
  readonly everyMs: number;
  /** Queries the last window and baseline and raises or clears per venue. */
  run(): Promise<void>;
}

/** The SQL for one rule: matching events per venue in the window and in the baseline before it. */
type Params = Record<string, string | number | readonly string[]>;

export function verificationAnomalyQuery(rule: VerificationAnomalyRule, nowMs: number): { sql: string; params: Params } {
  const windowMs = ruleDurationMs(rule.window);
  const baselineMs = ruleDurationMs(rule.baseline);
  const conditions: string[] = [];
  const params: Params = {
    from: nowMs - windowMs - baselineMs,
    split: nowMs - windowMs,
    to: nowMs,
  };
  for (const field of MATCH_FIELDS) {
    const values = rule.match[field];
    if (values === undefined) continue;
    conditions.push(`${field} IN {m_${field}:Array(String)}`);
    params[`m_${field}`] = values;
  }
  const matched = conditions.join(' AND ');
  const recent = "at > fromUnixTimestamp64Milli({split:Int64}, 'UTC')";
  const sql =
    `SELECT venue, any(scanner) AS scanner, countIf(${recent} AND ${matched}) AS recent, countIf(${recent}) AS recent_all, ` +
    `countIf(NOT (${recent}) AND ${matched}) AS baseline FROM verification_events ` +
    "WHERE at > fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND at <= fromUnixTimestamp64Milli({to:Int64}, 'UTC') " +
    'GROUP BY venue';
  return { sql, params };
}

/**
 * Deny or forgery spikes at a venue, from `verification_events` (a few thousand rows a second at
 * most: asked every `every`, not streamed). A venue is anomalous when the window holds at least
 * minEvents matching events and their rate is at least `factor` times the venue's rate over the
 * baseline before it, or, with `share`, they are at least that share of the venue's events. The
 * place is the venue's scanner's place in the registry (the city when unknown).
 */
export function createVerificationAnomalyCheck(rule: VerificationAnomalyRule, deps: VerificationAnomalyDeps): VerificationAnomalyCheck {
  const windowMs = ruleDurationMs(rule.window);
  const baselineMs = ruleDurationMs(rule.baseline);
  const active = new Set<string>();

  return {
    rule,
    everyMs: ruleDurationMs(rule.every),
    async run() {
      const t = deps.now();
      const { sql, params } = verificationAnomalyQuery(rule, t);
      const rows = await deps.warehouse.query<VenueRow>(sql, params);
      const seen = new Set<string>();
      for (const row of rows) {
        const recent = Number(row.recent);
        const all = Number(row.recent_all);
        const baseline = Number(row.baseline);
        const rate = recent / windowMs;
        const usual = baseline / baselineMs;
        const spike = rate >= rule.factor * usual || (rule.share !== undefined && all > 0 && recent / all >= rule.share);
        if (recent < rule.minEvents || !spike) continue;
        const key = `${rule.name}:${row.venue}`;
        seen.add(key);
        if (active.has(key)) continue;
        active.add(key);
        const entry = deps.device(row.scanner);
        const building = entry?.places[4] ?? '';
        const grid = entry?.places[3] ?? '';
        const place = building !== '' && building !== grid ? building : grid;
        const level: HierarchyLevel = place === '' ? 'city' : place === building && building !== grid ? 'building' : 'grid';
        deps.conditions.activate({
          key,
          rule: rule.name,
          kind: 'verification_anomaly',
          severity: rule.severity,
          place,
          level,
          subject: row.venue,
          value: recent,
          threshold: rule.minEvents,
          summary:
            `${rule.title}: ${recent} matching of ${all} verifications at ${row.venue} in ${rule.window}` +
            ` (usual ${(usual * windowMs).toFixed(1)} per ${rule.window})`,
          at: t,
          verification: { by: 'condition', windowMs, windows: rule.verifyWindows },
        });
      }
      for (const key of active) {
        if (seen.has(key)) continue;
        active.delete(key);
        deps.conditions.deactivate(key, t);
      }
      deps.onEvaluations(rows.length);
    },
  };
}
