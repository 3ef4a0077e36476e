import { describe, expect, it } from 'vitest';
import { HOSTILE_ATTACKS } from '../src/charts/hostile-charts.ts';
import { hostileSchedule, median, pairsOf, summarizeKind, type HostileWindow } from '../src/scenarios/hostile-pairs.ts';

const window = (kind: HostileWindow['kind'], p99: number, extra: Record<string, number> = {}): HostileWindow => ({
  kind,
  figures: { puback_p99_ms: p99, acked_batches_per_second: 200, broker_rss_growth_mib: 20, broker_cpu_cores: 0.3, broker_heap_growth_mib: 2, ...extra },
});

describe('the hostile scenario\'s paired windows', () => {
  it('runs every attack once a round, each between two quiet windows', () => {
    const schedule = hostileSchedule(2).map((w) => w.kind);
    expect(schedule).toHaveLength(1 + 2 * 2 * HOSTILE_ATTACKS.length);
    expect(schedule.filter((k, i) => i % 2 === 0).every((k) => k === 'quiet')).toBe(true);
    for (const { key } of HOSTILE_ATTACKS) expect(schedule.filter((k) => k === key)).toHaveLength(2);
  });

  it('takes the attacks in another order each round, so no attack always comes after the same one', () => {
    const n = HOSTILE_ATTACKS.length;
    const rounds = hostileSchedule(3).map((w) => w.kind).filter((k) => k !== 'quiet');
    const after = (round: number, key: string) => {
      const order = rounds.slice(round * n, (round + 1) * n);
      return order[order.indexOf(key as never) - 1];
    };
    for (const round of [0, 1, 2]) expect(new Set(rounds.slice(round * n, (round + 1) * n)).size).toBe(n);
    expect(after(0, 'slowloris')).toBe('idle_many_addresses');
    expect(after(1, 'slowloris')).not.toBe('idle_many_addresses');
    // Each window knows its round (failed logins come from new addresses each round).
    expect(hostileSchedule(3).filter((w) => w.kind === 'failed_logins').map((w) => w.round)).toEqual([0, 1, 2]);
  });

  it('sets each attack window against the mean of its neighbours, so a drifting baseline does not count against it', () => {
    // The quiet p99 climbs 10 → 20 → 30 ms through the run; the attack sits at its neighbours' mean each time.
    const windows = [window('quiet', 10), window('slowloris', 15), window('quiet', 20), window('slowloris', 25), window('quiet', 30)];
    const pairs = pairsOf(windows, 'slowloris');
    expect(pairs.map((p) => p.p99Ratio)).toEqual([1, 1]);
    expect(summarizeKind(windows, 'slowloris')).toMatchObject({ slowloris_windows: 2, slowloris_p99_to_quiet: 1, slowloris_p99_above_quiet_ms: 0 });
  });

  it('judges by the median: one window caught by a merge does not decide, a steady cost does', () => {
    const quiet = (p99: number) => window('quiet', p99, { broker_rss_growth_mib: 20 });
    const caught = [quiet(10), window('idle_one_address', 40, { broker_rss_growth_mib: 90 }), quiet(10), window('idle_one_address', 11), quiet(10), window('idle_one_address', 10.5), quiet(10)];
    expect(summarizeKind(caught, 'idle_one_address')).toMatchObject({
      idle_one_address_p99_to_quiet: 1.1,
      idle_one_address_p99_to_quiet_max: 4,
      idle_one_address_broker_rss_growth_beyond_quiet_mib: 0,
      idle_one_address_broker_rss_growth_beyond_quiet_max_mib: 70,
    });
    const steady = [quiet(10), window('idle_one_address', 14), quiet(10), window('idle_one_address', 13), quiet(10), window('idle_one_address', 40), quiet(10)];
    expect(summarizeKind(steady, 'idle_one_address').idle_one_address_p99_to_quiet).toBe(1.4);
  });

  it('sums the counts and keeps the largest bounds over an attack\'s windows', () => {
    const windows = [window('quiet', 10), window('oversized_connect', 10, { refused_packets: 3, broker_heap_growth_mib: 7 }), window('quiet', 10), window('oversized_connect', 10, { refused_packets: 4, broker_heap_growth_mib: 31 }), window('quiet', 10)];
    expect(summarizeKind(windows, 'oversized_connect')).toMatchObject({ oversized_connect_refused_packets: 7, oversized_connect_broker_heap_growth_mib: 31 });
    // Quiet windows summarised alone, with no ratio of their own.
    const quiet = summarizeKind(windows, 'quiet');
    expect(quiet).toMatchObject({ quiet_windows: 3, quiet_puback_p99_ms: 10 });
    expect(quiet.quiet_p99_to_quiet).toBeUndefined();
  });

  it('leaves out a window without a quiet neighbour on each side, and takes the middle of an even count', () => {
    expect(pairsOf([window('slowloris', 10), window('quiet', 10)], 'slowloris')).toEqual([]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});
