/**
 * What ingest's main thread spends per reading between a decoded batch and the file chDB inserts
 * from (issue 20, cut 1): encoding each batch to RowBinary (`pack`) and writing the batches of an
 * insert to its file. Run: npx tsx warehouse/test/measure-insert-copies.ts [rounds]
 * Prints JSON: CPU time (user + system of the whole process, so libuv's write threads count too),
 * wall time and GC pause time, per reading, best of the rounds. No chDB: only the JavaScript around it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { writeInsertFile } from '../src/insert-file.ts';
import { createReadingsPacker } from '../src/readings-packer.ts';
import type { PackedBatch, StoredBatch } from '../src/types.ts';

const ROUNDS = Number(process.argv[2] ?? 5);
const READINGS_PER_BATCH = 100; // what the simulator's gateways send
const BATCHES_PER_INSERT = 500; // 50,000 rows: an insert of the ingest bench's size
const INSERTS_PER_ROUND = 20; // 1 M readings a round

const now = Date.now();
const place = { district: 'district-07', subdistrict: 'sub-07-3', grid: 'g-0412', building: 'b-0412-17' };
const batches: StoredBatch[] = Array.from({ length: BATCHES_PER_INSERT }, (_, b) => ({
  device: `gw-${String(b).padStart(5, '0')}`,
  place,
  boot: 1,
  seq: b,
  receivedAt: now,
  readings: Array.from({ length: READINGS_PER_BATCH }, (_, i) => ({
    sensor: `s-${i % 20}`,
    metric: i % 2 === 0 ? 'pm25' : 'no2',
    ts: now - 1000 + i,
    value: i / 10,
    ...(i % 50 === 0 ? { alarm: true } : {}),
  })),
}));

let gcMs = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
});
gcObserver.observe({ entryTypes: ['gc'] });

const packer = createReadingsPacker({ maxInsertRows: 1_000_000 });
const dir = await mkdtemp(join(tmpdir(), 'cityops-measure-insert-'));

async function round(): Promise<{ cpuNs: number; wallNs: number; packNs: number; gcNs: number; bytes: number; faults: number }> {
  const gc0 = gcMs;
  const faults0 = process.resourceUsage().minorPageFault;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let packNs = 0;
  let bytes = 0;
  for (let n = 0; n < INSERTS_PER_ROUND; n++) {
    const p0 = process.hrtime.bigint();
    const packed: PackedBatch[] = batches.map((b) => {
      const data = packer.pack(b);
      bytes += data.length;
      return { device: b.device, boot: b.boot, seq: b.seq, rows: b.readings.length, data: { format: 'rowbinary', bytes: data } };
    });
    packNs += Number(process.hrtime.bigint() - p0);
    const file = join(dir, `${n}.rowbinary`);
    await writeInsertFile(file, packed);
    await rm(file);
  }
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  // Let the GC observer deliver this round's entries before reading them.
  await new Promise((resolve) => setImmediate(resolve));
  const faults = process.resourceUsage().minorPageFault - faults0;
  return { cpuNs: (cpu.user + cpu.system) * 1000, wallNs, packNs, gcNs: (gcMs - gc0) * 1e6, bytes, faults };
}

const readings = READINGS_PER_BATCH * BATCHES_PER_INSERT * INSERTS_PER_ROUND;
await round(); // warm-up: JIT, file system caches
const results = [];
for (let r = 0; r < ROUNDS; r++) results.push(await round());
gcObserver.disconnect();
await rm(dir, { recursive: true, force: true });
const best = results.reduce((a, b) => (b.cpuNs < a.cpuNs ? b : a));
const perReading = (ns: number) => Math.round((ns / readings) * 10) / 10;
process.stdout.write(
  `${JSON.stringify({
    node: process.version,
    readings_per_round: readings,
    rounds: ROUNDS,
    bytes_per_reading: best.bytes / readings,
    cpu_ns_per_reading: perReading(best.cpuNs),
    wall_ns_per_reading: perReading(best.wallNs),
    pack_wall_ns_per_reading: perReading(best.packNs),
    gc_ns_per_reading: perReading(best.gcNs),
    // First touches of fresh memory (new slabs, chunks): each a kernel trap that zeroes a page.
    minor_page_faults_per_1k_readings: Math.round((best.faults / readings) * 1000 * 10) / 10,
    cpu_ns_per_reading_all_rounds: results.map((x) => perReading(x.cpuNs)),
  })}\n`,
);
