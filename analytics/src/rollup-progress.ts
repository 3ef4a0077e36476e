import { formatDateTime64Utc, type Warehouse } from '@cityops/warehouse';

/** The newest entry of a rollup job in `rollup_progress`. */
export interface RollupProgress {
  readonly fromBlock: number;
  readonly toBlock: number;
  readonly state: 'started' | 'done';
}

export async function readRollupProgress(warehouse: Warehouse, job: string): Promise<RollupProgress | undefined> {
  // ReplacingMergeTree keeps the highest version per job once merged; until then, pick it.
  const rows = await warehouse.query<{ from_block: number; to_block: number; state: 'started' | 'done' }>(
    'SELECT from_block, to_block, toString(state) AS state FROM rollup_progress WHERE job = {job:String} ORDER BY version DESC LIMIT 1',
    { job },
  );
  const row = rows[0];
  return row === undefined ? undefined : { fromBlock: Number(row.from_block), toBlock: Number(row.to_block), state: row.state };
}

/** Every readings block at or below this is in the rollups: a started range is not, yet. */
export function rolledUpThrough(progress: RollupProgress | undefined): number {
  if (progress === undefined) return 0;
  return progress.state === 'done' ? progress.toBlock : progress.fromBlock;
}

export async function writeRollupProgress(
  warehouse: Warehouse,
  job: string,
  entry: RollupProgress,
  at: number,
): Promise<void> {
  await warehouse.insertRows('rollup_progress', [
    { job, from_block: entry.fromBlock, to_block: entry.toBlock, state: entry.state, at: formatDateTime64Utc(at) },
  ]);
}
