import type { QueryParams } from '@cityops/warehouse';
import { registeredPlaceOf } from './device-directory.ts';
import { createPolledCheck, type PolledRuleCheck, type PolledRuleDeps } from './polled-rule.ts';
import { ruleDurationMs } from './rule-duration.ts';
import type { DeviceRefusalsRule } from './rule-schema.ts';

interface RefusalRow {
  device: string;
  refusals: number | string;
  reasons: string[];
}

export type DeviceRefusalsCheck = PolledRuleCheck<DeviceRefusalsRule>;

/** Dead letters per device with one of the rule's reasons in the last `window`, the most first. */
export function deviceRefusalsQuery(rule: DeviceRefusalsRule, nowMs: number): { sql: string; params: QueryParams } {
  return {
    sql:
      'SELECT device, count() AS refusals, groupUniqArray(reason) AS reasons FROM dead_letters ' +
      "WHERE received_at > fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND received_at <= fromUnixTimestamp64Milli({to:Int64}, 'UTC') " +
      'AND reason IN {reasons:Array(String)} ' +
      'GROUP BY device HAVING refusals >= {min:UInt32} ORDER BY refusals DESC, device LIMIT {limit:UInt32}',
    params: { from: nowMs - ruleDurationMs(rule.window), to: nowMs, reasons: rule.reasons, min: rule.minRefusals, limit: rule.maxDevices },
  };
}

/**
 * A device whose readings ingest keeps refusing (issue 17: sensors beyond its set, metric names beyond
 * its bound, decommissioned sensors; each refused batch is a dead letter with its reason). One alert
 * per device while refusals keep coming within `window`, however many readings or sensor ids: a
 * gateway inventing 500,000 sensors is one alert at its registered place, not a storm; it clears a
 * window after the last refusal.
 */
export function createDeviceRefusalsCheck(rule: DeviceRefusalsRule, deps: PolledRuleDeps): DeviceRefusalsCheck {
  const windowMs = ruleDurationMs(rule.window);
  return createPolledCheck<DeviceRefusalsRule, RefusalRow>(rule, deps, {
    query: (t) => deviceRefusalsQuery(rule, t),
    evaluate(rows, t, holds) {
      for (const row of rows) {
        holds(`${rule.name}:${row.device}`, () => {
          const place = registeredPlaceOf(deps.device(row.device));
          const refusals = Number(row.refusals);
          return {
            key: `${rule.name}:${row.device}`,
            rule: rule.name,
            kind: 'device_refusals',
            severity: rule.severity,
            place: place?.place ?? '',
            level: place?.level ?? 'city',
            subject: row.device,
            value: refusals,
            summary: `${rule.title}: ${row.device} (${refusals} refused batch${refusals === 1 ? '' : 'es'} in ${rule.window}: ${[...row.reasons].sort().join(', ')})`,
            at: t,
            verification: { by: 'condition', windowMs, windows: rule.verifyWindows },
          };
        });
      }
    },
  });
}
