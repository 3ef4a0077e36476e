import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTelemetryCodec, topics, type TelemetryBatch } from '@cityops/protocol';
import type { Warehouse } from '@cityops/warehouse';
import { countByKey, startHarness, type Harness } from './ingest-harness.ts';

// Fault: the warehouse stops taking inserts under load and comes back (embedded chDB behind a
// fault-injecting wrapper; the real server backend's stop/restart is in faults-clickhouse-restart).
// Acknowledgements go on until the backpressure bound, then wait; nothing acknowledged is lost, and an
// insert that committed although it reported an error is not stored twice on its retry.

const codec = createTelemetryCodec();
const DEVICES = ['gw-f0', 'gw-f1', 'gw-f2', 'gw-f3'];
const BATCHES = 40; // per device
const READINGS = 50; // per batch
const BOUND = 2_000; // writer.maxBufferedRows

const batch = (seq: number): TelemetryBatch => ({
  boot: 1,
  seq,
  readings: Array.from({ length: READINGS }, (_, i) => ({ sensor: `s-${i % 5}`, metric: 'water_pressure', ts: Date.now() - 60_000 + i, value: seq + i / 1000 })),
});

type Mode = 'pass' | 'commit-then-fail' | 'fail';

/** Readings inserts pass, fail, or commit and then report a failure (a connection lost after the write). */
function faulty(warehouse: Warehouse) {
  let mode: Mode = 'pass';
  let failures = 0;
  const wrapped: Warehouse = {
    ...warehouse,
    backend: warehouse.backend,
    insertPacked: async (batches) => {
      if (mode === 'pass') return warehouse.insertPacked(batches);
      failures++;
      if (mode === 'commit-then-fail') await warehouse.insertPacked(batches);
      throw new Error(`warehouse fault (test): ${mode}`);
    },
  };
  return {
    wrapped,
    set: (next: Mode) => (mode = next),
    failures: () => failures,
  };
}

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

describe('fault: the warehouse stops taking inserts under load, then recovers (chDB, injected)', () => {
  it('acknowledges up to the backpressure bound, then waits; afterwards every acknowledged batch is stored exactly once', { timeout: 60_000 }, async () => {
    let fault!: ReturnType<typeof faulty>;
    const h = await startHarness({ writer: { flushRows: 200, flushIntervalMs: 10, maxBufferedRows: BOUND, retryMinMs: 5, retryMaxMs: 50 } }, (w) => {
      fault = faulty(w);
      return fault.wrapped;
    });
    harnesses.push(h);
    const clients = await Promise.all(DEVICES.map(async (id) => h.connect(id, await h.provision(id))));
    const acked = new Map(DEVICES.map((id) => [id, 0]));
    const send = (seqs: readonly number[]) =>
      clients.flatMap((client, d) =>
        seqs.map((seq) =>
          client.publishAsync(topics.telemetry(DEVICES[d]!), codec.encode(batch(seq)), { qos: 1 }).then(() => acked.set(DEVICES[d]!, acked.get(DEVICES[d]!)! + 1)),
        ),
      );
    const total = () => [...acked.values()].reduce((a, b) => a + b, 0);
    const metric = async (name: 'warehouseErrors' | 'backpressureWaits') => (await h.service.metrics[name].get()).values.reduce((n, v) => n + v.value, 0);

    // Normal service: 10 batches per device.
    await Promise.all(send(Array.from({ length: 10 }, (_, i) => i + 1)));
    await h.service.pipeline.writer().flush();

    // The outage: inserts first commit but report an error, then fail outright.
    fault.set('commit-then-fail');
    const during = Promise.all(send(Array.from({ length: BATCHES - 10 }, (_, i) => i + 11)));
    during.catch(() => undefined); // awaited below; a failed test must not leave it unhandled
    await vi.waitFor(() => expect(fault.failures()).toBeGreaterThanOrEqual(2), { timeout: 20_000, interval: 5 });
    fault.set('fail');
    await vi.waitFor(async () => expect(await metric('backpressureWaits')).toBeGreaterThan(0), { timeout: 20_000, interval: 5 });
    const ackedAtBound = total();
    expect(await metric('warehouseErrors')).toBeGreaterThan(0);
    // Nothing beyond the bound is taken in: buffered + in flight stays within it (+ one batch being admitted).
    expect(h.service.pipeline.writer().load()).toBeLessThanOrEqual(BOUND + READINGS);
    expect(ackedAtBound).toBeLessThan(DEVICES.length * BATCHES);
    expect(ackedAtBound).toBeGreaterThan(DEVICES.length * 10); // acknowledgements went on into the outage
    // The service keeps answering: liveness yes, readiness no (the writer is failing), reads work.
    const base = h.addresses.httpUrl;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    const readings = await fetch(`${base}/v1/readings?device=gw-f0&limit=10000`);
    expect(readings.status).toBe(200);
    expect(((await readings.json()) as { readings: unknown[] }).readings.length).toBeGreaterThanOrEqual(10 * READINGS);
    // Still at the bound: no acknowledgement while nothing can be written.
    const failuresNow = fault.failures();
    await vi.waitFor(() => expect(fault.failures()).toBeGreaterThan(failuresNow + 3), { timeout: 20_000, interval: 5 });
    expect(total()).toBe(ackedAtBound);

    // The warehouse is back: everything is acknowledged and stored once.
    fault.set('pass');
    await during;
    await h.service.pipeline.writer().flush();
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    for (const id of DEVICES) expect(await countByKey(h.warehouse, id), id).toEqual({ rows: BATCHES * READINGS, keys: BATCHES * READINGS });
    // A resend of a batch acknowledged during the outage (its PUBACK lost) is recognised.
    await clients[0]!.publishAsync(topics.telemetry('gw-f0'), codec.encode(batch(12)), { qos: 1 });
    await h.service.pipeline.writer().flush();
    expect(await countByKey(h.warehouse, 'gw-f0')).toEqual({ rows: BATCHES * READINGS, keys: BATCHES * READINGS });
    console.info(`warehouse outage (chDB, injected): ${ackedAtBound} of ${DEVICES.length * BATCHES} batches acknowledged when the bound of ${BOUND} rows was reached; ${fault.failures()} failed inserts`);
  });
});
