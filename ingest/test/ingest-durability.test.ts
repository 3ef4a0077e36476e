import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTelemetryCodec, topics, type TelemetryBatch } from '@cityops/protocol';
import type { Warehouse } from '@cityops/warehouse';
import { countByKey, startHarness, type Harness } from './ingest-harness.ts';

const codec = createTelemetryCodec();
const batch = (seq: number, n = 100): TelemetryBatch => ({
  boot: 1,
  seq,
  readings: Array.from({ length: n }, (_, i) => ({ sensor: `s-${i % 5}`, metric: 'water_pressure', ts: Date.now() - 1000 + i, value: seq + i / 1000 })),
});

/** A warehouse whose readings inserts wait at a gate, or fail, while a test wants them to. */
function controllable(warehouse: Warehouse) {
  let mode: 'pass' | 'hold' | 'fail' = 'pass';
  let release: () => void = () => undefined;
  let gate = Promise.resolve();
  const wrapped: Warehouse = {
    ...warehouse,
    backend: warehouse.backend,
    insertPacked: async (batches) => {
      if (mode === 'fail') throw new Error('warehouse down (test)');
      await gate;
      return warehouse.insertPacked(batches);
    },
  };
  return {
    wrap: () => wrapped,
    hold() {
      mode = 'hold';
      gate = new Promise((resolve) => (release = resolve));
    },
    fail() {
      mode = 'fail';
    },
    pass() {
      mode = 'pass';
      release();
    },
  };
}

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

describe('ingest durability', () => {
  it('keeps memory bounded when the warehouse is slow: acknowledgements wait, devices keep the rest', async () => {
    let control!: ReturnType<typeof controllable>;
    const h = await startHarness({ writer: { flushRows: 100, flushIntervalMs: 10, maxBufferedRows: 500 } }, (w) => {
      control = controllable(w);
      return control.wrap();
    });
    harnesses.push(h);
    const secret = await h.provision('gw-slow');
    const client = await h.connect('gw-slow', secret);
    control.hold();
    let acked = 0;
    const sends = Array.from({ length: 30 }, (_, i) =>
      client.publishAsync(topics.telemetry('gw-slow'), codec.encode(batch(i + 1)), { qos: 1 }).then(() => acked++),
    );
    await vi.waitFor(async () => expect((await h.service.metrics.backpressureWaits.get()).values[0]?.value ?? 0).toBeGreaterThan(0));
    // Nothing beyond the bound is held: buffered + in flight stays within maxBufferedRows (+1 batch).
    const load = h.service.pipeline.writer().load();
    const ackedWhileHeld = acked;
    control.pass();
    expect(load).toBeLessThanOrEqual(600);
    expect(ackedWhileHeld).toBeLessThan(30);
    await Promise.all(sends);
    await h.service.pipeline.writer().flush();
    expect(await countByKey(h.warehouse, 'gw-slow')).toEqual({ rows: 3000, keys: 3000 });
  });

  it('inserts a backlog in parts of at most writer.maxInsertRows, and retries from the part that failed', async () => {
    let control!: ReturnType<typeof controllable>;
    const calls: { rows: number; firstSeq: number; failed: boolean }[] = [];
    const h = await startHarness({ writer: { flushRows: 100_000, flushIntervalMs: 10, maxInsertRows: 250, retryMinMs: 5, retryMaxMs: 20 } }, (w) => {
      const recorded: Warehouse = {
        ...w,
        backend: w.backend,
        insertPacked: async (batches) => {
          const call = { rows: batches.reduce((n, b) => n + b.rows, 0), firstSeq: batches[0]?.seq ?? -1, failed: false };
          calls.push(call);
          if (calls.length === 3) {
            call.failed = true;
            throw new Error('warehouse fault (test): third insert');
          }
          return w.insertPacked(batches);
        },
      };
      control = controllable(recorded);
      return control.wrap();
    });
    harnesses.push(h);
    const secret = await h.provision('gw-backlog');
    const client = await h.connect('gw-backlog', secret);
    control.hold();
    const sends = Array.from({ length: 20 }, (_, i) => client.publishAsync(topics.telemetry('gw-backlog'), codec.encode(batch(i + 1)), { qos: 1 }));
    await Promise.all(sends); // 2,000 rows acknowledged while the warehouse holds the first insert
    control.pass();
    await h.service.pipeline.writer().flush();
    expect(await countByKey(h.warehouse, 'gw-backlog')).toEqual({ rows: 2000, keys: 2000 });
    expect(Math.max(...calls.map((c) => c.rows))).toBeLessThanOrEqual(250);
    const failedAt = calls.findIndex((c) => c.failed);
    expect(failedAt).toBe(2);
    expect(calls[failedAt + 1]?.firstSeq).toBe(calls[failedAt]?.firstSeq); // the retry resumed at the failed part
    expect(calls.filter((c) => !c.failed).reduce((n, c) => n + c.rows, 0)).toBe(2000); // no part inserted twice
  });

  it.each([false, true])('replays acknowledged batches after a restart when the warehouse was down, each exactly once (wal.preallocate %s)', async (preallocate) => {
    let control!: ReturnType<typeof controllable>;
    const first = await startHarness({ wal: { preallocate }, writer: { flushRows: 200, flushIntervalMs: 10, retryMinMs: 5, retryMaxMs: 20 } }, (w) => {
      control = controllable(w);
      return control.wrap();
    });
    const dir = first.dir;
    const secret = await first.provision('gw-r');
    const client = await first.connect('gw-r', secret);
    control.fail();
    await Promise.all(Array.from({ length: 12 }, (_, i) => client.publishAsync(topics.telemetry('gw-r'), codec.encode(batch(i + 1)), { qos: 1 })));
    expect(await countByKey(first.warehouse, 'gw-r')).toEqual({ rows: 0, keys: 0 });
    // Every batch was acknowledged, none is in the warehouse: stopping must not lose them.
    await first.service.stop();
    await first.warehouse.close();

    const second = await startHarness({ wal: { preallocate } }, (w) => w, dir);
    harnesses.push(second);
    await second.service.pipeline.writer().flush();
    expect(await countByKey(second.warehouse, 'gw-r')).toEqual({ rows: 1200, keys: 1200 });
    // A resend of an already stored batch (its PUBACK was lost) is recognised after the restart.
    const again = await second.connect('gw-r', secret);
    await again.publishAsync(topics.telemetry('gw-r'), codec.encode(batch(5)), { qos: 1 });
    await second.service.pipeline.writer().flush();
    expect(await countByKey(second.warehouse, 'gw-r')).toEqual({ rows: 1200, keys: 1200 });
    await rm(dir, { recursive: true, force: true });
  });

  it('does not store twice what was inserted just before a crash lost the checkpoint', async () => {
    const first = await startHarness({ writer: { flushRows: 100, flushIntervalMs: 10 } });
    const dir = first.dir;
    const secret = await first.provision('gw-k');
    const client = await first.connect('gw-k', secret);
    await Promise.all(Array.from({ length: 5 }, (_, i) => client.publishAsync(topics.telemetry('gw-k'), codec.encode(batch(i + 1)), { qos: 1 })));
    await first.service.pipeline.writer().flush();
    await client.endAsync(true);
    await first.service.stop();
    await first.warehouse.close();
    // As if the process died between the insert and the checkpoint write.
    await rm(join(dir, 'wal', 'checkpoint'));

    const second = await startHarness({}, (w) => w, dir);
    harnesses.push(second);
    await second.service.pipeline.writer().flush();
    expect(await countByKey(second.warehouse, 'gw-k')).toEqual({ rows: 500, keys: 500 });
    await rm(dir, { recursive: true, force: true });
  });
});
