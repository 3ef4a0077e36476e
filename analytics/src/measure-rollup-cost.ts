/**
 * Question: what does each way of keeping per-minute rollups cost the readings insert path, and
 * what does the periodic rollup job cost instead?
 *
 * Method: one chDB store with the production `readings` table. The same kind of rows go in as
 * `Warehouse.insertBatches` calls of `insertRows` readings (100-reading gateway batches from 2,000
 * gateways over 384 grids and ~400 buildings, time advancing as at 400k readings/s), under each
 * variant in turn:
 *   none          no rollup at insert time (the periodic job's insert path)
 *   none-control  the same again: the spread between the two is the noise floor
 *   mv-basic      one materialized view at the finest level (grid + building): count, alarms,
 *                 min, max, sum only
 *   mv-finest     the same view with the quantile state (quantileDD) and distinct sensors (uniqExact)
 *   mv-levels     one such view per level (city, district, sub-district, grid, building)
 * Variants take turns (`turnInserts` inserts each, the first rotating every round), views are
 * created before a turn and dropped after it, so background merges and load from elsewhere fall on
 * all alike. A variant's rate is its rows over the time spent in its own inserts; its CPU is the
 * process's (chDB's threads and background merges included) over the same time. Once a round the
 * rollup job (createRollupJob, the production SQL) rolls up every row inserted since its last run,
 * as a service running it every few seconds at 400k readings/s would; its CPU per row gives the
 * cores it keeps busy at that rate. Last, the block-number column the job needs, alone: the same
 * rows into two copies of the readings table, with and without it, in turns.
 *
 * Run: node --import tsx analytics/src/measure-rollup-cost.ts [--rounds N] [--turn-inserts N] [--insert-rows N]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Reading } from '@cityops/protocol';
import { openWarehouse, type StoredBatch, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { createAnalyticsMetrics } from './analytics-metrics.ts';
import { createRollupJob } from './rollup-job.ts';

export interface RollupCostOptions {
  readonly dir: string;
  readonly rounds: number;
  readonly turnInserts: number;
  readonly insertRows: number;
}

export interface VariantRate {
  readonly name: string;
  readonly rowsPerSec: number;
  /** CPU of the whole process (chDB's threads too) per row inserted, background merges included. */
  readonly cpuMicrosPerRow: number;
  /** Rate relative to `none` in the same run. */
  readonly ratio: number;
}

export interface RollupCost {
  readonly variants: VariantRate[];
  readonly rowsPerVariant: number;
  /** The rollup job (createRollupJob, the production SQL): rows rolled up per second of wall time. */
  readonly jobRowsPerSec: number;
  readonly jobCpuMicrosPerRow: number;
  /** Cores the job keeps busy at 400k readings/s. */
  readonly jobCoreShareAt400k: number;
  readonly jobRows: number;
  readonly rollupRows: number;
  /** Insert rate without and with `enable_block_number_column` (what the job's watermark needs). */
  readonly blockNumberColumn: { readonly offRowsPerSec: number; readonly onRowsPerSec: number; readonly ratio: number };
}

const DISTRICTS = ['huangpu', 'xuhui', 'changning', 'jingan', 'putuo', 'hongkou', 'yangpu', 'minhang',
  'baoshan', 'jiading', 'pudong', 'jinshan', 'songjiang', 'qingpu', 'fengxian', 'chongming'];
const PROFILES = [['pm25', 'noise', 'temperature'], ['water_pressure', 'water_level'], ['traffic_flow', 'noise'],
  ['manhole_tilt', 'water_level'], ['crowd_density', 'temperature']];
const GATEWAYS = 2000;
const RATE = 400_000;

interface Gateway {
  readonly id: string;
  readonly place: StoredBatch['place'];
  readonly sensors: readonly { sensor: string; metric: string }[];
}

function makeGateways(): Gateway[] {
  return Array.from({ length: GATEWAYS }, (_, i) => {
    const g = i % 384;
    const district = DISTRICTS[g % 16]!;
    const sub = `${district}-s0${1 + (Math.floor(g / 16) % 4)}`;
    const grid = `g00${1 + Math.floor(g / 64)}`;
    const profile = i % 5;
    const building = profile === 4 ? `b${String(1 + (Math.floor(i / 5) % 20)).padStart(2, '0')}` : '';
    const sensors = PROFILES[profile]!.flatMap((metric) => [1, 2].map((k) => ({ sensor: `${metric}-${k}`, metric })));
    return { id: `gw-${String(i).padStart(5, '0')}`, place: { district, subdistrict: sub, grid, building }, sensors };
  });
}

/** Insert number `n` of `rows` readings; time advances as at 400k readings/s from `t0`. */
function makeInsert(gateways: readonly Gateway[], n: number, rows: number, t0: number): StoredBatch[] {
  const batches: StoredBatch[] = [];
  const start = t0 + Math.floor((n * rows * 1000) / RATE);
  for (let b = 0; b * 100 < rows; b++) {
    const seq = n * Math.ceil(rows / 100) + b;
    const gw = gateways[seq % gateways.length]!;
    const readings: Reading[] = Array.from({ length: 100 }, (_, k) => {
      const s = gw.sensors[k % gw.sensors.length]!;
      return { sensor: s.sensor, metric: s.metric, ts: start + b + k, value: ((seq * 37 + k * 11) % 1000) / 10, ...(k === 99 ? { alarm: true } : {}) };
    });
    batches.push({ device: gw.id, place: gw.place, boot: 1, seq, receivedAt: start + 100, readings });
  }
  return batches;
}

const ROLLUP_COLUMNS = `
  minute DateTime('UTC'),
  metric LowCardinality(String),
  district LowCardinality(String),
  subdistrict LowCardinality(String),
  grid LowCardinality(String),
  building LowCardinality(String),
  samples SimpleAggregateFunction(sum, UInt64),
  alarms SimpleAggregateFunction(sum, UInt64),
  value_min SimpleAggregateFunction(min, Float64),
  value_max SimpleAggregateFunction(max, Float64),
  value_sum SimpleAggregateFunction(sum, Float64)`;
const STATE_COLUMNS = `,
  value_quantiles AggregateFunction(quantileDD(0.01, 0.95), Float64),
  sensors AggregateFunction(uniqExact, String, String)`;
const ROLLUP_ENGINE = `ENGINE = AggregatingMergeTree PARTITION BY toYYYYMMDD(minute)
  ORDER BY (metric, minute, district, subdistrict, grid, building)`;
const BASIC_SELECT = `toStartOfMinute(ts) AS minute, metric, district, subdistrict, grid, building,
  count() AS samples, countIf(alarm) AS alarms, min(value) AS value_min, max(value) AS value_max, sum(value) AS value_sum`;
const STATE_SELECT = `, quantileDDState(0.01, 0.95)(value) AS value_quantiles, uniqExactState(device, sensor) AS sensors`;

/** Place columns a level keeps; the coarser ones are written as '' in that level's table. */
const LEVEL_COLUMNS: Record<string, readonly string[]> = {
  city: [],
  district: ['district'],
  subdistrict: ['district', 'subdistrict'],
  grid: ['district', 'subdistrict', 'grid'],
  building: ['district', 'subdistrict', 'grid', 'building'],
};

function levelSelect(level: string): string {
  const keep = LEVEL_COLUMNS[level]!;
  const place = ['district', 'subdistrict', 'grid', 'building'].map((c) => (keep.includes(c) ? c : `'' AS ${c}`)).join(', ');
  return `toStartOfMinute(ts) AS minute, metric, ${place},
    count() AS samples, countIf(alarm) AS alarms, min(value) AS value_min, max(value) AS value_max, sum(value) AS value_sum${STATE_SELECT}`;
}

interface Variant {
  readonly name: string;
  readonly setup: readonly string[];
  readonly teardown: readonly string[];
}

function mv(name: string, table: string, select: string, groupBy: string): string {
  return `CREATE MATERIALIZED VIEW ${name} TO ${table} AS SELECT ${select} FROM readings GROUP BY ${groupBy}`;
}

const GROUP_FINEST = 'minute, metric, district, subdistrict, grid, building';

const VARIANTS: readonly Variant[] = [
  { name: 'none', setup: [], teardown: [] },
  // A second turn of `none`: the spread between two identical variants is the noise floor.
  { name: 'none-control', setup: [], teardown: [] },
  {
    name: 'mv-basic',
    setup: [mv('exp_mv_basic', 'exp_basic_1m', BASIC_SELECT, GROUP_FINEST)],
    teardown: ['DROP VIEW exp_mv_basic'],
  },
  {
    name: 'mv-finest',
    setup: [mv('exp_mv_finest', 'exp_finest_1m', BASIC_SELECT + STATE_SELECT, GROUP_FINEST)],
    teardown: ['DROP VIEW exp_mv_finest'],
  },
  {
    name: 'mv-levels',
    setup: Object.keys(LEVEL_COLUMNS).map((level) => mv(`exp_mv_${level}`, `exp_${level}_1m`, levelSelect(level), GROUP_FINEST)),
    teardown: Object.keys(LEVEL_COLUMNS).map((level) => `DROP VIEW exp_mv_${level}`),
  },
];

/** CPU seconds of this process (chDB's threads included) since `from`. */
function cpuSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1e6;
}

/**
 * The block-number column alone, outside `insertBatches`: the same 100k rows from a Memory table
 * into two copies of the readings table, with and without `enable_block_number_column`, in turns.
 */
async function measureBlockNumberColumn(warehouse: Warehouse, rounds: number): Promise<{ off: number; on: number }> {
  const columns = `district LowCardinality(String), subdistrict LowCardinality(String), grid LowCardinality(String),
    building LowCardinality(String), device String, sensor String, metric LowCardinality(String), ts DateTime64(3, 'UTC'),
    value Float64, alarm Bool, boot UInt32, seq UInt32, idx UInt16, received_at DateTime64(3, 'UTC')`;
  const table = (setting: number) => `(${columns}) ENGINE = MergeTree PARTITION BY toYYYYMMDD(ts)
    ORDER BY (district, subdistrict, grid, building, metric, device, sensor, ts) SETTINGS enable_block_number_column = ${setting}`;
  await warehouse.command(`CREATE TABLE exp_bn_off ${table(0)}`);
  await warehouse.command(`CREATE TABLE exp_bn_on ${table(1)}`);
  await warehouse.command('CREATE TABLE exp_bn_src ENGINE = Memory AS SELECT * FROM readings LIMIT 100000');
  const seconds = { off: 0, on: 0 };
  for (let i = 0; i < rounds * 4; i++) {
    for (const which of i % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      const t0 = performance.now();
      await warehouse.command(`INSERT INTO exp_bn_${which} SELECT * FROM exp_bn_src`);
      seconds[which] += (performance.now() - t0) / 1000;
    }
  }
  const rows = rounds * 4 * 100_000;
  return { off: rows / seconds.off, on: rows / seconds.on };
}

export async function measureRollupCost(options: RollupCostOptions): Promise<RollupCost> {
  const { dir, rounds, turnInserts, insertRows } = options;
  // The migrations give readings the block-number column: every variant below has it.
  const warehouse: Warehouse = await openWarehouse({ backend: 'chdb', path: dir, maxInsertRows: insertRows });
  const gateways = makeGateways();
  const t0 = Math.floor(Date.now() / 86_400_000) * 86_400_000;
  const metrics = createAnalyticsMetrics();
  const job = createRollupJob({ intervalMs: 60_000 }, { warehouse, logger: pino({ level: 'silent' }), now: Date.now, metrics });
  try {
    await warehouse.command(`CREATE TABLE exp_basic_1m (${ROLLUP_COLUMNS}) ${ROLLUP_ENGINE}`);
    await warehouse.command(`CREATE TABLE exp_finest_1m (${ROLLUP_COLUMNS}${STATE_COLUMNS}) ${ROLLUP_ENGINE}`);
    for (const level of Object.keys(LEVEL_COLUMNS)) {
      await warehouse.command(`CREATE TABLE exp_${level}_1m (${ROLLUP_COLUMNS}${STATE_COLUMNS}) ${ROLLUP_ENGINE}`);
    }
    let n = 0;
    // Untimed warm-up, rolled up so the job starts from a watermark like a running service.
    await warehouse.insertBatches(makeInsert(gateways, n++, insertRows, t0));
    await job.runOnce();
    const seconds = VARIANTS.map(() => 0);
    const cpu = VARIANTS.map(() => 0);
    let jobSeconds = 0;
    let jobCpu = 0;
    let jobRows = 0;
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < VARIANTS.length; k++) {
        const v = (round + k) % VARIANTS.length;
        const variant = VARIANTS[v]!;
        for (const sql of variant.setup) await warehouse.command(sql);
        for (let i = 0; i < turnInserts; i++) {
          const batches = makeInsert(gateways, n++, insertRows, t0);
          const cpu0 = process.cpuUsage();
          const start = performance.now();
          await warehouse.insertBatches(batches);
          seconds[v]! += (performance.now() - start) / 1000;
          cpu[v]! += cpuSince(cpu0);
        }
        for (const sql of variant.teardown) await warehouse.command(sql);
      }
      // The job once a round: every variant's rows since the last run (as a service running it
      // every few seconds at 400k readings/s would find).
      const cpu0 = process.cpuUsage();
      const start = performance.now();
      await job.runOnce();
      jobSeconds += (performance.now() - start) / 1000;
      jobCpu += cpuSince(cpu0);
      jobRows += VARIANTS.length * turnInserts * insertRows;
    }
    const rowsPerVariant = rounds * turnInserts * insertRows;
    const rates = VARIANTS.map((v, i) => ({
      name: v.name,
      rowsPerSec: rowsPerVariant / seconds[i]!,
      cpuMicrosPerRow: (cpu[i]! / rowsPerVariant) * 1e6,
    }));
    const base = rates[0]!.rowsPerSec;
    const [{ rows: rollupRows = 0 } = {}] = await warehouse.query<{ rows: number }>('SELECT count() AS rows FROM readings_1m');
    const blockNumber = await measureBlockNumberColumn(warehouse, rounds);
    return {
      variants: rates.map((r) => ({ ...r, ratio: r.rowsPerSec / base })),
      rowsPerVariant,
      jobRowsPerSec: jobRows / jobSeconds,
      jobCpuMicrosPerRow: (jobCpu / jobRows) * 1e6,
      jobCoreShareAt400k: (jobCpu / jobRows) * RATE,
      jobRows,
      rollupRows,
      blockNumberColumn: { offRowsPerSec: blockNumber.off, onRowsPerSec: blockNumber.on, ratio: blockNumber.on / blockNumber.off },
    };
  } finally {
    await job.stop();
    await warehouse.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '8' },
      'turn-inserts': { type: 'string', default: '5' },
      'insert-rows': { type: 'string', default: '50000' },
    },
  });
  const dir = await mkdtemp(join(tmpdir(), 'cityops-rollup-cost-'));
  try {
    const result = await measureRollupCost({
      dir,
      rounds: Number(values.rounds),
      turnInserts: Number(values['turn-inserts']),
      insertRows: Number(values['insert-rows']),
    });
    process.stdout.write(`${JSON.stringify({ benchmark: 'rollup-cost', node: process.version, ...result }, null, 2)}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
