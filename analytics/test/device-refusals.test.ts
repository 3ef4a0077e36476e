import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock, startRuleHarness, type RuleHarness } from './rule-harness.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const RULE = { name: 'refused_r', title: 'Device sending readings beyond its sensor set', kind: 'device_refusals', window: '5m', severity: 'warning' };

/** Each test two hours of its own, so one's dead letters never fall in another's window. */
let hoursBack = 2;
const freshClock = () => manualClock(Date.now() - (hoursBack += 2) * 3_600_000);

let h: RuleHarness;

beforeAll(async () => {
  h = await startRuleHarness();
  await h.provision('gw-inventor', 'gateway', 'minhang/minhang-s01/g004');
  await h.provision('gw-honest', 'gateway', 'minhang/minhang-s01/g004');
}, 60_000);

afterAll(async () => {
  await h?.close();
});


const letter = (device: string, reason: string, at: number) => ({
  receivedAt: at,
  device,
  topic: `cityops/v1/telemetry/${device}`,
  reason,
  detail: 'readings of sensors beyond the set',
  payload: Buffer.from('raw'),
});

/** Issue 17: a device inventing sensors is one alert at its registered place, however many it invents. */
describe('device_refusals rule', () => {
  it("raises one alert per refusing device for the whole episode, at its registered place, with its district's operations centre", async () => {
    const clock = freshClock();
    const lifecycle = await h.lifecycle(clock);
    const t = await h.engine([RULE], clock, lifecycle);
    const poll = async () => {
      await t.engine.pollVerificationsNow();
      await t.engine.settled();
    };
    // Ten minutes of refused batches (50 a minute), and dead letters of other reasons from another device.
    for (let minute = 0; minute < 10; minute++) {
      await h.warehouse.insertDeadLetters([
        ...Array.from({ length: 50 }, (_, i) => letter('gw-inventor', i % 2 === 0 ? 'INGEST_ERR_SENSOR_LIMIT' : 'INGEST_ERR_METRIC_LIMIT', clock.now() - i)),
        letter('gw-honest', 'PROTOCOL_ERR_SCHEMA', clock.now()),
        letter('gw-honest', 'INGEST_ERR_TIMESTAMP_OUT_OF_RANGE', clock.now()),
      ]);
      await poll();
      clock.advance(MINUTE);
    }
    const alerts = lifecycle.list({ rule: 'refused_r' });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      key: 'refused_r:gw-inventor',
      kind: 'device_refusals',
      place: 'minhang/minhang-s01/g004',
      level: 'grid',
      subject: 'gw-inventor',
      state: 'dispatched',
      department: 'minhang-ops-center',
    });
    expect(alerts[0]!.summary).toContain('INGEST_ERR_METRIC_LIMIT, INGEST_ERR_SENSOR_LIMIT');
    expect(t.sink.raises('refused_r:')).toHaveLength(1);
    // The refusals stop: cleared a window after the last one.
    clock.advance(5 * MINUTE);
    await poll();
    expect(t.sink.clears('refused_r:')).toEqual(['refused_r:gw-inventor']);
    await t.engine.stop();
  });

  it('a decommissioned sensor still sending is news too, and minRefusals holds back a single slip', async () => {
    const clock = freshClock();
    const lifecycle = await h.lifecycle(clock);
    const t = await h.engine([{ ...RULE, name: 'refused_min', minRefusals: 3 }], clock, lifecycle);
    await h.warehouse.insertDeadLetters([letter('gw-honest', 'INGEST_ERR_SENSOR_DECOMMISSIONED', clock.now())]);
    await t.engine.pollVerificationsNow();
    await t.engine.settled();
    expect(lifecycle.list({ rule: 'refused_min' })).toHaveLength(0);
    await h.warehouse.insertDeadLetters([1, 2].map((i) => letter('gw-honest', 'INGEST_ERR_SENSOR_DECOMMISSIONED', clock.now() + i)));
    clock.advance(10 * SECOND);
    await t.engine.pollVerificationsNow();
    await t.engine.settled();
    expect(lifecycle.list({ rule: 'refused_min' }).map((a) => a.subject)).toEqual(['gw-honest']);
    await t.engine.stop();
  });
});
