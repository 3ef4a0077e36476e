import { describe, expect, it } from 'vitest';
import { createTelemetryCodec, parsePlace, type TelemetryBatch } from '@cityops/protocol';
import type { DeviceInfo, PackedBatch, SensorSets, StoredBatch, Warehouse } from '@cityops/warehouse';
import { createIngestMetrics } from '../src/ingest-metrics.ts';
import { createTelemetryPipeline, type AcceptOutcome } from '../src/telemetry-pipeline.ts';
import type { WalRecord } from '../src/wal/wal-record.ts';
import type { WriteAheadLog } from '../src/wal/write-ahead-log.ts';

// A device that waited too long for a PUBACK resends the batch on a new connection while the first
// copy's append is still on its way to disk. Acknowledging the copy at once as a duplicate let the
// device drop the batch from its journal; a kill before the append finished then lost it (seen
// once in cli/test/crash-and-outage.test.ts under CI load: 202 of a gateway's 3,000 readings).

const codec = createTelemetryCodec();
const device: DeviceInfo = { id: 'gw-d', kind: 'gateway', place: parsePlace('pudong/s1/g1') } as DeviceInfo;
const batch = (seq: number): TelemetryBatch => ({
  boot: 7,
  seq,
  readings: [{ sensor: 'pm', metric: 'pm25', ts: Date.now() - 1000, value: seq }],
});

/** A log whose appends wait until the test lets each one finish or fail. */
function heldLog() {
  const appends: { record: WalRecord; finish: () => void; fail: (err: Error) => void }[] = [];
  const wal: WriteAheadLog = {
    open: () => Promise.resolve({ pending: [], retained: [], truncatedBytes: 0 }),
    append: (record, onDurable) =>
      new Promise<void>((resolve, reject) => {
        appends.push({
          record,
          finish: () => {
            onDurable();
            resolve();
          },
          fail: reject,
        });
      }),
    roll: (onSealed) => Promise.resolve({ sealed: 1, value: onSealed(1) }),
    checkpoint: () => Promise.resolve(),
    bytesOnDisk: () => 0,
    close: () => Promise.resolve(),
  };
  return { wal, appends };
}

function startPipeline() {
  const log = heldLog();
  const inserted: PackedBatch[] = [];
  const warehouse = {
    pack: (b: StoredBatch): PackedBatch => ({ device: b.device, boot: b.boot, seq: b.seq, rows: b.readings.length, data: { format: 'json', rows: [] } }),
    insertPacked: (batches: readonly PackedBatch[]) => {
      inserted.push(...batches);
      return Promise.resolve();
    },
    insertDeadLetters: () => Promise.resolve(),
    release: () => undefined,
  } as unknown as Warehouse;
  const metrics = createIngestMetrics();
  const pipeline = createTelemetryPipeline(
    {
      maxPayloadBytes: 65_536,
      maxReadingAgeMs: 86_400_000,
      maxReadingAheadMs: 300_000,
      dedupCapacity: 1000,
      writer: { flushRows: 10_000, maxInsertRows: 10_000, flushIntervalMs: 60_000, maxBufferedRows: 100_000, retryMinMs: 10, retryMaxMs: 100 },
    },
    { warehouse, wal: log.wal, metrics, sensors: { screen: () => undefined } as unknown as SensorSets, now: Date.now, onError: () => undefined },
  );
  return { pipeline, log, inserted, metrics };
}

/** Settles `promise` into a record that a test can look at without awaiting it. */
function watch<T>(promise: Promise<T>) {
  const state: { done: boolean; value?: T; error?: unknown } = { done: false };
  promise.then(
    (value) => Object.assign(state, { done: true, value }),
    (error: unknown) => Object.assign(state, { done: true, error }),
  );
  return state;
}

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('a copy of a batch whose first append is not yet durable', () => {
  it('is acknowledged as a duplicate only once the first copy is in the log, and stored once', async () => {
    const { pipeline, log, inserted, metrics } = startPipeline();
    await pipeline.start();
    const payload = codec.encode(batch(1));
    const first = watch(pipeline.accept(device, 'cityops/gw-d/telemetry', payload, 'mqtt'));
    await turns();
    expect(log.appends).toHaveLength(1);
    const copy = watch(pipeline.accept(device, 'cityops/gw-d/telemetry', payload, 'mqtt'));
    const overHttp = watch(pipeline.accept(device, 'http:/v1/telemetry/gw-d', payload, 'http'));
    await turns();
    // The first copy could still be lost by a kill: neither copy may be acknowledged yet.
    expect([first.done, copy.done, overHttp.done]).toEqual([false, false, false]);
    expect(log.appends).toHaveLength(1);

    log.appends[0]!.finish();
    await turns();
    expect((first.value as AcceptOutcome).outcome).toBe('accepted');
    expect((copy.value as AcceptOutcome).outcome).toBe('duplicate');
    expect((overHttp.value as AcceptOutcome).outcome).toBe('duplicate');
    const outcomes = (await metrics.batches.get()).values.map((v) => [v.labels.outcome, v.labels.transport, v.value]);
    expect(outcomes).toEqual(expect.arrayContaining([['accepted', 'mqtt', 1], ['duplicate', 'mqtt', 1], ['duplicate', 'http', 1]]));

    // A copy after the append is answered at once.
    await expect(pipeline.accept(device, 'cityops/gw-d/telemetry', payload, 'mqtt')).resolves.toMatchObject({ outcome: 'duplicate' });
    await pipeline.stop();
    expect(inserted.map((b) => b.seq)).toEqual([1]);
  });

  it('fails with the first copy when its append fails, and a later copy is stored', async () => {
    const { pipeline, log, inserted } = startPipeline();
    await pipeline.start();
    const payload = codec.encode(batch(2));
    const first = watch(pipeline.accept(device, 'cityops/gw-d/telemetry', payload, 'mqtt'));
    await turns();
    const copy = watch(pipeline.accept(device, 'cityops/gw-d/telemetry', payload, 'mqtt'));
    await turns();
    const diskFull = Object.assign(new Error('ENOSPC: no space left on device (test)'), { code: 'ENOSPC' });
    log.appends[0]!.fail(diskFull);
    await turns();
    // Neither is acknowledged: the device keeps the batch and sends it again.
    expect(first.error).toBe(diskFull);
    expect(copy.error).toBe(diskFull);

    const again = watch(pipeline.accept(device, 'cityops/gw-d/telemetry', payload, 'mqtt'));
    await turns();
    expect(log.appends).toHaveLength(2);
    log.appends[1]!.finish();
    await turns();
    expect((again.value as AcceptOutcome).outcome).toBe('accepted');
    await pipeline.stop();
    expect(inserted.map((b) => b.seq)).toEqual([2]);
  });
});
