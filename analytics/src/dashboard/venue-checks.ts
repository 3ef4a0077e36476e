import type { Warehouse } from '@cityops/warehouse';

export interface DenyReasonShare {
  readonly reason: string;
  /** Denials with this reason over all verdicts; null when the cell is suppressed. */
  readonly share: number | null;
  readonly suppressed: boolean;
}

export interface VenueChecks {
  /** The complete minutes read: [from, to) in ms. */
  readonly from: number;
  readonly to: number;
  /** Verdicts per second over the window; null when fewer than minCell (suppressed). */
  readonly perSecond: number | null;
  readonly denyShare: number | null;
  readonly denyByReason: readonly DenyReasonShare[];
  readonly scanners: { readonly known: number; readonly offline: readonly string[] };
}

export interface VenueChecksOptions {
  /** Complete minutes read back from the last complete one. */
  readonly minutes: number;
  /** Cells with fewer events are suppressed (the analytics `privacy.minCell`). */
  readonly minCell: number;
  /** A scanner with no verdict for this long is listed as offline. */
  readonly silentMs: number;
}

const MINUTE = 60_000;

// Counts only, from the per-minute rollup (never verification_events, which holds pseudonyms).
const BY_REASON_SQL =
  'SELECT verdict, reason, toString(sum(events)) AS n FROM verification_events_1m ' +
  "WHERE minute >= toDateTime({from:Int64}, 'UTC') AND minute < toDateTime({to:Int64}, 'UTC') GROUP BY verdict, reason";

// Scanners known to the registry and the last minute each gave a verdict in.
const SCANNERS_SQL =
  "SELECT d.id AS id, toString(toUnixTimestamp(max(v.minute))) AS last FROM (SELECT id FROM devices FINAL WHERE kind = 'scanner' AND NOT revoked) AS d " +
  "LEFT JOIN (SELECT scanner, minute FROM verification_events_1m WHERE minute >= toDateTime({since:Int64}, 'UTC')) AS v ON v.scanner = d.id GROUP BY d.id ORDER BY d.id";

/**
 * The venue-check panel: verdicts per second, the share of denials by reason, and scanners that have
 * gone quiet, over the last complete minutes of the verification rollup. A reason with fewer than
 * `minCell` denials is suppressed like an indicator cell: two forgeries at a door say something about
 * two people.
 */
export async function readVenueChecks(warehouse: Warehouse, options: VenueChecksOptions, now: number): Promise<VenueChecks> {
  const to = Math.floor(now / MINUTE) * MINUTE;
  const from = to - options.minutes * MINUTE;
  const [rows, scanners] = await Promise.all([
    warehouse.query<{ verdict: string; reason: string; n: string }>(BY_REASON_SQL, { from: from / 1000, to: to / 1000 }),
    warehouse.query<{ id: string; last: string }>(SCANNERS_SQL, { since: Math.floor((now - 86_400_000) / 1000) }),
  ]);
  let total = 0;
  let denied = 0;
  const deniedBy = new Map<string, number>();
  for (const row of rows) {
    const n = Number(row.n);
    total += n;
    if (row.verdict !== 'deny') continue;
    denied += n;
    deniedBy.set(row.reason, (deniedBy.get(row.reason) ?? 0) + n);
  }
  // No verdicts at all has nothing to hide: 0 per second, no share.
  const shown = total === 0 || total >= options.minCell;
  const denyByReason = [...deniedBy.entries()]
    .map(([reason, n]) => {
      const suppressed = !shown || n < options.minCell;
      return { reason, share: suppressed ? null : n / total, suppressed };
    })
    .sort((a, b) => (b.share ?? -1) - (a.share ?? -1) || (a.reason < b.reason ? -1 : 1));
  // The minute a verdict was given is the minute's start: it may be up to a minute later.
  const offline = scanners.filter((s) => Number(s.last) * 1000 + MINUTE < now - options.silentMs).map((s) => s.id);
  return {
    from,
    to,
    perSecond: shown ? total / ((to - from) / 1000) : null,
    denyShare: total === 0 ? null : shown && denied >= options.minCell ? denied / total : shown && denied === 0 ? 0 : null,
    denyByReason,
    scanners: { known: scanners.length, offline },
  };
}
