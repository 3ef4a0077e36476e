import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createConditionSet } from '../src/rules/condition-set.ts';
import { createSilenceTracker } from '../src/rules/silence-tracker.ts';
import { gatewayEntry, manualClock, recordingSink } from './rule-harness.ts';


const GRID = 'pudong/pudong-s01/g001';
const sensorsOf = (n: number, prefix = 's') => Array.from({ length: n }, (_, i) => ({ sensor: `${prefix}${String(i).padStart(2, '0')}`, metric: 'pm25' }));

function setup(options: { maxSensorsPerDevice?: number; maxNewAlerts?: number; maxPending?: number } = {}) {
  const clock = manualClock(1_000_000);
  const sink = recordingSink();
  const drops = new Map<string, number>();
  let busy = 0;
  const conditions = createConditionSet({
    sink: sink.sink,
    parentOf: (kind, links, isActive) => tracker.parentOf(kind, links, isActive),
    logger: pino({ level: 'silent' }),
    maxConditions: 100_000,
    onDrop: () => undefined,
    now: clock.now,
    storms: { maxNewAlerts: options.maxNewAlerts ?? 10, windowMs: 300_000, listMax: 5 },
    updateEveryMs: 10_000,
    maxPending: options.maxPending ?? 10_000,
    onSinkBusy: () => busy++,
  });
  const tracker = createSilenceTracker(
    {
      sensorSilent: [{ name: 'silent', title: 'Silent', kind: 'sensor_silent', after: '1m', severity: 'warning', verifyWindows: 3 }],
      gatewayOffline: { name: 'offline', title: 'Offline', kind: 'gateway_offline', grace: '30s', severity: 'critical', verifyWindows: 3 },
      gridQuiet: { name: 'quiet', title: 'Quiet', kind: 'grid_quiet', after: '2m', minSensors: 1, severity: 'critical', verifyWindows: 3 },
    },
    { maxSensors: 1_000_000, maxSensorsPerDevice: options.maxSensorsPerDevice ?? 256, groupAt: 3, groupListMax: 5, maxGateways: 100, maxGrids: 100, maxPipelines: 2 },
    { conditions, now: clock.now, onDrop: (reason, n) => drops.set(reason, (drops.get(reason) ?? 0) + n), onEvaluations: () => undefined },
  );
  const tick = async () => {
    tracker.evaluate();
    conditions.flush();
    await conditions.settled();
  };
  /** `n` gateways of one sensor, each in its own building or all in one, fall silent at once (one flush, not awaited). */
  const silentAtOnce = (n: number, oneBuilding = false) => {
    const live = gatewayEntry('gw-live', GRID);
    for (let i = 0; i < n; i++) tracker.sawBatch(gatewayEntry(`gw-n${i}`, GRID, oneBuilding ? 'b00' : `b${i}`), sensorsOf(1));
    tracker.sawBatch(live, sensorsOf(1));
    clock.advance(61_000);
    tracker.sawBatch(live, sensorsOf(1));
    tracker.evaluate();
    conditions.flush();
  };
  return { clock, sink, conditions, tracker, tick, silentAtOnce, drops, busy: () => busy };
}

describe('silence grouped by gateway', () => {
  it('20 sensors of a gateway that fall silent together are one alert naming them; members leave by updates, the last one back clears it', async () => {
    const { clock, sink, tracker, tick, conditions } = setup();
    const gw = gatewayEntry('gw-20', GRID);
    // Another gateway in the grid keeps talking, so the grid is not quiet.
    const other = gatewayEntry('gw-live', GRID);
    tracker.sawBatch(gw, sensorsOf(20));
    tracker.sawBatch(other, sensorsOf(1, 'o'));
    clock.advance(61_000);
    tracker.sawBatch(other, sensorsOf(1, 'o'));
    await tick();
    const raised = sink.raises('silent:');
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ key: 'silent:gw-20', kind: 'sensor_silent', subject: 'gw-20', value: 20, place: GRID, level: 'grid' });
    expect(raised[0]!.summary).toBe('Silent: 20 of 20 sensors of gw-20 silent for 1m: s00, s01, s02, s03, s04 (+15 more)');
    expect(raised[0]!.parentKey).toBeUndefined();
    expect(conditions.size()).toBe(1);

    // Three come back: the same alert is described again (not before updateEveryMs), no new key.
    tracker.sawBatch(gw, sensorsOf(3));
    tracker.sawBatch(other, sensorsOf(1, 'o'));
    await tick();
    expect(sink.raises('silent:')).toHaveLength(1);
    clock.advance(10_000);
    tracker.sawBatch(other, sensorsOf(1, 'o'));
    await tick();
    expect(sink.raises('silent:').map((s) => [s.key, s.value])).toEqual([
      ['silent:gw-20', 20],
      ['silent:gw-20', 17],
    ]);
    expect(sink.raises('silent:')[1]!.summary).toContain('17 of 20 sensors of gw-20 silent for 1m: s03, s04, s05');
    expect(sink.clears()).toEqual([]);

    tracker.sawBatch(gw, sensorsOf(20));
    await tick();
    expect(sink.clears('silent:')).toEqual(['silent:gw-20']);
  });

  it('below the group size each sensor is its own alert; the third makes a group, and the first two hang under it', async () => {
    const { clock, sink, tracker, tick } = setup();
    const gw = gatewayEntry('gw-3', GRID);
    const other = gatewayEntry('gw-live', GRID);
    const talk = () => tracker.sawBatch(other, sensorsOf(1, 'o'));
    tracker.sawBatch(gw, sensorsOf(5));
    talk();
    clock.advance(20_000);
    tracker.sawBatch(gw, sensorsOf(5).slice(1));
    clock.advance(20_000);
    tracker.sawBatch(gw, sensorsOf(5).slice(2));
    clock.advance(25_000);
    talk();
    await tick(); // s00 silent: its own alert
    clock.advance(20_000);
    talk();
    await tick(); // s01 silent: its own alert
    expect(sink.raises('silent:').map((s) => s.key)).toEqual(['silent:gw-3/s00', 'silent:gw-3/s01']);
    clock.advance(20_000);
    talk();
    await tick(); // s02..s04: five silent, one group; the two hang under it
    expect(sink.calls.slice(-3).map((c) => (c.op === 'raise' ? [c.signal.key, c.signal.parentKey] : [c.op]))).toEqual([
      ['silent:gw-3', undefined],
      ['silent:gw-3/s00', 'silent:gw-3'],
      ['silent:gw-3/s01', 'silent:gw-3'],
    ]);
    expect(sink.raises('silent:gw-3')[2]!.summary).toContain('5 of 5 sensors');
  });

  it("a gateway offline suppresses its group, and a quiet grid the gateway's", async () => {
    const { clock, sink, tracker, tick } = setup();
    const gw = gatewayEntry('gw-off', GRID);
    tracker.sawBatch(gw, sensorsOf(10));
    tracker.sawStatus(gw, false);
    clock.advance(121_000);
    await tick();
    expect(sink.raises().map((s) => [s.key, s.parentKey])).toEqual([
      ['quiet:pudong/pudong-s01/g001', undefined],
      ['offline:gw-off', 'quiet:pudong/pudong-s01/g001'],
      ['silent:gw-off', 'offline:gw-off'],
    ]);
  });

  it('a gateway sending 100,000 sensor ids is watched for its first 256 only; the rest are counted', async () => {
    const { clock, sink, tracker, tick, drops } = setup();
    const gw = gatewayEntry('gw-flood', GRID);
    for (let b = 0; b < 1000; b++) tracker.sawBatch(gw, Array.from({ length: 100 }, (_, i) => ({ sensor: `c${b * 100 + i}`, metric: 'pm25' })));
    expect(tracker.sizes().sensors).toBe(256);
    expect(drops.get('device_sensors')).toBe(100_000 - 256);
    clock.advance(61_000);
    await tick();
    expect(sink.raises('silent:').map((s) => [s.key, s.value])).toEqual([['silent:gw-flood', 256]]);
  });

  it('a decommissioned sensor is forgotten: it leaves its group, and the last one forgotten clears it', async () => {
    const { clock, sink, tracker, tick } = setup();
    const gw = gatewayEntry('gw-dec', GRID);
    const other = gatewayEntry('gw-live', GRID);
    tracker.sawBatch(gw, sensorsOf(3));
    tracker.sawBatch(other, sensorsOf(1, 'o'));
    clock.advance(61_000);
    tracker.sawBatch(other, sensorsOf(1, 'o'));
    await tick();
    expect(sink.raises('silent:gw-dec').map((s) => s.value)).toEqual([3]);
    expect(tracker.forget(gw, 's00')).toBe(true);
    expect(tracker.forget(gw, 's00')).toBe(false);
    clock.advance(10_000);
    tracker.sawBatch(other, sensorsOf(1, 'o'));
    await tick();
    expect(sink.raises('silent:gw-dec').map((s) => s.summary)).toEqual([
      'Silent: 3 of 3 sensors of gw-dec silent for 1m: s00, s01, s02',
      'Silent: 2 of 2 sensors of gw-dec silent for 1m: s01, s02',
    ]);
    tracker.forget(gw, 's01');
    tracker.forget(gw, 's02');
    await tick();
    expect(sink.clears('silent:')).toEqual(['silent:gw-dec']);
    expect(tracker.sizes().sensors).toBe(1);
    // The freed slots are reused.
    tracker.sawBatch(gw, sensorsOf(2, 'n'));
    expect(tracker.sizes().sensors).toBe(3);
  });
});

describe('alert storms', () => {
  it('50 gateways of one building silent at once: 10 alerts, then one storm alert that counts the other 40 and is updated, then ends', async () => {
    const { clock, sink, tracker, tick, conditions } = setup();
    const live = gatewayEntry('gw-live', GRID, 'b01');
    const gws = Array.from({ length: 50 }, (_, i) => gatewayEntry(`gw-${i}`, GRID, 'b07'));
    for (const gw of gws) tracker.sawBatch(gw, sensorsOf(1));
    tracker.sawBatch(live, sensorsOf(1));
    clock.advance(61_000);
    tracker.sawBatch(live, sensorsOf(1));
    await tick();
    const place = `${GRID}/b07`;
    const raised = sink.raises('silent:');
    expect(raised.filter((s) => !s.key.includes('storm@'))).toHaveLength(10);
    const storms = raised.filter((s) => s.key.includes('storm@'));
    expect(storms).toHaveLength(1);
    expect(storms[0]).toMatchObject({ key: `silent:storm@${place}`, kind: 'sensor_silent', place, level: 'building', value: 40 });
    expect(storms[0]!.summary).toBe(`Alert storm: 40 more silent alerts at ${place} beyond 10 per 5 min: gw-10/s00, gw-11/s00, gw-12/s00, gw-13/s00, gw-14/s00 (+35 more)`);
    expect(conditions.storms()).toBe(1);

    // Five more fall silent a minute later: folded into the same storm, which is described again.
    const late = Array.from({ length: 5 }, (_, i) => gatewayEntry(`gw-late-${i}`, GRID, 'b07'));
    for (const gw of late) tracker.sawBatch(gw, sensorsOf(1));
    clock.advance(61_000);
    tracker.sawBatch(live, sensorsOf(1));
    await tick();
    expect(sink.raises(`silent:storm@`).map((s) => s.value)).toEqual([40, 45]);
    expect(sink.raises('silent:').filter((s) => !s.key.includes('storm@'))).toHaveLength(10);

    // A whole window with nothing new: the storm ends; its folded conditions stay quiet.
    clock.advance(300_000);
    tracker.sawBatch(live, sensorsOf(1));
    await tick();
    expect(sink.clears('silent:storm@')).toEqual([`silent:storm@${place}`]);
    expect(conditions.storms()).toBe(0);
    expect(sink.raises('silent:').filter((s) => !s.key.includes('storm@'))).toHaveLength(10);
  });

  it('sink calls wait in a bounded queue: when it is full they are sent at a later flush, none lost', async () => {
    // 12 new alerts in one building under a cap of 12: a raise that waited is not counted twice.
    const { sink, conditions, silentAtOnce, busy } = setup({ maxPending: 5, maxNewAlerts: 12 });
    silentAtOnce(12, true);
    // One in flight, five waiting; six held for the next flush.
    expect(conditions.pending()).toBe(5);
    expect(busy()).toBe(6);
    for (let i = 0; i < 3; i++) {
      await conditions.settled();
      conditions.flush();
    }
    await conditions.settled();
    expect(new Set(sink.raises('silent:').map((s) => s.key)).size).toBe(12);
    expect(sink.raises('silent:')).toHaveLength(12);
    expect(conditions.storms()).toBe(0);
  });
});

describe('stopping with a backlog', () => {
  it('close drops the sink calls still waiting, so settled waits only for the one in flight', async () => {
    const { conditions, silentAtOnce } = setup({ maxNewAlerts: 1000 });
    silentAtOnce(8);
    expect(conditions.pending()).toBe(7);
    expect(await conditions.close()).toBe(7);
    await conditions.settled();
    expect(conditions.pending()).toBe(0);
  });
});
