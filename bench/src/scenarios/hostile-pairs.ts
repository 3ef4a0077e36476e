import { HOSTILE_ATTACKS, type HostileAttackKey } from '../charts/hostile-charts.ts';

/** One window of the run: quiet, or one attack (the control `none` included), with its measured figures. */
export interface HostileWindow {
  readonly kind: 'quiet' | HostileAttackKey;
  readonly figures: Readonly<Record<string, number>>;
}

/** One attack window against the quiet windows on either side of it. */
export interface PairedWindow {
  readonly p99: number;
  readonly quietP99: number;
  readonly p99Ratio: number;
  readonly rateRatio: number;
  readonly rssGrowthBeyondQuiet: number;
  readonly cpuAboveQuiet: number;
}

export const median = (values: readonly number[]): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * The run's windows in order: a quiet window, then each round's attacks each followed by a quiet
 * window. A PUBACK p99 of one window carries the machine's scheduling, the broker's garbage
 * collections and the store's merges, and the store grows through the run; so each attack window is
 * set against the mean of its two quiet neighbours (what the machine did just then), and an attack is
 * judged by the median over its rounds. Each round takes the attacks in another order (a stride
 * coprime with their count, from another start), so no attack always follows the same one: in a
 * first run in one fixed order, the quiet window after the idle sockets of many addresses had a p99 of 7–10 ms in every round against 20–30 for the
 * others, and slowloris, always next, came out at 2.5× them.
 */
export function hostileSchedule(rounds: number): { readonly kind: HostileWindow['kind']; readonly round: number }[] {
  const n = HOSTILE_ATTACKS.length;
  const strides = Array.from({ length: n - 1 }, (_, i) => i + 1).filter((s) => gcd(s, n) === 1);
  const windows: { kind: HostileWindow['kind']; round: number }[] = [{ kind: 'quiet', round: 0 }];
  for (let round = 0; round < rounds; round++) {
    const stride = strides[round % strides.length]!;
    for (let k = 0; k < n; k++) windows.push({ kind: HOSTILE_ATTACKS[(round + k * stride) % n]!.key, round }, { kind: 'quiet', round });
  }
  return windows;
}

/** Every window of `key` against its quiet neighbours (a window without two is left out). */
export function pairsOf(windows: readonly HostileWindow[], key: HostileAttackKey): PairedWindow[] {
  const out: PairedWindow[] = [];
  windows.forEach((w, i) => {
    const [before, after] = [windows[i - 1], windows[i + 1]];
    if (w.kind !== key || before?.kind !== 'quiet' || after?.kind !== 'quiet') return;
    const around = (name: string) => mean([before.figures[name]!, after.figures[name]!]);
    const f = w.figures;
    const quietP99 = around('puback_p99_ms');
    out.push({
      p99: f.puback_p99_ms!,
      quietP99,
      p99Ratio: f.puback_p99_ms! / quietP99,
      rateRatio: f.acked_batches_per_second! / around('acked_batches_per_second'),
      // The store grows in every window: an attack's own memory is what its window grew beyond its neighbours'.
      rssGrowthBeyondQuiet: f.broker_rss_growth_mib! - around('broker_rss_growth_mib'),
      cpuAboveQuiet: f.broker_cpu_cores! - around('broker_cpu_cores'),
    });
  });
  return out;
}

/** Summed over an attack's windows (counts), or their largest (gauges, quantile bounds). */
const SUMMED = [
  'refused_packets', 'refused_sockets_address_connections', 'refused_sockets_unauthenticated', 'refused_sockets_connect_timeout',
  'refused_connection_rate', 'refused_logins', 'attack_closed_by_broker', 'attack_logged_in', 'attack_logins_refused', 'attack_mib_written',
] as const;
const LARGEST = [
  'broker_heap_growth_mib', 'broker_rss_max_mib', 'broker_loop_delay_p99_ms', 'broker_loop_delay_max_ms', 'wal_append_p99_ms_at_most',
  'store_flush_p99_ms_at_most', 'unauthenticated_sockets_max', 'attack_open_at_end', 'settle_s', 'puback_max_ms',
] as const;
const MEDIAN = ['acked_batches_per_second', 'puback_p50_ms', 'puback_p99_ms', 'broker_rss_growth_mib', 'broker_cpu_cores', 'gateway_cpu_cores', 'attacker_cpu_cores', 'attack_sockets_per_second', 'store_flushes', 'broker_gc_major', 'broker_gc_major_ms', 'broker_gc_ms'] as const;

const round = (v: number, digits = 0) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : -1);

/**
 * The figures of one kind of window over the run, named `<kind>_<figure>`: medians of the rates and
 * latencies, sums of the counts, the largest of the bounds; and for an attack, the medians of its
 * paired ratios (`_p99_to_quiet`, `_rate_to_quiet`), its RSS growth beyond its quiet neighbours
 * (median and largest) and the largest V8 heap growth of any of its windows.
 */
export function summarizeKind(windows: readonly HostileWindow[], kind: HostileWindow['kind']): Record<string, number> {
  const mine = windows.filter((w) => w.kind === kind).map((w) => w.figures);
  const out: Record<string, number> = { [`${kind}_windows`]: mine.length };
  if (mine.length === 0) return out;
  const values = (name: string) => mine.map((f) => f[name]).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const put = (name: string, v: number, digits: number) => void (out[`${kind}_${name}`] = round(v, digits));
  for (const name of MEDIAN) if (values(name).length > 0) put(name, median(values(name)), 2);
  for (const name of SUMMED) if (values(name).length > 0) put(name, values(name).reduce((a, b) => a + b, 0), 1);
  for (const name of LARGEST) if (values(name).length > 0) put(name, Math.max(...values(name)), 1);
  if (kind === 'quiet') return out;
  const pairs = pairsOf(windows, kind);
  if (pairs.length === 0) return out;
  put('quiet_around_p99_ms', median(pairs.map((p) => p.quietP99)), 2);
  put('p99_to_quiet', median(pairs.map((p) => p.p99Ratio)), 2);
  put('p99_to_quiet_max', Math.max(...pairs.map((p) => p.p99Ratio)), 2);
  put('p99_above_quiet_ms', median(pairs.map((p) => p.p99 - p.quietP99)), 2);
  put('rate_to_quiet', median(pairs.map((p) => p.rateRatio)), 3);
  put('broker_rss_growth_beyond_quiet_mib', median(pairs.map((p) => p.rssGrowthBeyondQuiet)), 1);
  put('broker_rss_growth_beyond_quiet_max_mib', Math.max(...pairs.map((p) => p.rssGrowthBeyondQuiet)), 1);
  put('broker_cpu_above_quiet_cores', median(pairs.map((p) => p.cpuAboveQuiet)), 2);
  return out;
}
