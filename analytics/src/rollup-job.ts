import type { Warehouse } from '@cityops/warehouse';
import type { Logger } from 'pino';
import type { AnalyticsMetrics } from './analytics-metrics.ts';
import { analyticsErrors } from './errors.ts';
import { readRollupProgress, rolledUpThrough, writeRollupProgress } from './rollup-progress.ts';
import { ABOVE_WATERMARK, READINGS_ROLLUP_JOB, ROLLUP_AGGREGATES } from './rollup-sql.ts';

export interface RollupJobConfig {
  /** Pause between the end of one run and the start of the next. */
  readonly intervalMs: number;
}

export interface RollupJobDeps {
  readonly warehouse: Warehouse;
  readonly logger: Logger;
  readonly now: () => number;
  readonly metrics: AnalyticsMetrics;
}

/** One run: the readings blocks (fromBlock, toBlock] it rolled up. */
export interface RollupRun {
  readonly fromBlock: number;
  readonly toBlock: number;
  /** Readings partitions (days) it read. */
  readonly partitions: number;
  /** A range a previous run started and did not finish, done again (deduplicated). */
  readonly redo: boolean;
  readonly seconds: number;
}

export interface RollupJob {
  /** Runs now and then every intervalMs after the previous run ends. */
  start(): void;
  /** Idempotent: no new run starts; resolves when the run in progress ends. */
  stop(): Promise<void>;
  /** One run, after any run in progress; undefined when there was nothing new. */
  runOnce(): Promise<RollupRun | undefined>;
  /** False after a failed run, until a run succeeds. */
  healthy(): boolean;
  /**
   * Every readings block at or below this is in the rollups: what this job last finished, from
   * memory once known (saves readers a query), else from rollup_progress.
   */
  rolledUpThrough(): Promise<number>;
}

const ROLLUP_COLUMNS = Object.keys(ROLLUP_AGGREGATES).join(', ');
const ROLLUP_SELECT = Object.entries(ROLLUP_AGGREGATES)
  .map(([column, expr]) => `${expr} AS ${column}`)
  .join(', ');

/**
 * One readings partition (a day) per INSERT: one block, hence one part, committed or not as a whole,
 * so that a redo with the same token is skipped exactly where the first attempt committed. The
 * token needs `non_replicated_deduplication_window` on readings_1m (migration 6). Squashing into one
 * block: min_insert_block_size_rows is never reached, so the block closes at the end.
 */
const INSERT_ROLLUP_SQL =
  `INSERT INTO readings_1m (minute, metric, district, subdistrict, grid, building, ${ROLLUP_COLUMNS}, hi_block) ` +
  `SELECT toStartOfMinute(ts) AS minute, metric, district, subdistrict, grid, building, ${ROLLUP_SELECT}, ` +
  'toUInt64({hi:UInt64}) AS hi_block FROM readings ' +
  `WHERE _partition_id = {partition:String} AND ${ABOVE_WATERMARK} AND _block_number <= {hi:UInt64} ` +
  'GROUP BY minute, metric, district, subdistrict, grid, building ' +
  'SETTINGS insert_deduplication_token = {token:String}, min_insert_block_size_rows = 1000000000000, min_insert_block_size_bytes = 0';

/** First and last sighting per sensor: min and max are idempotent, so a redo needs no token. */
const INSERT_PRESENCE_SQL =
  'INSERT INTO sensor_presence (metric, district, subdistrict, grid, building, device, sensor, first_seen, last_seen) ' +
  'SELECT metric, district, subdistrict, grid, building, device, sensor, min(ts), max(ts) FROM readings ' +
  `WHERE ${ABOVE_WATERMARK} AND _block_number <= {hi:UInt64} ` +
  'GROUP BY metric, district, subdistrict, grid, building, device, sensor';

/**
 * The readings rollup job. Each run takes the readings insert blocks committed since the last one,
 * (watermark, newest], and adds their per-minute aggregates to readings_1m and their sensors to
 * sensor_presence. Late readings (a gateway replaying a day-old journal) are new blocks like any
 * other and merge into their minute's row. A plain MergeTree numbers blocks at commit under its
 * parts lock, so when block N is visible every block below N is too (ClickHouse
 * MergeTreeSink::finishDelayedChunk → fillNewPartName). The range is recorded `started` before
 * and `done` after; a crash in between is redone at the next run with the same tokens.
 */
export function createRollupJob(config: RollupJobConfig, deps: RollupJobDeps): RollupJob {
  const { warehouse, logger, now, metrics } = deps;
  let queue: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let started = false;
  let stopping: Promise<void> | undefined;
  let lastOk = true;
  let doneThrough: number | undefined;

  async function newestBlock(): Promise<number> {
    const rows = await warehouse.query<{ newest: number }>(
      "SELECT max(max_block_number) AS newest FROM system.parts WHERE database = currentDatabase() AND table = 'readings' AND active",
    );
    return Number(rows[0]?.newest ?? 0);
  }

  async function partitionsAbove(lo: number): Promise<string[]> {
    const rows = await warehouse.query<{ partition_id: string }>(
      'SELECT DISTINCT partition_id FROM system.parts ' +
        "WHERE database = currentDatabase() AND table = 'readings' AND active AND max_block_number > {lo:UInt64} ORDER BY partition_id",
      { lo },
    );
    return rows.map((r) => r.partition_id);
  }

  async function run(): Promise<RollupRun | undefined> {
    const t0 = performance.now();
    const progress = await readRollupProgress(warehouse, READINGS_ROLLUP_JOB);
    doneThrough = rolledUpThrough(progress);
    const redo = progress?.state === 'started';
    let lo: number;
    let hi: number;
    if (progress !== undefined && redo) {
      lo = progress.fromBlock;
      hi = progress.toBlock;
    } else {
      lo = progress?.toBlock ?? 0;
      hi = await newestBlock();
      if (hi <= lo) return undefined;
      await writeRollupProgress(warehouse, READINGS_ROLLUP_JOB, { fromBlock: lo, toBlock: hi, state: 'started' }, now());
    }
    const partitions = await partitionsAbove(lo);
    for (const partition of partitions) {
      await warehouse.command(INSERT_ROLLUP_SQL, { lo, hi, partition, token: `${READINGS_ROLLUP_JOB}:${lo}:${hi}:${partition}` });
    }
    await warehouse.command(INSERT_PRESENCE_SQL, { lo, hi });
    await writeRollupProgress(warehouse, READINGS_ROLLUP_JOB, { fromBlock: lo, toBlock: hi, state: 'done' }, now());
    doneThrough = hi;
    const seconds = (performance.now() - t0) / 1000;
    metrics.rollupWatermark.set(hi);
    metrics.rollupSeconds.observe(seconds);
    return { fromBlock: lo, toBlock: hi, partitions: partitions.length, redo, seconds };
  }

  function runOnce(): Promise<RollupRun | undefined> {
    const next = queue.then(async () => {
      try {
        const result = await run();
        metrics.rollupRuns.inc({ outcome: result === undefined ? 'idle' : 'rolled_up' });
        lastOk = true;
        return result;
      } catch (err) {
        metrics.rollupRuns.inc({ outcome: 'failed' });
        lastOk = false;
        throw analyticsErrors.ANALYTICS_ERR_ROLLUP_FAILED(err instanceof Error ? err.message : String(err), err);
      }
    });
    queue = next.catch(() => undefined);
    return next;
  }

  function schedule(delayMs: number): void {
    timer = setTimeout(() => {
      timer = undefined;
      runOnce()
        .catch((err: unknown) => logger.error({ err }, 'rollup run failed; the next run retries the same range'))
        .finally(() => {
          if (stopping === undefined) schedule(config.intervalMs);
        });
    }, delayMs);
    timer.unref();
  }

  return {
    start() {
      if (started || stopping !== undefined) return;
      started = true;
      schedule(0);
    },
    stop() {
      stopping ??= (async () => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        await queue;
      })();
      return stopping;
    },
    runOnce,
    healthy: () => lastOk,
    async rolledUpThrough() {
      return doneThrough ?? rolledUpThrough(await readRollupProgress(warehouse, READINGS_ROLLUP_JOB));
    },
  };
}
