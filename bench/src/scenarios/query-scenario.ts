import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { createAnalyticsService } from '@cityops/analytics';
import { createSeededRandom } from '@cityops/edge-agent';
import { generateCity, summarizeLatencies } from '@cityops/simulators';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { queryCharts, withCharts } from '../charts/scenario-charts.ts';
import type { Scenario, ScenarioOptions } from '../scenario.ts';

const QUESTION =
  'How fast does the analytics API answer indicator queries at district and grid level over N stored readings ' +
  '(rollups plus the raw tail, through HTTP), how does that compare with the same aggregate computed from the raw ' +
  'readings in the same run, and how long do N readings take to load and to roll up?';

export interface QueryScenarioOptions {
  /** Readings loaded (the record: 100 million). */
  readonly rows: number;
  /** Readings loaded by a smoke run. */
  readonly smokeRows: number;
}

/** Base and spread of each metric's generated values (roughly what the edge-agent's sensor models produce). */
const METRIC_VALUES: Readonly<Record<string, readonly [number, number]>> = {
  pm25: [10, 140],
  noise: [40, 40],
  temperature: [5, 35],
  water_pressure: [1.5, 3],
  water_level: [1, 6],
  traffic_flow: [0, 90],
  manhole_tilt: [0, 3],
  crowd_density: [0, 5],
};

/** Inserts per statement: a progress line per chunk, and memory bounded whatever N is. */
const CHUNK_ROWS = 10_000_000;

/**
 * Loads `rows` readings of a generated city into the warehouse inside ClickHouse: one reading per
 * sensor per `stepMs`, ending at `endMs`, sensors interleaved as a gateway fleet sends them.
 */
async function loadReadings(warehouse: Warehouse, rows: number, endMs: number, log: (line: string) => void) {
  const city = generateCity({ gateways: 2000, seed: 11 });
  const sensors = city.gateways.flatMap((g) =>
    g.sensors.map((s) => ({ ...g.place, device: g.id, sensor: s.id, metric: s.metric, base: METRIC_VALUES[s.metric]?.[0] ?? 0, spread: METRIC_VALUES[s.metric]?.[1] ?? 1 })),
  );
  const k = sensors.length;
  // Every sensor reports once per second: N readings span N / k seconds before endMs.
  const spanMs = Math.ceil(rows / k) * 1000;
  const startMs = endMs - spanMs;
  await warehouse.command(
    'CREATE TABLE bench_sensors (i UInt32, district String, subdistrict String, grid String, building String, device String, sensor String, metric String, base Float64, spread Float64) ENGINE = Memory',
  );
  await warehouse.insertRows('bench_sensors', sensors.map((s, i) => ({ i, ...s })));
  const t0 = performance.now();
  for (let first = 0; first < rows; first += CHUNK_ROWS) {
    const count = Math.min(CHUNK_ROWS, rows - first);
    await warehouse.command(
      `INSERT INTO readings (district, subdistrict, grid, building, device, sensor, metric, ts, value, alarm, boot, seq, idx, received_at)
       WITH (SELECT groupArray(tuple(district, subdistrict, grid, building, device, sensor, metric, base, spread)) FROM (SELECT * FROM bench_sensors ORDER BY i)) AS s
       SELECT x.1, x.2, x.3, x.4, x.5, x.6, x.7, t, round(x.8 + x.9 * (sipHash64(n) % 10000) / 10000, 2), false, 1, toUInt32(intDiv(n, {k:UInt32})), 0, t
       FROM (SELECT number + {first:UInt64} AS n, s[n % {k:UInt32} + 1] AS x,
                    fromUnixTimestamp64Milli(toInt64({start:Int64} + intDiv(n, {k:UInt32}) * 1000 + n % 997)) AS t
             FROM numbers({count:UInt64}))`,
      { k, first, count, start: startMs },
    );
    log(`query: loaded ${first + count} of ${rows} readings, ${Math.round((first + count) / ((performance.now() - t0) / 1000))} rows/s`);
  }
  await warehouse.command('DROP TABLE bench_sensors');
  return { seconds: (performance.now() - t0) / 1000, sensors: k, startMs, districts: city.districts.map((d) => d.id) };
}

async function timeGet(url: string): Promise<number> {
  const t0 = performance.now();
  const response = await fetch(url);
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${body}`);
  return performance.now() - t0;
}

/**
 * One request at a time for `seconds` (at least `minRequests`), each for a random complete window
 * inside the loaded span: latency as a user sees it, not under a flood. Also the process's CPU per
 * request (server, chDB threads and the client together), which other load on the machine does not
 * inflate the way it stretches wall-clock tails.
 */
async function measure(urls: () => string, seconds: number, minRequests: number) {
  const samples: number[] = [];
  const cpu0 = process.cpuUsage();
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until || samples.length < minRequests) samples.push(await timeGet(urls()));
  const cpu = process.cpuUsage(cpu0);
  return { ...summarizeLatencies(samples), cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / samples.length };
}

export function createQueryScenario(options: QueryScenarioOptions): Scenario {
  return {
    name: 'query',
    question: QUESTION,
    async run({ durationS, smoke, workDir, log }: ScenarioOptions) {
      const rows = smoke ? options.smokeRows : options.rows;
      const warehouse = await openWarehouse({ backend: 'chdb', path: join(workDir, 'query-store') });
      try {
        const endMs = Math.floor(Date.now() / 300_000) * 300_000;
        log(`query: loading ${rows} readings`);
        const load = await loadReadings(warehouse, rows, endMs, log);
        const tRollup = performance.now();
        const service = createAnalyticsService({ http: { port: 0 }, rollup: { intervalMs: 3_600_000 } }, { warehouse, logger: pino({ level: 'warn' }) });
        const run = await service.rollup.runOnce();
        const rollupSeconds = (performance.now() - tRollup) / 1000;
        const [counts] = await warehouse.query<{ rollup_rows: number; parts: number }>(
          "SELECT (SELECT count() FROM readings_1m) AS rollup_rows, (SELECT count() FROM system.parts WHERE table = 'readings' AND active) AS parts",
        );
        log(`query: rolled up in ${rollupSeconds.toFixed(1)} s (${counts?.rollup_rows} rollup rows); measuring`);
        const { httpUrl } = await service.start();
        try {
          const random = createSeededRandom(5);
          const windows = Math.floor((endMs - load.startMs) / 300_000);
          const at = () => load.startMs + (1 + Math.floor(random() * windows)) * 300_000;
          const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
          const indicators = ['pm25_avg', 'pm25_p95', 'air_sensor_coverage', 'noise_avg', 'water_pressure_min'];
          const url = (level: string, place = '') => `${httpUrl}/v1/indicators/${pick(indicators)}?level=${level}&at=${at()}${place === '' ? '' : `&place=${place}`}`;
          const seconds = Math.max(1, durationS / 4);
          const minRequests = smoke ? 20 : 200;
          await measure(() => url('district'), 0.5, 10); // warm-up
          const district = await measure(() => url('district'), seconds, minRequests);
          const grid = await measure(() => url('grid'), seconds, minRequests);
          const drill = await measure(() => url('grid', pick(load.districts)), seconds, minRequests);
          // The peer: the same district-level average straight from the raw readings (in-process, no HTTP).
          const rawSamples: number[] = [];
          const rawUntil = performance.now() + Math.max(1, seconds / 2) * 1000;
          while (performance.now() < rawUntil || rawSamples.length < (smoke ? 5 : 20)) {
            const to = at();
            const t0 = performance.now();
            await warehouse.query(
              "SELECT district, avg(value) AS v FROM readings WHERE metric = 'pm25' " +
                'AND ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64}) GROUP BY district',
              { from: to - 300_000, to },
            );
            rawSamples.push(performance.now() - t0);
          }
          const raw = summarizeLatencies(rawSamples);
          return withCharts(queryCharts, {
            scenario: 'query',
            question: QUESTION,
            figures: {
              readings: rows,
              sensors: load.sensors,
              load_seconds: Math.round(load.seconds),
              load_rows_per_second: Math.round(rows / load.seconds),
              rollup_seconds: Number(rollupSeconds.toFixed(1)),
              rollup_rows: Number(counts?.rollup_rows ?? 0),
              readings_parts: Number(counts?.parts ?? 0),
              district_p50_ms: Number(district.p50.toFixed(1)),
              district_p90_ms: Number(district.p90.toFixed(1)),
              district_p99_ms: Number(district.p99.toFixed(1)),
              district_cpu_ms_per_request: Number(district.cpuMsPerRequest.toFixed(1)),
              grid_p50_ms: Number(grid.p50.toFixed(1)),
              grid_p90_ms: Number(grid.p90.toFixed(1)),
              grid_p99_ms: Number(grid.p99.toFixed(1)),
              grid_cpu_ms_per_request: Number(grid.cpuMsPerRequest.toFixed(1)),
              grid_drilldown_p50_ms: Number(drill.p50.toFixed(1)),
              grid_drilldown_p99_ms: Number(drill.p99.toFixed(1)),
              raw_district_avg_p50_ms: Number(raw.p50.toFixed(1)),
              raw_district_avg_p99_ms: Number(raw.p99.toFixed(1)),
              requests: district.count + grid.count + drill.count,
            },
            targets: [
              { name: 'district p99', target: '< 100 ms', met: district.p99 < 100 },
              { name: 'grid p99', target: '< 100 ms', met: grid.p99 < 100 },
            ],
            notes: [
              `load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores (other load stretches the tails)`,
              `rollup run: blocks ${run?.fromBlock ?? 0}..${run?.toBlock ?? 0}; ${load.sensors} sensors reporting once a second`,
              `indicators asked, at random complete windows: ${indicators.join(', ')}; one request at a time through HTTP`,
            ],
          });
        } finally {
          await service.stop();
        }
      } finally {
        await warehouse.close();
      }
    },
  };
}

/** The record: 100 million readings (a smoke run loads one million). */
export const queryScenario: Scenario = createQueryScenario({ rows: 100_000_000, smokeRows: 1_000_000 });
