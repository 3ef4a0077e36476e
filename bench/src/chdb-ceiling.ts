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
 * After one untimed warm-up insert each, the formats take turns insert by insert (who goes first
 * rotates), so load from elsewhere and background merges fall on all alike; a format's rate is its
 * rows over the time spent in its own inserts. Rows differ between formats (boot), and every
 * RowBinary insert carries its own deduplication token, so nothing is skipped as a duplicate.
 *
 * Run: node --import tsx bench/src/chdb-ceiling.ts [--rows N] [--batch-rows N]   (prints JSON)
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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
import { machineInfo } from './machine-info.ts';

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
  /**
   * CPU of the whole process (every thread: chDB's engine, libuv, V8) per row, in µs, over this
   * format's inserts: what a row costs the machine, not only the time it waits. Background merges the
   * inserts cause run later and fall mostly outside these windows (the formats take turns).
   */
  readonly cpuMicrosPerRow: number;
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

/** Insert number `i`: gateway batches of 100 readings, `batchRows` rows; `boot` keeps each format's rows apart. */
function makeInsert(i: number, batchRows: number, boot: number, startMs: number): StoredBatch[] {
  const group: StoredBatch[] = [];
  let seq = i * Math.ceil(batchRows / READINGS_PER_BATCH);
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
        value: ((seq * 31 + k) % 1000) / 10,
        ...(k % 97 === 0 ? { alarm: true } : {}),
      })),
    });
  }
  return group;
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

  interface Format {
    readonly name: string;
    /** Insert number i (0 is the untimed warm-up) of the rows in `group`. */
    insert(group: StoredBatch[], i: number): Promise<unknown>;
  }
  const engineFiles: string[] = [];
  const formats: Format[] = [
    { name: 'objects', insert: (group) => session.insert({ table: 'readings', values: objectsOf(group) }) },
    {
      name: 'json-each-row',
      insert(group) {
        let body = '';
        for (const row of objectsOf(group)) body += `${JSON.stringify(row)}\n`;
        return session.insert({ table: 'readings', values: Buffer.from(body), format: 'JSONEachRow', settings: { async_insert: 0 } });
      },
    },
    { name: 'rowbinary-file', insert: (group) => warehouse.insertBatches(group) },
    { name: 'engine-rowbinary', insert: (_group, i) => insertFile(engineFiles[i]!) },
  ];

  const seconds = formats.map(() => 0);
  const cpuMicros = formats.map(() => 0);
  let encoderSeconds = 0;
  try {
    // The engine-alone rows are encoded and written before any clock runs.
    const writer = createRowBinaryWriter({ maxBytes: batchRows * 1024 });
    const engineIndex = formats.findIndex((f) => f.name === 'engine-rowbinary');
    for (let i = 0; i <= inserts; i++) {
      const file = join(fileDir, `${i}.rowbinary`);
      await writeFile(file, encodeReadingsRowBinary(writer, makeInsert(i, batchRows, 1000 + engineIndex, today)));
      engineFiles.push(file);
    }
    // Formats take turns insert by insert, the first one rotating, so load from elsewhere on the
    // machine and background merges fall on all of them alike.
    for (let i = 0; i <= inserts; i++) {
      for (let k = 0; k < formats.length; k++) {
        const f = (i + k) % formats.length;
        const group = makeInsert(i, batchRows, 1000 + f, today);
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        await formats[f]!.insert(group, i);
        const cpu = process.cpuUsage(cpu0);
        if (i > 0) {
          seconds[f]! += (performance.now() - t0) / 1000;
          cpuMicros[f]! += cpu.user + cpu.system;
        }
      }
      const group = makeInsert(i, batchRows, 9999, today);
      const t0 = performance.now();
      encodeReadingsRowBinary(writer, group);
      if (i > 0) encoderSeconds += (performance.now() - t0) / 1000;
    }
    await warehouse.command('TRUNCATE TABLE readings');
  } finally {
    session.close();
    await warehouse.close();
    await drainPending();
    await rm(fileDir, { recursive: true, force: true });
  }
  const results: FormatRate[] = formats.map((f, k) => ({ name: f.name, rowsPerSec: total / seconds[k]!, cpuMicrosPerRow: cpuMicros[k]! / total }));
  const encoderRowsPerSec = total / encoderSeconds;
  const best = results.reduce((a, b) => (b.rowsPerSec > a.rowsPerSec ? b : a));
  return { formats: results, best, encoderRowsPerSec, rows: total, batchRows };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rows: { type: 'string', default: '1000000' }, 'batch-rows': { type: 'string', default: '50000' } },
  });
  const dir = await mkdtemp(join(tmpdir(), 'cityops-chdb-ceiling-'));
  try {
    const result = await measureChdbCeiling({ dir, rows: Number(values.rows), batchRows: Number(values['batch-rows']) });
    const round = (f: FormatRate) => ({ name: f.name, rowsPerSec: Math.round(f.rowsPerSec), cpuMicrosPerRow: Number(f.cpuMicrosPerRow.toFixed(2)) });
    process.stdout.write(
      `${JSON.stringify(
        {
          benchmark: 'chdb-ceiling',
          machine: machineInfo(),
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
