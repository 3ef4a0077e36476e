/**
 * What the sensor-set check (issue 17) adds to ingest's hot path, next to what a batch already costs:
 * decoding a 100-reading msgpack batch. Run: npx tsx warehouse/test/measure-sensor-screen.ts
 * Prints JSON. No warehouse writes happen: every sensor is known before the timed loops.
 */
import { createTelemetryCodec, type TelemetryBatch } from '@cityops/protocol';
import { createSensorSets, type Warehouse } from '../src/index.ts';

const ROUNDS = 200_000;
const codec = createTelemetryCodec();
const noWrites = { insertRows: () => Promise.resolve(), query: () => Promise.resolve([]) } as unknown as Warehouse;
const sets = createSensorSets({ defaultMaxPerDevice: 256, maxMetricsPerDevice: 32, flushMs: 3_600_000, flushBatchRows: 1_000_000, refreshMs: 3_600_000 }, { warehouse: noWrites });
const ts = Date.now();
const batch: TelemetryBatch = { boot: 1, seq: 1, readings: Array.from({ length: 100 }, (_, i) => ({ sensor: `s-${i % 20}`, metric: i % 2 === 0 ? 'pm25' : 'no2', ts: ts + i, value: i / 10 })) };
// 10,000 devices with 20 sensors each: the maps at a city's size.
for (let d = 0; d < 10_000; d++) sets.screen(`gw-${d}`, batch.readings);
const payload = codec.encode(batch);
// The same devices with a cap of 20: the other half of each batch is refused, every time.
const capped = createSensorSets({ defaultMaxPerDevice: 20, maxMetricsPerDevice: 32, flushMs: 3_600_000, flushBatchRows: 1_000_000, refreshMs: 3_600_000 }, { warehouse: noWrites });
for (let d = 0; d < 10_000; d++) capped.screen(`gw-${d}`, batch.readings);
const half: TelemetryBatch = { ...batch, readings: batch.readings.map((r, i) => (i % 2 === 0 ? r : { ...r, sensor: `new-${i}` })) };

function time(label: string, fn: (i: number) => unknown): [string, number] {
  for (let i = 0; i < 10_000; i++) fn(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) fn(i);
  return [label, Number(process.hrtime.bigint() - t0) / ROUNDS];
}

const results = Object.fromEntries([
  time('decode_100_readings_ns', () => codec.decode(payload)),
  time('screen_100_known_ns', (i) => sets.screen(`gw-${i % 10_000}`, batch.readings)),
  time('screen_half_refused_and_reencode_ns', (i) => {
    const s = capped.screen(`gw-${i % 10_000}`, half.readings);
    return s === undefined ? undefined : codec.encode({ boot: 1, seq: i, readings: s.kept });
  }),
]);
process.stdout.write(`${JSON.stringify({ node: process.version, rounds: ROUNDS, ...results, stats: sets.stats(), cappedStats: capped.stats() })}\n`);
