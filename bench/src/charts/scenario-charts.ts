/**
 * The charts each scenario draws, from its figures alone. Scenarios call these to declare their
 * charts; the README generator calls them too for a report written before reports carried charts.
 * A figure a report lacks (an older run) or marks unknown (-1) leaves its bar or sample out.
 */
import type { Bar, BarChart, BarRole, Chart, LineChart } from './chart-spec.ts';
import { formatNumber } from './format-number.ts';

/** What a chart builder reads of a result: its figures, its notes, and the soak's samples. */
export interface ChartSource {
  readonly figures: Readonly<Record<string, number>>;
  readonly notes?: readonly string[];
  readonly samples?: readonly Readonly<Record<string, number>>[];
}

type Figures = ChartSource['figures'];

function known(figures: Figures, key: string): number | undefined {
  const v = figures[key];
  return v === undefined || !Number.isFinite(v) || v < 0 ? undefined : v;
}

/** Bars whose figure is known; undefined values are left out. A target may name the bar it applies to. */
function bars(...list: readonly (readonly [label: string, value: number | undefined, role: BarRole, of?: string])[]): Bar[] {
  return list.flatMap(([label, value, role, of]) => (value === undefined ? [] : [of === undefined ? { label, value, role } : { label, value, role, of }]));
}

/** A chart with at least one of ours and something to compare it with; otherwise none. */
function barChart(title: string, unit: string, list: Bar[]): BarChart[] {
  return list.some((b) => b.role === 'ours') && list.length > 1 ? [{ kind: 'bars', title, unit, bars: list }] : [];
}

/** chDB insert rates per format: figures `chdb_<format>_readings_per_second`, or an older report's note. */
function chdbFormats(source: ChartSource): [string, number][] {
  const fromFigures = Object.entries(source.figures)
    .filter(([k]) => /^chdb_.+_readings_per_second$/.test(k) && k !== 'chdb_ceiling_readings_per_second')
    .map(([k, v]): [string, number] => [k.slice('chdb_'.length, -'_readings_per_second'.length).replace(/_/g, '-'), v]);
  if (fromFigures.length > 0) return fromFigures;
  // Reports before 2026-11-27 listed the formats only in a note: "all formats: objects 144787/s, ...".
  const note = source.notes?.find((n) => n.includes('all formats: '));
  if (note === undefined) return [];
  return [...note.slice(note.indexOf('all formats: ')).matchAll(/([a-z-]+) (\d+)\/s/g)].map((m): [string, number] => [m[1]!, Number(m[2])]);
}

export function ingestCharts(source: ChartSource): Chart[] {
  const f = source.figures;
  const ceiling = known(f, 'chdb_ceiling_readings_per_second');
  const formats = chdbFormats(source).filter(([, v]) => v !== ceiling);
  return [
    ...barChart('Ingest: readings/s into the warehouse, next to chDB inserting the same rows', 'readings/s', [
      ...bars(['cityops ingest (MQTT → WAL → chDB)', known(f, 'readings_per_second'), 'ours'], ['chDB engine alone, pre-encoded RowBinary', ceiling, 'limit']),
      ...formats.map(([name, v]): Bar => ({ label: `chDB ${name}`, value: v, role: 'peer' })),
      ...bars(['target', 300_000, 'target']),
    ]),
    ...barChart('Ingest: publish → queryable latency', 'ms', bars(['p50', known(f, 'visible_p50_ms'), 'ours'], ['p99', known(f, 'visible_p99_ms'), 'ours'], ['target p99', 2000, 'target', 'p99'])),
  ];
}

export function verifyCharts(source: ChartSource): Chart[] {
  const f = source.figures;
  const [SINGLE, BATCH] = ['POST /v1/verify, one code per request', 'POST /v1/verify/batch, 64 codes per request'];
  const es256 = known(f, 'es256_single_thread_verifications_per_second');
  const cores = known(f, 'cores');
  const limit = es256 === undefined || cores === undefined ? undefined : es256 * cores;
  return [
    ...barChart("Verify: verifications/s over HTTP, next to the cores' ES256 limit", 'verifications/s', [
      ...bars(
        [SINGLE, known(f, 'single_requests_per_second'), 'ours'],
        [BATCH, known(f, 'batch_verifications_per_second'), 'ours'],
        [`${cores ?? '?'} cores × crypto.verify ES256`, limit, 'limit'],
        ['target, single requests', 15_000, 'target', SINGLE],
        ['target, batch: 0.8 × limit', limit === undefined ? undefined : 0.8 * limit, 'target', BATCH],
      ),
    ]),
    ...barChart('Verify: p99 latency', 'ms', bars(['single requests p99', known(f, 'single_p99_ms'), 'ours'], ['batch requests (64 codes) p99', known(f, 'batch_p99_ms'), 'ours'], ['target, single p99', 20, 'target', 'single requests p99'])),
  ];
}

export function codecCharts(source: ChartSource): Chart[] {
  const f = source.figures;
  const formats = [
    ['msgpackr, shared structures (ours)', 'msgpack_shared_structures', 'ours'],
    ['msgpackr records', 'msgpack_records', 'peer'],
    ['msgpack, plain maps', 'msgpack_maps', 'peer'],
    ['JSON', 'json', 'peer'],
  ] as const;
  return [
    ...barChart('Codec: 100-reading batches decoded and validated per second, one core', 'batches/s', bars(...formats.map(([label, key, role]) => [label, known(f, `${key}_batches_per_second`), role] as const))),
    ...barChart('Codec: bytes per 100-reading batch', 'bytes', bars(...formats.map(([label, key, role]) => [label, known(f, `${key}_bytes`), role] as const))),
  ];
}

export function queryCharts(source: ChartSource): Chart[] {
  const f = source.figures;
  const readings = known(f, 'readings');
  return barChart(`Indicators: p99 latency through HTTP${readings === undefined ? '' : ` at ${formatNumber(readings / 1e6)}M readings`}`, 'ms', bars(
    ['district level', known(f, 'district_p99_ms'), 'ours'],
    ['grid level', known(f, 'grid_p99_ms'), 'ours'],
    ['grid drill-down in one district', known(f, 'grid_drilldown_p99_ms'), 'ours'],
    ['same district average on raw readings', known(f, 'raw_district_avg_p99_ms'), 'peer'],
    ['target, district level', 100, 'target', 'district level'],
    ['target, grid level', 100, 'target', 'grid level'],
  ));
}

export function alertsCharts(source: ChartSource): Chart[] {
  const f = source.figures;
  return barChart('Alerts: publish a breaching reading → alert visible in GET /v1/alerts', 'ms', bars(
    ['p50', known(f, 'alert_visible_p50_ms'), 'ours'],
    ['p90', known(f, 'alert_visible_p90_ms'), 'ours'],
    ['p99', known(f, 'alert_visible_p99_ms'), 'ours'],
    ['max', known(f, 'alert_visible_max_ms'), 'ours'],
    ['target p99', 1000, 'target', 'p99'],
  ));
}

export function brokerCharts(source: ChartSource): Chart[] {
  const f = source.figures;
  return [
    // Issue 20: relay and intake measured apart.
    ...barChart('Broker relay: QoS 1 verify requests delivered to the subscriber per second at saturation', 'messages/s', bars(
      ['cityops ingest (auth, ACL)', known(f, 'relay_ours_saturation_delivered_per_second'), 'ours'],
      ['mosquitto', known(f, 'relay_mosquitto_saturation_delivered_per_second'), 'peer'],
    )),
    ...barChart('Broker relay: broker CPU time per delivered message at saturation', 'µs of CPU per message', bars(
      ['cityops ingest', known(f, 'relay_ours_saturation_broker_cpu_us_per_message'), 'ours'],
      ['mosquitto', known(f, 'relay_mosquitto_saturation_broker_cpu_us_per_message'), 'peer'],
    )),
    ...barChart(`Broker relay: publish → delivered p99 at a common rate${known(f, 'relay_common_offered_per_second') === undefined ? '' : ` (${known(f, 'relay_common_offered_per_second')} messages/s)`}`, 'ms', bars(
      ['cityops ingest', known(f, 'relay_ours_common_delivered_p99_ms'), 'ours'],
      ['mosquitto', known(f, 'relay_mosquitto_common_delivered_p99_ms'), 'peer'],
    )),
    ...barChart('Broker intake: telemetry readings stored per second at saturation', 'readings/s', bars(
      ['cityops ingest (validation, dedup, fsync\'ed WAL, chDB)', known(f, 'intake_ours_stored_readings_per_second'), 'ours'],
      ['mosquitto + mqtt.js subscriber → chDB (no durability)', known(f, 'intake_peer_stored_readings_per_second'), 'peer'],
    )),
    ...barChart('Broker intake: CPU time per stored reading (broker and subscriber processes)', 'µs of CPU per reading', bars(
      ['cityops ingest', known(f, 'intake_ours_cpu_us_per_reading'), 'ours'],
      ['mosquitto + subscriber → chDB', known(f, 'intake_peer_cpu_us_per_reading'), 'peer'],
    )),
    // Reports from before issue 20 (one storing broker against a relaying mosquitto).
    ...barChart('Broker: 100-reading batches forwarded to a subscriber per second at saturation', 'batches/s', bars(
      ['cityops ingest (fsync on, the default)', known(f, 'ours_saturation_forwarded_batches_per_second'), 'ours'],
      ['cityops ingest --no-fsync', known(f, 'ours_no_fsync_saturation_forwarded_batches_per_second'), 'ours'],
      ['mosquitto', known(f, 'mosquitto_saturation_forwarded_batches_per_second'), 'peer'],
    )),
    ...barChart('Broker: CPU time per forwarded batch at saturation', 'µs of CPU per batch', bars(
      ['cityops ingest (fsync on)', known(f, 'ours_saturation_broker_cpu_us_per_batch'), 'ours'],
      ['cityops ingest --no-fsync', known(f, 'ours_no_fsync_saturation_broker_cpu_us_per_batch'), 'ours'],
      ['mosquitto', known(f, 'mosquitto_saturation_broker_cpu_us_per_batch'), 'peer'],
    )),
    ...barChart(`Broker: p99 latency at a common rate${known(f, 'common_offered_batches_per_second') === undefined ? '' : ` (${known(f, 'common_offered_batches_per_second')} batches/s)`}`, 'ms', bars(
      ['PUBACK p99, cityops ingest', known(f, 'ours_common_puback_p99_ms'), 'ours'],
      ['PUBACK p99, mosquitto', known(f, 'mosquitto_common_puback_p99_ms'), 'peer'],
      ['publish → subscriber p99, cityops ingest', known(f, 'ours_common_forward_p99_ms'), 'ours'],
      ['publish → subscriber p99, mosquitto', known(f, 'mosquitto_common_forward_p99_ms'), 'peer'],
    )),
  ];
}

export function edgeCharts(source: ChartSource): Chart[] {
  const f = source.figures;
  const rssMax = known(f, 'outage_rss_max_mib');
  const hwm = known(f, 'outage_rss_hwm_mib');
  const outageRss = rssMax === undefined && hwm === undefined ? undefined : Math.max(rssMax ?? 0, hwm ?? 0);
  return [
    ...barChart('Edge: journal replay after an outage', 'readings/s', bars(['gateway agent replay', known(f, 'replay_readings_per_second'), 'ours'], ['target', 100_000, 'target'])),
    ...barChart('Edge: gateway agent RSS during an outage', 'MiB', bars(
      ['agent while journaling (max of samples and VmHWM)', outageRss, 'ours'],
      ['agent just started, idle', known(f, 'outage_agent_idle_rss_mib'), 'ours'],
      ['the same agent from source under tsx, while journaling', known(f, 'source_outage_rss_max_mib'), 'ours'],
      ['node --import tsx, doing nothing', known(f, 'tsx_node_rss_mib'), 'limit'],
      ['bare node, doing nothing', known(f, 'bare_node_rss_mib'), 'limit'],
      ['target', 80, 'target', 'agent while journaling (max of samples and VmHWM)'],
    )),
    ...barChart('Edge: gateway agent RSS polling Modbus TCP (pymodbus)', 'MiB', bars(
      ['agent polling Modbus (max sampled)', known(f, 'modbus_rss_max_mib'), 'ours'],
      ['bare node, doing nothing', known(f, 'bare_node_rss_mib'), 'limit'],
      ['target', 80, 'target', 'agent polling Modbus (max sampled)'],
    )),
  ];
}

export function scanCharts(source: ChartSource): Chart[] {
  const f = source.figures;
  const perFrame = (size: string) =>
    barChart(`Scan: QR code read from a ${size} JPEG frame`, 'ms/frame', bars(['ours', known(f, `ours_${size}_ms_per_frame`), 'ours'], ['zbarimg', known(f, `zbarimg_${size}_ms_per_frame`), 'peer']));
  return [
    ...perFrame('640x480'),
    ...perFrame('1280x720'),
    ...barChart('Scan: frames read per CPU-second', 'frames/CPU-s', bars(
      ['640x480', known(f, 'ours_640x480_frames_per_cpu_second'), 'ours'],
      ['1280x720', known(f, 'ours_1280x720_frames_per_cpu_second'), 'ours'],
      ['target', 10, 'target', '1280x720'],
    )),
  ];
}

/** A soak sample's value, or null where it was not measured (-1). */
function sampleSeries(samples: readonly Readonly<Record<string, number>>[], key: string): (number | null)[] {
  return samples.map((s) => {
    const v = s[key];
    return v === undefined || !Number.isFinite(v) || v < 0 ? null : v;
  });
}

function lineChart(title: string, unit: string, samples: readonly Readonly<Record<string, number>>[], series: readonly (readonly [string, string])[], references: LineChart['references'] = []): LineChart[] {
  const present = series.filter(([, key]) => samples.some((s) => s[key] !== undefined));
  if (present.length === 0 || samples.length < 2) return [];
  return [
    {
      kind: 'lines',
      title,
      unit,
      xLabel: 'time since the soak started (s)',
      x: samples.map((s) => s.t_s ?? 0),
      series: present.map(([label, key]) => ({ label, values: sampleSeries(samples, key) })),
      references,
    },
  ];
}

export function soakCharts(source: ChartSource): Chart[] {
  const f = source.figures;
  const samples = source.samples ?? [];
  const offered = known(f, 'offered_readings_per_second');
  return [
    ...barChart('Soak: city RSS against its target', 'MiB', bars(
      ['cityops up, highest sample', known(f, 'city_rss_max_mib'), 'ours'],
      ['cityops up, at the end', known(f, 'city_rss_end_mib'), 'ours'],
      ['target', 1024, 'target', 'cityops up, highest sample'],
    )),
    ...lineChart('Soak: readings per second', 'readings/s', samples, [['ingested into the warehouse', 'ingested_per_s'], ['acknowledged to the load process', 'load_acked_per_s']], offered === undefined ? [] : [{ label: 'offered', value: offered }]),
    ...lineChart('Soak: resident memory of each process', 'MiB', samples, [['cityops up (the city)', 'city_rss_mib'], ['city V8 heap used', 'city_heap_mib'], ['city chDB tracked', 'engine_tracked_mib'], ['load process', 'load_rss_mib'], ['bench process', 'bench_rss_mib']], [{ label: 'target for the city', value: 1024 }]),
    ...lineChart('Soak: p99 latencies per sample interval', 'ms', samples, [['PUBACK p99 (load process)', 'puback_p99_ms'], ['publish → queryable p99 (probe)', 'visible_p99_ms']]),
  ];
}

export function scalingCharts(source: ChartSource): Chart[] {
  const f = source.figures;
  return [
    ...barChart('Scaling: 2 / 1 (threads of the verifier, ingest instances), rate and work per CPU-second', 'ratio', bars(
      ['verifier, verifications/s', known(f, 'verify_ratio_rate_2_to_1_threads'), 'ours'],
      ['verifier, verifications per verifier CPU-second', known(f, 'verify_ratio_per_cpu_second_2_to_1_threads'), 'ours'],
      ['ingest, readings/s', known(f, 'ingest_ratio_rate_2_to_1_instances'), 'ours'],
      ['ingest, readings per ingest CPU-second', known(f, 'ingest_ratio_per_cpu_second_2_to_1_instances'), 'ours'],
      ['target (informative), per CPU-second', 0.8, 'target'],
    )),
    ...barChart('Scaling: verifications per verifier CPU-second', 'verifications/CPU-s', bars(
      ['1 pool thread', known(f, 'verify_threads_1_verifications_per_verifier_cpu_second'), 'ours'],
      ['2 pool threads', known(f, 'verify_threads_2_verifications_per_verifier_cpu_second'), 'ours'],
    )),
    ...barChart('Scaling: readings per ingest CPU-second', 'readings/CPU-s', bars(
      ['1 ingest instance', known(f, 'ingest_instances_1_readings_per_ingest_cpu_second'), 'ours'],
      ['2 ingest instances', known(f, 'ingest_instances_2_readings_per_ingest_cpu_second'), 'ours'],
    )),
  ];
}

/** The builders by scenario name, for reports whose results carry no charts of their own. */
export const SCENARIO_CHARTS: Readonly<Record<string, (source: ChartSource) => Chart[]>> = {
  codec: codecCharts,
  ingest: ingestCharts,
  verify: verifyCharts,
  scan: scanCharts,
  query: queryCharts,
  alerts: alertsCharts,
  broker: brokerCharts,
  edge: edgeCharts,
  soak: soakCharts,
  scaling: scalingCharts,
};

/** `result` with the charts `build` draws from it: how a scenario declares its charts. */
export function withCharts<R extends ChartSource>(build: (source: ChartSource) => Chart[], result: R): R & { readonly charts: readonly Chart[] } {
  return { ...result, charts: build(result) };
}
