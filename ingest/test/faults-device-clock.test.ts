import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTelemetryCodec, topics, type Reading } from '@cityops/protocol';
import { countByKey, startHarness, type Harness } from './ingest-harness.ts';

// Fault: a device's clock is far off. The stated rule (docs/CONTRACTS.md): every ts
// must fall within [arrival − maxReadingAgeMs, arrival + maxReadingAheadMs]; a batch with a reading
// outside is refused whole as INGEST_ERR_TIMESTAMP_OUT_OF_RANGE (dead letter, error topic, HTTP 400),
// readings inside are stored with their own ts: never moved to the arrival time, never misdated.
// (ingest-service.test.ts covers one reading a day ahead over MQTT; this covers the rest of the rule.)

const codec = createTelemetryCodec();
const AGE = 3_600_000; // telemetry.maxReadingAgeMs
const AHEAD = 300_000; // telemetry.maxReadingAheadMs
const reading = (sensor: string, ts: number): Reading => ({ sensor, metric: 'noise', ts, value: 50 });

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

describe('fault: the device clock far off', () => {
  it('refuses batches with readings outside the window by the stated rule, stores the others with their own ts, and serves other devices', async () => {
    const h = await startHarness({ telemetry: { maxReadingAgeMs: AGE, maxReadingAheadMs: AHEAD } });
    harnesses.push(h);
    const skewedSecret = await h.provision('gw-skew');
    const skewed = await h.connect('gw-skew', skewedSecret);
    const notices: { code: string; message: string }[] = [];
    skewed.on('message', (_topic, payload) => notices.push(JSON.parse(payload.toString('utf8')) as { code: string; message: string }));
    await skewed.subscribeAsync(topics.errors('gw-skew'), { qos: 1 });
    const other = await h.connect('gw-on-time', await h.provision('gw-on-time'));
    const onTime = Array.from({ length: 20 }, (_, i) =>
      other.publishAsync(topics.telemetry('gw-on-time'), codec.encode({ boot: 1, seq: i + 1, readings: [reading('n-1', Date.now() - i)] }), { qos: 1 }),
    );

    const now = Date.now();
    const refused = [
      { boot: 1, seq: 1, readings: [reading('behind', now - 2 * AGE)] }, // an RTC that lost hours
      { boot: 1, seq: 2, readings: [reading('ahead', now + 12 * AHEAD)] }, // an hour ahead
      { boot: 1, seq: 3, readings: [reading('ok', now - 1000), reading('epoch', 1_000)] }, // a reset RTC mid-batch
    ];
    const inside = [reading('old', now - AGE + 60_000), reading('soon', now + AHEAD - 60_000), reading('now', now)];
    for (const batch of refused) await skewed.publishAsync(topics.telemetry('gw-skew'), codec.encode(batch), { qos: 1 });
    await skewed.publishAsync(topics.telemetry('gw-skew'), codec.encode({ boot: 1, seq: 4, readings: inside }), { qos: 1 });

    // The same rule over HTTP: 400 with the code, kept as a dead letter.
    const response = await fetch(`${h.addresses.httpUrl}/v1/telemetry`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`gw-skew:${skewedSecret}`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ boot: 1, seq: 5, readings: [reading('http-behind', now - 30 * 86_400_000)] }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'INGEST_ERR_TIMESTAMP_OUT_OF_RANGE', storedAs: 'dead_letter' });

    await vi.waitFor(() => expect(notices).toHaveLength(3));
    expect(notices.map((n) => n.code)).toEqual(Array.from({ length: 3 }, () => 'INGEST_ERR_TIMESTAMP_OUT_OF_RANGE'));
    expect(notices[0]!.message).toContain('/readings/0/ts');
    expect(notices[2]!.message).toContain('/readings/1/ts'); // the reading that broke the rule is named
    await Promise.all(onTime);
    await h.service.pipeline.writer().flush();

    // Only the batch inside the window was stored, each reading once and with the ts the device sent.
    const stored = await h.warehouse.query<{ sensor: string; ts: number; seq: number }>(
      'SELECT sensor, toInt64(toUnixTimestamp64Milli(ts)) AS ts, seq FROM readings WHERE device = {d:String} ORDER BY sensor',
      { d: 'gw-skew' },
    );
    expect(stored.map((r) => ({ sensor: r.sensor, ts: Number(r.ts), seq: Number(r.seq) }))).toEqual(
      [...inside].sort((a, b) => a.sensor.localeCompare(b.sensor)).map((r) => ({ sensor: r.sensor, ts: r.ts, seq: 4 })),
    );
    const letters = await h.warehouse.query<{ reason: string; n: number }>(
      'SELECT reason, toUInt32(count()) AS n FROM dead_letters WHERE device = {d:String} GROUP BY reason',
      { d: 'gw-skew' },
    );
    expect(letters).toEqual([{ reason: 'INGEST_ERR_TIMESTAMP_OUT_OF_RANGE', n: 4 }]);
    // The other device was served throughout, each batch once.
    expect(await countByKey(h.warehouse, 'gw-on-time')).toEqual({ rows: 20, keys: 20 });
    // And the skewed device is still connected: once its clock is right, its readings go in.
    await skewed.publishAsync(topics.telemetry('gw-skew'), codec.encode({ boot: 2, seq: 1, readings: [reading('fixed', Date.now())] }), { qos: 1 });
    await h.service.pipeline.writer().flush();
    expect(await countByKey(h.warehouse, 'gw-skew')).toEqual({ rows: 4, keys: 4 });
  });
});
