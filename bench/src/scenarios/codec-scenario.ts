import { Packr, pack } from 'msgpackr';
import { createTelemetryCodec, type TelemetryBatch } from '@cityops/protocol';
import { codecCharts, withCharts } from '../charts/scenario-charts.ts';
import type { Scenario } from '../scenario.ts';

const QUESTION =
  'Which wire format for a 100-reading telemetry batch: JSON, plain msgpack maps, msgpackr records ' +
  '(structure inlined per message) or msgpackr with the shared structures of the protocol? Bytes per ' +
  'batch and decode+validate rate on one core.';

function sampleBatch(seq: number): TelemetryBatch {
  const ts = 1_764_000_000_000 + seq * 1000;
  return {
    boot: 7,
    seq,
    readings: Array.from({ length: 100 }, (_, i) => ({ sensor: `sensor-${i % 20}`, metric: i % 2 === 0 ? 'pm25' : 'water_pressure', ts: ts + i, value: Math.round(Math.random() * 1e4) / 100 })),
  };
}

/** Decodes `payloads` round-robin for about `ms`; returns batches per second. */
function rate(payloads: readonly Buffer[], decode: (b: Buffer) => unknown, ms: number): number {
  let n = 0;
  const started = performance.now();
  let now = started;
  while (now - started < ms) {
    for (let i = 0; i < 100; i++) decode(payloads[(n + i) % payloads.length]!);
    n += 100;
    now = performance.now();
  }
  return (n / (now - started)) * 1000;
}

export const codecScenario: Scenario = {
  name: 'codec',
  question: QUESTION,
  run({ durationS, smoke }) {
    const batches = Array.from({ length: 64 }, (_, i) => sampleBatch(i));
    const codec = createTelemetryCodec();
    const records = new Packr({ useRecords: true, mapsAsObjects: true });
    const formats = {
      json: batches.map((b) => Buffer.from(JSON.stringify(b))),
      msgpack_maps: batches.map((b) => pack(b)),
      msgpack_records: batches.map((b) => records.pack(b)),
      msgpack_shared_structures: batches.map((b) => codec.encode(b)),
    };
    const ms = smoke ? 100 : Math.min(2000, (durationS * 1000) / 4);
    const figures: Record<string, number> = {};
    // Every format is decoded by the same path ingest uses (decode + schema validation).
    for (const [name, payloads] of Object.entries(formats)) {
      figures[`${name}_bytes`] = Math.round(payloads.reduce((n, p) => n + p.length, 0) / payloads.length);
      figures[`${name}_batches_per_second`] = Math.round(rate(payloads, (b) => codec.decode(b), ms));
    }
    const shared = figures.msgpack_shared_structures_batches_per_second ?? 0;
    const json = figures.json_batches_per_second ?? 1;
    return Promise.resolve(withCharts(codecCharts, {
      scenario: 'codec',
      question: QUESTION,
      figures: { ...figures, shared_vs_json_speedup: shared / json },
      targets: [{ name: 'shared structures decode faster than JSON', target: '> 1x', met: shared > json }],
      notes: ['Decode includes ajv validation of every reading: it is what ingest pays per batch.'],
    }));
  },
};
