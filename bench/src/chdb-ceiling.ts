/**
 * Question: how fast can embedded chDB take readings rows on this machine, and through which insert
 * format? The answer is the ceiling the ingest benchmark compares itself with, measured in the same
 * run (figures from other machines compare only as ratios).
 *
 * Method: one process, one chDB store, the production `readings` table (warehouse migrations).
 * The same rows (100-reading gateway batches, 14 columns) go in `batchRows` at a time through:
 *   objects          session.insert from JS objects (chDB builds the INSERT)
 *   json-each-row    JSONEachRow text built in JS (times as ms numbers), chDB's raw insert
 *   rowbinary-file   Warehouse.insertBatches: RowBinary encoded in JS, temp file, INSERT … FROM file()
 *   engine-rowbinary the engine alone: RowBinary encoded before the clock starts, INSERT … FROM file()
 * Each format starts from an empty table after a warm-up insert; every insert carries its own
 * deduplication token so nothing is skipped as a duplicate.
 *
 * Run: node --import tsx bench/src/chdb-ceiling.ts [--rows N] [--batch-rows N]   (prints JSON)
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { drainPending, Session } from 'chdb';
import {
  createRowBinaryWriter,
  encodeReadingsRowBinary,
  openWarehouse,
  READINGS_ROWBINARY_COLUMN_LIST,
  READINGS_ROWBINARY_STRUCTURE,
  type StoredBatch,
  type Warehouse,
} from '@cityops/warehouse';

export interface ChdbCeilingOptions {
  /** Where the measurement's chDB store lives; created if missing. The readings it wrote are dropped. */
  readonly dir: string;
  /** Rows inserted per format. */
  readonly rows: number;
  /** Rows per insert. */
  readonly batchRows: number;
}

export interface FormatRate {
  readonly name: string;
  readonly rowsPerSec: number;
}

export interface ChdbCeiling {
  readonly formats: FormatRate[];
  readonly best: FormatRate;
  /** The JS RowBinary encoder alone (no I/O, no engine): how much of rowbinary-file is ours. */
  readonly encoderRowsPerSec: number;
  readonly rows: number;
  readonly batchRows: number;
}

const READINGS_PER_BATCH = 100;
const SENSORS = ['pm25', 'pm10', 'noise_db', 'water_pressure', 'temp_c'];

/** `inserts` groups of gateway batches of `batchRows` rows each; `boot` keeps each format's rows distinct. */
function makeInserts(inserts: number, batchRows: number, boot: number, startMs: number): StoredBatch[][] {
  const out: StoredBatch[][] = [];
  let seq = 0;
  for (let i = 0; i < inserts; i++) {
    const group: StoredBatch[] = [];
    for (let left = batchRows; left > 0; left -= READINGS_PER_BATCH) {
      const n = Math.min(READINGS_PER_BATCH, left);
      const gw = seq % 500;
      const ts = startMs + seq * 10;
      group.push({
        device: `gw-${gw}`,
        place: { district: `d-${gw % 16}`, subdistrict: `s-${gw % 64}`, grid: `g-${gw % 256}`, building: gw % 3 === 0 ? '' : `b-${gw}` },
        boot,
        seq: seq++,
        receivedAt: ts + 50,
        readings: Array.from({ length: n }, (_, k) => ({
          sensor: `s${k % 10}`,
          metric: SENSORS[k % SENSORS.length]!,
          ts: ts + (k % 10),
          value: (seq * 31 + k) % 1000 / 10,
          ...(k % 97 === 0 ? { alarm: true } : {}),
        })),
      });
    }
    out.push(group);
  }
  return out;
}

/** Row objects with DateTime64 as millisecond numbers, which chDB 26.x reads as such (the cheapest form). */
function objectsOf(batches: readonly StoredBatch[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const b of batches) {
    const { district, subdistrict, grid, building } = b.place;
    for (let idx = 0; idx < b.readings.length; idx++) {
      const r = b.readings[idx]!;
      rows.push({
        district, subdistrict, grid, building, device: b.device, sensor: r.sensor, metric: r.metric, ts: r.ts,
        value: r.value, alarm: r.alarm === true, boot: b.boot, seq: b.seq, idx, received_at: b.receivedAt,
      });
    }
  }
  return rows;
}

async function timed(run: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await run();
  return (performance.now() - t0) / 1000;
}

export async function measureChdbCeiling(options: ChdbCeilingOptions): Promise<ChdbCeiling> {
  const { dir, rows, batchRows } = options;
  if (!Number.isSafeInteger(batchRows) || batchRows < 1 || !Number.isSafeInteger(rows) || rows < batchRows) {
    throw new RangeError(`need integers rows >= batchRows >= 1, got rows=${rows} batchRows=${batchRows}`);
  }
  const inserts = Math.floor(rows / batchRows);
  const total = inserts * batchRows;
  await mkdir(dir, { recursive: true });
  // Timestamps from the start of today (UTC): inside the retention, one daily partition per insert.
  const today = Math.floor(Date.now() / 86_400_000) * 86_400_000;

  const warehouse: Warehouse = await openWarehouse({ backend: 'chdb', path: dir, maxInsertRows: Math.max(batchRows, 1000) });
  // A second session on the same directory shares the engine: chDB's own insert calls need one.
  const session = new Session(dir);
  const fileDir = join(dir, 'ceiling-rowbinary');
  await mkdir(fileDir, { recursive: true });
  let token = 0;
  const insertFile = (path: string) =>
    session.queryBindAsync(
      `INSERT INTO readings (${READINGS_ROWBINARY_COLUMN_LIST}) SELECT * FROM file({path:String}, 'RowBinary', {structure:String}) ` +
        'SETTINGS insert_deduplication_token = {token:String}, max_insert_block_size = {rows:UInt64}, ' +
        'min_insert_block_size_rows = {rows:UInt64}, min_insert_block_size_bytes = 0',
      { path, structure: READINGS_ROWBINARY_STRUCTURE, token: `ceiling-${process.pid}-${token++}`, rows: batchRows },
    );

  const formats: { name: string; prepare(data: StoredBatch[][]): Promise<(i: number) => Promise<unknown>> }[] = [
    {
      name: 'objects',
      prepare: (data) => Promise.resolve((i) => session.insert({ table: 'readings', values: objectsOf(data[i]!) })),
    },
    {
      name: 'json-each-row',
      prepare: (data) =>
        Promise.resolve((i) => {
          let body = '';
          for (const row of objectsOf(data[i]!)) body += `${JSON.stringify(row)}\n`;
          return session.insert({ table: 'readings', values: Buffer.from(body), format: 'JSONEachRow', settings: { async_insert: 0 } });
        }),
    },
    {
      name: 'rowbinary-file',
      prepare: (data) => Promise.resolve((i) => warehouse.insertBatches(data[i]!)),
    },
    {
      name: 'engine-rowbinary',
      async prepare(data) {
        const writer = createRowBinaryWriter({ maxBytes: batchRows * 1024 });
        const files: string[] = [];
        for (let i = 0; i < data.length; i++) {
          const file = join(fileDir, `${i}.rowbinary`);
          await writeFile(file, encodeReadingsRowBinary(writer, data[i]!));
          files.push(file);
        }
        return (i) => insertFile(files[i]!);
      },
    },
  ];

  const results: FormatRate[] = [];
  let encoderRowsPerSec = 0;
  try {
    for (const [n, format] of formats.entries()) {
      // Each format gets rows of its own (boot) so none is taken for a duplicate of another's.
      const data = makeInserts(inserts + 1, batchRows, 1000 + n, today);
      await warehouse.command('TRUNCATE TABLE readings');
      const insert = await format.prepare(data);
      await insert(inserts); // warm-up, untimed
      const seconds = await timed(async () => {
        for (let i = 0; i < inserts; i++) await insert(i);
      });
      results.push({ name: format.name, rowsPerSec: total / seconds });
    }
    const writer = createRowBinaryWriter({ maxBytes: batchRows * 1024 });
    const data = makeInserts(inserts, batchRows, 9999, today);
    const seconds = await timed(() => {
      for (const group of data) encodeReadingsRowBinary(writer, group);
      return Promise.resolve();
    });
    encoderRowsPerSec = total / seconds;
    await warehouse.command('TRUNCATE TABLE readings');
  } finally {
    session.close();
    await warehouse.close();
    await drainPending();
    await rm(fileDir, { recursive: true, force: true });
  }
  const best = results.reduce((a, b) => (b.rowsPerSec > a.rowsPerSec ? b : a));
  return { formats: results, best, encoderRowsPerSec, rows: total, batchRows };
}

function gitSha(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rows: { type: 'string', default: '1000000' }, 'batch-rows': { type: 'string', default: '50000' } },
  });
  const dir = await mkdtemp(join(tmpdir(), 'cityops-chdb-ceiling-'));
  try {
    const result = await measureChdbCeiling({ dir, rows: Number(values.rows), batchRows: Number(values['batch-rows']) });
    const round = (f: FormatRate) => ({ name: f.name, rowsPerSec: Math.round(f.rowsPerSec) });
    process.stdout.write(
      `${JSON.stringify(
        {
          benchmark: 'chdb-ceiling',
          gitSha: gitSha(),
          node: process.version,
          cpu: cpus()[0]?.model ?? 'unknown',
          cores: cpus().length,
          rows: result.rows,
          batchRows: result.batchRows,
          formats: result.formats.map(round),
          best: round(result.best),
          encoderRowsPerSec: Math.round(result.encoderRowsPerSec),
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
