import { venueOf } from './device-directory.ts';
import { createPolledCheck, type PolledRuleCheck, type PolledRuleDeps } from './polled-rule.ts';
import { ruleDurationMs } from './rule-duration.ts';
import type { ScannerFloodRule } from './rule-schema.ts';

interface FlagRow {
  credential: string;
  flags: number | string;
}

export type ScannerFloodCheck = PolledRuleCheck<ScannerFloodRule>;

/** Flags per credential in the last `window`, the most flagged first, at most `maxCredentials`. */
export function scannerFloodQuery(rule: ScannerFloodRule, nowMs: number): { sql: string; params: Record<string, number> } {
  return {
    sql:
      'SELECT credential, count() AS flags FROM credential_flags ' +
      "WHERE at > fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND at <= fromUnixTimestamp64Milli({to:Int64}, 'UTC') " +
      'GROUP BY credential ORDER BY flags DESC, credential LIMIT {limit:UInt32}',
    params: { from: nowMs - ruleDurationMs(rule.window), to: nowMs, limit: rule.maxCredentials },
  };
}

/**
 * A credential the verifier throttled for sending more checks than a door can see
 * (`credential_flags`, one row per credential per the verifier's flag window). The condition holds
 * while flags keep coming within `window`, so a flood of any length is one alert (one episode); it
 * clears a window after the last flag. The place is the scanner's registered venue, the same source
 * the forgery alerts use, never the venue the requests named; a credential that is no registered
 * scanner (a venue token) is raised for the city.
 */
export function createScannerFloodCheck(rule: ScannerFloodRule, deps: PolledRuleDeps): ScannerFloodCheck {
  const windowMs = ruleDurationMs(rule.window);
  return createPolledCheck<ScannerFloodRule, FlagRow>(rule, deps, {
    query: (t) => scannerFloodQuery(rule, t),
    evaluate(rows, t, holds) {
      for (const row of rows) {
        holds(`${rule.name}:${row.credential}`, () => {
          const venue = venueOf(deps.device(row.credential));
          const flags = Number(row.flags);
          return {
            key: `${rule.name}:${row.credential}`,
            rule: rule.name,
            kind: 'scanner_flood',
            severity: rule.severity,
            place: venue?.place ?? '',
            level: venue?.level ?? 'city',
            subject: row.credential,
            value: flags,
            summary: `${rule.title}: ${row.credential} throttled at ${venue?.place ?? 'an unregistered place'} (${flags} flag${flags === 1 ? '' : 's'} in ${rule.window})`,
            at: t,
            verification: { by: 'condition', windowMs, windows: rule.verifyWindows },
          };
        });
      }
    },
  });
}
