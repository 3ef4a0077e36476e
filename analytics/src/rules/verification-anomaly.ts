import type { HierarchyLevel } from '@cityops/protocol';
import { venueOf, type DeviceEntry } from './device-directory.ts';
import { createPolledCheck, type PolledRuleCheck, type PolledRuleDeps } from './polled-rule.ts';
import { ruleDurationMs } from './rule-duration.ts';
import type { VerificationAnomalyRule } from './rule-schema.ts';

/** The columns a rule may match on; identifiers come from here, values are query parameters. */
const MATCH_FIELDS = ['verdict', 'reason', 'kind'] as const;

interface ScannerRow {
  scanner: string;
  recent: number | string;
  recent_all: number | string;
  baseline: number | string;
  baseline_all: number | string;
  first_ms: number | string;
}

/** A venue's counts, summed over its scanners. */
interface VenueCounts {
  level: HierarchyLevel;
  recent: number;
  all: number;
  baseline: number;
  baselineAll: number;
  /** The venue's first verification within the query's reach (window + baseline). */
  firstMs: number;
}

/**
 * Where a rule stands (issue 19): `learning` until at least one venue has the declared history and
 * baseline count, then `ready`; a venue still learning cannot fire. Read by the dashboard feed.
 */
export interface AnomalyLearning {
  readonly rule: string;
  readonly state: 'learning' | 'ready';
  /** Venues seen in the last run, by whether they can fire yet. */
  readonly venuesLearning: number;
  readonly venuesReady: number;
  readonly history: string;
  readonly minBaselineEvents: number;
  /** When the last run was (0 before the first). */
  readonly at: number;
}

export type VerificationAnomalyDeps = PolledRuleDeps;
export interface VerificationAnomalyCheck extends PolledRuleCheck<VerificationAnomalyRule> {
  learning(): AnomalyLearning;
}

/**
 * The SQL for one rule: matching events per scanner in the window and in the baseline before it.
 * Per scanner, not per the `venue` column: the venue is the scanner's registered place (the rule
 * sums its scanners); verdicts without a scanner (the open development mode) count for no venue.
 */
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
    `SELECT scanner, countIf(${recent} AND ${matched}) AS recent, countIf(${recent}) AS recent_all, ` +
    `countIf(NOT (${recent}) AND ${matched}) AS baseline, countIf(NOT (${recent})) AS baseline_all, ` +
    'toUnixTimestamp64Milli(min(at)) AS first_ms FROM verification_events ' +
    "WHERE at > fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND at <= fromUnixTimestamp64Milli({to:Int64}, 'UTC') AND scanner != '' " +
    'GROUP BY scanner';
  return { sql, params };
}

/** Sums the scanners' counts per venue, the venue being each scanner's registered place; unknown scanners count for none. */
function countsByVenue(rows: readonly ScannerRow[], device: (id: string) => DeviceEntry | undefined): Map<string, VenueCounts> {
  const venues = new Map<string, VenueCounts>();
  for (const row of rows) {
    const venue = venueOf(device(row.scanner));
    if (venue === undefined) continue;
    let counts = venues.get(venue.place);
    if (counts === undefined) venues.set(venue.place, (counts = { level: venue.level, recent: 0, all: 0, baseline: 0, baselineAll: 0, firstMs: Infinity }));
    counts.recent += Number(row.recent);
    counts.all += Number(row.recent_all);
    counts.baseline += Number(row.baseline);
    counts.baselineAll += Number(row.baseline_all);
    counts.firstMs = Math.min(counts.firstMs, Number(row.first_ms));
  }
  return venues;
}

/**
 * Deny or forgery spikes at a venue, from `verification_events` (a few thousand rows a second at
 * most: asked every `every`, not streamed). A venue is anomalous when the window holds at least
 * minEvents matching events and their rate is at least `factor` times the venue's rate over the
 * baseline before it, or, with `share`, they are at least that share of the venue's events. The
 * venue, the alert's place and (through the dispatch routes) its department all come from one
 * source: the registered place of the scanners that gave the verdicts (issue 16).
 * A venue learns first (issue 19): no spike against an empty baseline. It fires only once its first
 * verification is `history` old and its baseline holds `minBaselineEvents`; the usual rate is taken
 * over the part of the baseline the venue has existed, not the whole period.
 */
export function createVerificationAnomalyCheck(rule: VerificationAnomalyRule, deps: VerificationAnomalyDeps): VerificationAnomalyCheck {
  const windowMs = ruleDurationMs(rule.window);
  const baselineMs = ruleDurationMs(rule.baseline);
  const historyMs = ruleDurationMs(rule.history);
  let learning: AnomalyLearning = {
    rule: rule.name,
    state: 'learning',
    venuesLearning: 0,
    venuesReady: 0,
    history: rule.history,
    minBaselineEvents: rule.minBaselineEvents,
    at: 0,
  };
  const check = createPolledCheck<VerificationAnomalyRule, ScannerRow>(rule, deps, {
    query: (t) => verificationAnomalyQuery(rule, t),
    evaluate(rows, t, holds) {
      let venuesLearning = 0;
      let venuesReady = 0;
      for (const [place, { level, recent, all, baseline, baselineAll, firstMs }] of countsByVenue(rows, deps.device)) {
        if (t - firstMs < historyMs || baselineAll < rule.minBaselineEvents) {
          venuesLearning++;
          continue;
        }
        venuesReady++;
        // The baseline the venue has existed for (its first event may fall inside the period).
        const coveredMs = Math.min(baselineMs, Math.max(1, t - windowMs - firstMs));
        const rate = recent / windowMs;
        const usual = baseline / coveredMs;
        const spike = rate >= rule.factor * usual || (rule.share !== undefined && all > 0 && recent / all >= rule.share);
        if (recent < rule.minEvents || !spike) continue;
        holds(`${rule.name}:${place}`, () => ({
          key: `${rule.name}:${place}`,
          rule: rule.name,
          kind: 'verification_anomaly',
          severity: rule.severity,
          place,
          level,
          subject: place,
          value: recent,
          threshold: rule.minEvents,
          summary:
            `${rule.title}: ${recent} matching of ${all} verifications at ${place} in ${rule.window}` +
            ` (usual ${(usual * windowMs).toFixed(1)} per ${rule.window})`,
          at: t,
          verification: { by: 'condition', windowMs, windows: rule.verifyWindows },
        }));
      }
      learning = { ...learning, state: venuesReady > 0 ? 'ready' : 'learning', venuesLearning, venuesReady, at: t };
    },
  });
  return { ...check, learning: () => learning };
}
