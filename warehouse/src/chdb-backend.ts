import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { drainPending, Session } from 'chdb';
import type { Backend } from './backend.ts';
import { fromChdbError } from './chdb-errors.ts';
import { warehouseErrors } from './errors.ts';
import { writeInsertFile } from './insert-file.ts';
import { createReadingsPacker } from './readings-packer.ts';
import { READINGS_ROWBINARY_COLUMN_LIST, READINGS_ROWBINARY_STRUCTURE } from './readings-rowbinary.ts';
import type { PackedBatch } from './types.ts';
import type { ChdbWarehouseConfig } from './warehouse-config.ts';

/** Under the data directory: RowBinary files waiting for their INSERT … SELECT FROM file(). */
export const INSERT_TMP_DIR = 'cityops-insert-tmp';

/**
 * One block, one part per partition: the block limits are raised to the insert's row count so the
 * engine neither cuts the file into several blocks nor squashes it with others. The dedup token makes
 * a retry of the same batches a no-op.
 */
const INSERT_READINGS_SQL =
  `INSERT INTO readings (${READINGS_ROWBINARY_COLUMN_LIST}) ` +
  `SELECT * FROM file({path:String}, 'RowBinary', {structure:String}) ` +
  'SETTINGS insert_deduplication_token = {token:String}, max_insert_block_size = {rows:UInt64}, ' +
  'min_insert_block_size_rows = {rows:UInt64}, min_insert_block_size_bytes = 0';

/**
 * The embedded store. chDB runs on the main thread (it crashes in worker threads) and only through
 * its async calls, which run on libuv's pool so the event loop keeps turning. Readings go in as
 * RowBinary through a temp file: measured several times faster than objects or JSONEachRow (README).
 */
export async function openChdbBackend(config: ChdbWarehouseConfig): Promise<Backend> {
  const path = resolve(config.path);
  const tmpDir = join(path, INSERT_TMP_DIR);
  const filePrefix = `${process.pid}-`;
  try {
    await mkdir(tmpDir, { recursive: true });
    // libchdb binds a data directory to one process, so files from other pids are leftovers of a crash.
    for (const name of await readdir(tmpDir)) {
      if (!name.startsWith(filePrefix)) await rm(join(tmpDir, name), { force: true });
    }
  } catch (err) {
    throw warehouseErrors.WAREHOUSE_ERR_UNAVAILABLE(`cannot prepare the data directory ${path}`, err);
  }

  let session: Session;
  try {
    session = new Session(path, {
      connectionArgs: [`--max_result_rows=${config.maxQueryRows}`, '--result_overflow_mode=throw'],
    });
  } catch (err) {
    throw fromChdbError(err, `cannot open chDB at ${path}`);
  }

  const packer = createReadingsPacker(config);

  async function writeReadingsFile(file: string, batches: readonly PackedBatch[]): Promise<void> {
    try {
      await writeInsertFile(file, batches);
    } catch (err) {
      throw warehouseErrors.WAREHOUSE_ERR_UNAVAILABLE(`cannot write the insert file ${file}`, err);
    }
  }

  async function run(sql: string, params: object | undefined, context: string) {
    try {
      return await session.queryBindAsync(sql, params ?? {}, { format: 'JSONEachRow' });
    } catch (err) {
      throw fromChdbError(err, context);
    }
  }

  return {
    kind: 'chdb',
    async query<T>(sql: string, params?: object): Promise<T[]> {
      const text = (await run(sql, params, 'chDB query failed')).text();
      const rows: T[] = [];
      for (const line of text.split('\n')) if (line !== '') rows.push(JSON.parse(line) as T);
      return rows;
    },
    async command(sql, params) {
      await run(sql, params, 'chDB statement failed');
    },
    async insertJsonRows(table, rows, columns) {
      let body = '';
      for (const row of rows) body += `${JSON.stringify(row)}\n`;
      try {
        await session.insert({
          table,
          values: Buffer.from(body),
          format: 'JSONEachRow',
          ...(columns === undefined ? {} : { columns }),
          // Synchronous insert: the call resolves when the rows are in a part, never batched with others.
          settings: { async_insert: 0 },
        });
      } catch (err) {
        throw fromChdbError(err, `chDB insert into ${table} failed`);
      }
    },
    packReadings(batch) {
      try {
        return { format: 'rowbinary', bytes: packer.pack(batch) };
      } catch (err) {
        // RangeError: a value outside its column type (boot above 2^32, a fractional ts, ...).
        throw warehouseErrors.WAREHOUSE_ERR_ARGUMENT(`cannot encode readings: ${(err as Error).message}`, err);
      }
    },
    releaseReadings(data) {
      if (data.format === 'rowbinary') packer.release(data.bytes);
    },
    async insertReadings(batches, rows, dedupToken) {
      if (batches.some((b) => b.data.format !== 'rowbinary')) throw warehouseErrors.WAREHOUSE_ERR_ARGUMENT('a batch packed for a ClickHouse server');
      const file = join(tmpDir, `${filePrefix}${randomUUID()}.rowbinary`);
      try {
        await writeReadingsFile(file, batches);
        await run(
          INSERT_READINGS_SQL,
          { path: file, structure: READINGS_ROWBINARY_STRUCTURE, token: dedupToken, rows },
          'chDB insert into readings failed',
        );
      } finally {
        await rm(file, { force: true });
      }
    },
    async ping() {
      await run('SELECT 1', undefined, 'chDB ping failed');
    },
    async close() {
      session.close();
      // close() defers destroying the connection behind running work; wait until it is really gone.
      await drainPending();
    },
  };
}
