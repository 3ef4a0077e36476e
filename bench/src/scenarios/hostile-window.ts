import type { Attacker } from '../hostile-attack-client.ts';
import type { AttackSpec, AttackStats } from '../hostile-attack-messages.ts';
import { processCpuSeconds } from '../process-cpu.ts';
import { processMemoryMiB, sampleRss } from '../process-memory.ts';
import { bucketQuantileBound, histogramBuckets, metricOrZero, scrape } from '../prometheus-text.ts';
import type { SoakLoad } from '../soak-load-client.ts';
import type { HostileWindow } from './hostile-pairs.ts';

/** The processes a window measures. */
export interface HostileServices {
  readonly brokerPid: number;
  readonly metricsUrl: string;
  readonly load: SoakLoad;
  readonly attacker: Attacker;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (v: number, digits = 0) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : -1);
const MIB = 2 ** 20;
/** The broker's /metrics read this often within a window (its V8 heap, loop delay, sockets not yet authenticated). */
const SCRAPE_EVERY_MS = 1_000;

/** The broker's refusal counters at an instant (a window's are their differences). */
function refusals(text: string) {
  return {
    packets: metricOrZero(text, 'cityops_broker_refused_packets_total'),
    addressConnections: metricOrZero(text, 'cityops_broker_refused_sockets_total{reason="address_connections"}'),
    unauthenticatedSockets: metricOrZero(text, 'cityops_broker_refused_sockets_total{reason="unauthenticated_sockets"}'),
    connectTimeout: metricOrZero(text, 'cityops_broker_refused_sockets_total{reason="connect_timeout"}'),
    // The per-address connection rate, checked at CONNECT (preConnect): what stops a logged-in attacker's reconnect loop.
    addressRate: metricOrZero(text, 'cityops_ingest_address_refused_total'),
    // Wrong secrets: each one an scrypt, until the address is locked out (10 failures in 5 min by default).
    authFailures: metricOrZero(text, 'cityops_broker_auth_failures_total'),
  };
}

/**
 * Reads the broker's /metrics every second until stopped: the largest V8 heap in use, event-loop
 * delay (prom-client resets its histogram at each scrape, so each is the last second's) and
 * not-yet-authenticated sockets seen. The heap is the broker's own memory, which RSS mixes with the
 * embedded store's.
 */
function sampleMetrics(url: string) {
  let [heapMax, loopP99, loopMax, unauthenticated] = [0, 0, 0, 0];
  let stopped = false;
  const take = async () => {
    const text = await scrape(url);
    heapMax = Math.max(heapMax, metricOrZero(text, 'cityops_ingest_nodejs_heap_size_used_bytes'));
    loopP99 = Math.max(loopP99, metricOrZero(text, 'cityops_ingest_nodejs_eventloop_lag_p99_seconds'));
    loopMax = Math.max(loopMax, metricOrZero(text, 'cityops_ingest_nodejs_eventloop_lag_max_seconds'));
    unauthenticated = Math.max(unauthenticated, metricOrZero(text, 'cityops_broker_unauthenticated_sockets'));
    return text;
  };
  const loop = (async () => {
    while (!stopped) {
      await sleep(SCRAPE_EVERY_MS);
      if (!stopped) await take();
    }
  })();
  return {
    /** The last scrape (taken now) and the largest values seen. */
    async stop() {
      stopped = true;
      await loop;
      const text = await take();
      return { text, heapMax, loopP99, loopMax, unauthenticated };
    },
  };
}

/**
 * Waits until the broker holds no socket of the stopped attack (its not-yet-authenticated gauge at 0),
 * so that thousands of closes land in no window: the next one starts from a broker at rest.
 * Returns the seconds it took (the gauge is polled every 100 ms, for at most 30 s: a metric emits no event to wait on).
 */
async function untilSettled(metricsUrl: string): Promise<number> {
  const started = performance.now();
  while (metricOrZero(await scrape(metricsUrl), 'cityops_broker_unauthenticated_sockets') > 0 && performance.now() - started < 30_000) await sleep(100);
  return (performance.now() - started) / 1000;
}

/** The histogram's q-quantile bound over one window's observations; -1 (shown as –) when it made none. */
function windowQuantile(before: string, after: string, name: string, q: number): number {
  const bound = bucketQuantileBound(histogramBuckets(before, name), histogramBuckets(after, name), q);
  return Number.isNaN(bound) ? -1 : bound;
}

/** The change of the broker's GC histogram's `_count` or `_sum` (one kind, or all) between two scrapes. */
function gcDelta(before: string, after: string, part: 'count' | 'sum', kind?: 'major'): number {
  const name = `cityops_ingest_nodejs_gc_duration_seconds_${part}${kind === undefined ? '' : `{kind="${kind}"}`}`;
  return metricOrZero(after, name) - metricOrZero(before, name);
}

/** One window of `windowS` seconds, with `spec`'s attack running through it (none for a quiet or a control window). */
export async function runWindow(kind: HostileWindow['kind'], spec: AttackSpec | undefined, windowS: number, s: HostileServices): Promise<HostileWindow> {
  const startText = await scrape(s.metricsUrl);
  const acked0 = (await s.load.sample()).stats.acked;
  const rss0 = processMemoryMiB(s.brokerPid).rss;
  const cpu0 = { broker: processCpuSeconds(s.brokerPid), attacker: processCpuSeconds(s.attacker.pid), gateway: processCpuSeconds(s.load.pid) };
  const t0 = performance.now();
  const rss = sampleRss(s.brokerPid, 100);
  const metrics = sampleMetrics(s.metricsUrl);
  if (spec !== undefined) await s.attacker.start(spec);
  await sleep(t0 + windowS * 1000 - performance.now());
  const end = await s.load.sample();
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = { broker: processCpuSeconds(s.brokerPid), attacker: processCpuSeconds(s.attacker.pid), gateway: processCpuSeconds(s.load.pid) };
  const memory = rss.stop();
  // Before the attack stops: its sockets are still held.
  const seen = await metrics.stop();
  const attack: AttackStats | undefined = spec === undefined ? undefined : await s.attacker.stop();
  const settleS = spec === undefined ? 0 : await untilSettled(s.metricsUrl);
  const [r0, r1] = [refusals(startText), refusals(seen.text)];
  const f: Record<string, number> = {
    acked_batches_per_second: round((end.stats.acked - acked0) / seconds, 1),
    puback_p50_ms: round(end.puback.p50, 1),
    puback_p99_ms: round(end.puback.p99, 1),
    puback_max_ms: round(end.puback.max),
    broker_rss_max_mib: round(memory.maxMiB, 1),
    broker_rss_growth_mib: round(Math.max(0, memory.maxMiB - rss0), 1),
    broker_heap_growth_mib: round(Math.max(0, seen.heapMax - metricOrZero(startText, 'cityops_ingest_nodejs_heap_size_used_bytes')) / MIB, 1),
    broker_cpu_cores: round((cpu1.broker - cpu0.broker) / seconds, 2),
    gateway_cpu_cores: round((cpu1.gateway - cpu0.gateway) / seconds, 2),
    attacker_cpu_cores: round((cpu1.attacker - cpu0.attacker) / seconds, 2),
    refused_packets: r1.packets - r0.packets,
    refused_sockets_address_connections: r1.addressConnections - r0.addressConnections,
    refused_sockets_unauthenticated: r1.unauthenticatedSockets - r0.unauthenticatedSockets,
    refused_sockets_connect_timeout: r1.connectTimeout - r0.connectTimeout,
    refused_connection_rate: r1.addressRate - r0.addressRate,
    refused_logins: r1.authFailures - r0.authFailures,
    unauthenticated_sockets_max: seen.unauthenticated,
    // Timer lateness, so a busy machine's scheduling shows too, but only as the broker's process felt it.
    broker_loop_delay_p99_ms: round(1000 * seen.loopP99, 1),
    broker_loop_delay_max_ms: round(1000 * seen.loopMax, 1),
    // The broker's own part of a PUBACK (a batch received → its WAL record written) and the store's
    // inserts in this window: where a PUBACK p99 that moves comes from, inside the broker or outside it.
    wal_append_p99_ms_at_most: round(1000 * windowQuantile(startText, seen.text, 'cityops_ingest_wal_append_duration_seconds', 0.99), 1),
    store_flushes: round(metricOrZero(seen.text, 'cityops_ingest_flush_duration_seconds_count') - metricOrZero(startText, 'cityops_ingest_flush_duration_seconds_count')),
    store_flush_p99_ms_at_most: round(1000 * windowQuantile(startText, seen.text, 'cityops_ingest_flush_duration_seconds', 0.99), 1),
    // The broker's garbage collections in this window (prom-client's perf_hooks observer): each pauses its loop.
    broker_gc_major: round(gcDelta(startText, seen.text, 'count', 'major')),
    broker_gc_major_ms: round(1000 * gcDelta(startText, seen.text, 'sum', 'major'), 1),
    broker_gc_ms: round(1000 * gcDelta(startText, seen.text, 'sum'), 1),
  };
  if (attack !== undefined) {
    Object.assign(f, {
      settle_s: round(settleS, 1),
      attack_sockets_per_second: round(attack.attempts / seconds, 1),
      attack_closed_by_broker: attack.closedByBroker,
      attack_logged_in: attack.loggedIn,
      attack_logins_refused: attack.loginsRefused,
      // Handed to the socket (Node's bytesWritten): what the broker was offered, not all of it delivered before the reset.
      attack_mib_written: round(attack.bytesSent / MIB, 1),
      attack_open_at_end: attack.openAtStop,
    });
  }
  return { kind, figures: f };
}
