import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { topics } from '@cityops/protocol';
import { formatDateTime64Utc } from '@cityops/warehouse';
import { manualClock, startRuleHarness, type RuleHarness } from './rule-harness.ts';

// One ingest (broker + embedded chDB) for the file: libchdb binds one data directory per process.
let h: RuleHarness;
beforeAll(async () => {
  h = await startRuleHarness();
});
afterAll(async () => {
  await h?.close();
});

const SECOND = 1000;
const MINUTE = 60 * SECOND;

const pm25High = {
  name: 'pm25_high',
  title: 'PM2.5 held high',
  kind: 'threshold',
  indicator: 'pm25_avg',
  level: 'grid',
  severity: 'critical',
  for: '2m',
};
const silentRule = { name: 'silent', title: 'Sensor silent', kind: 'sensor_silent', after: '1m', severity: 'warning' };
const offlineRule = { name: 'offline', title: 'Gateway offline', kind: 'gateway_offline', grace: '30s', severity: 'warning' };
const quietRule = { name: 'quiet', title: 'Grid quiet', kind: 'grid_quiet', after: '2m', minSensors: 3, severity: 'critical' };
const pipelineRule = { name: 'pipe', title: 'Pipeline', kind: 'pipeline_backlog', maxLagMs: 5000, staleAfter: '10s', severity: 'critical' };

describe('alert rules on the live stream', () => {
  it('says a threshold held `for: 0s` as at once, not "for 0s" (issue 19)', async () => {
    const clock = manualClock();
    await h.provision('gw-flood-0', 'gateway', 'jinshan/jinshan-s01/g010');
    const rule = { name: 'level_now', title: 'Water level at flood mark', kind: 'threshold', indicator: 'water_level_max', level: 'grid', severity: 'warning', for: '0s' };
    const t = await h.engine([rule], clock);
    const gw = await h.gateway('gw-flood-0', await h.ingest.registry.rotate('gw-flood-0').then((r) => r.secret));
    await gw.publish([{ sensor: 'wl-1', metric: 'water_level', value: 9 }], clock.now());
    await t.readingsSeen(1);
    await t.tick();
    const raised = t.sink.raises('level_now:');
    expect(raised).toHaveLength(1);
    expect(raised[0]!.summary).toMatch(/ ≥ [\d.]+ at jinshan\/jinshan-s01\/g010$/);
    expect(raised[0]!.summary).not.toContain('for 0s');
    await t.engine.stop();
  });

  it('raises one alert for the grid whose PM2.5 average is held high for the rule, not before', async () => {
    const clock = manualClock();
    await h.provision('gw-pm-a', 'gateway', 'pudong/pudong-s01/g101');
    await h.provision('gw-pm-b', 'gateway', 'pudong/pudong-s01/g102/b01');
    const t = await h.engine([pm25High], clock);
    const a = await h.gateway('gw-pm-a', await h.ingest.registry.rotate('gw-pm-a').then((r) => r.secret));
    const b = await h.gateway('gw-pm-b', await h.ingest.registry.rotate('gw-pm-b').then((r) => r.secret));
    await a.publish([{ sensor: 'pm-1', metric: 'pm25', value: 190 }, { sensor: 'pm-2', metric: 'pm25', value: 210 }], clock.now());
    await b.publish([{ sensor: 'pm-1', metric: 'pm25', value: 30 }], clock.now());
    await t.readingsSeen(3);
    clock.advance(MINUTE);
    await a.publish([{ sensor: 'pm-1', metric: 'pm25', value: 200 }], clock.now());
    await t.readingsSeen(4);
    await t.tick();
    clock.advance(MINUTE - SECOND);
    await t.tick();
    expect(t.sink.raises('pm25_high:')).toEqual([]);
    clock.advance(SECOND);
    await t.tick();
    await t.tick();
    const raised = t.sink.raises('pm25_high:');
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({
      key: 'pm25_high:pudong/pudong-s01/g101',
      kind: 'threshold',
      severity: 'critical',
      level: 'grid',
      place: 'pudong/pudong-s01/g101',
      metric: 'pm25',
      value: 200,
      threshold: 150,
      verification: { by: 'indicator', indicator: 'pm25_avg', level: 'grid', place: 'pudong/pudong-s01/g101', windows: 3 },
    });
    expect(t.engine.isActive('pm25_high:pudong/pudong-s01/g101')).toBe(true);
    // The window slides past the high readings: the condition ends.
    clock.advance(5 * MINUTE);
    await t.tick();
    expect(t.sink.clears('pm25_high:')).toEqual(['pm25_high:pudong/pudong-s01/g101']);
    expect(t.engine.isActive('pm25_high:pudong/pudong-s01/g101')).toBe(false);
    await t.engine.stop();
  });

  it('raises sensor_silent for a sensor that stopped while its gateway keeps reporting', async () => {
    const clock = manualClock();
    const secret = await h.provision('gw-s', 'gateway', 'xuhui/xuhui-s01/g201');
    const t = await h.engine([silentRule], clock);
    const gw = await h.gateway('gw-s', secret);
    await gw.publish([{ sensor: 'a', metric: 'noise', value: 50 }, { sensor: 'b', metric: 'noise', value: 51 }], clock.now());
    await t.readingsSeen(2);
    clock.advance(30 * SECOND);
    await gw.publish([{ sensor: 'a', metric: 'noise', value: 52 }], clock.now());
    await t.readingsSeen(3);
    clock.advance(31 * SECOND);
    await t.tick();
    const raised = t.sink.raises('silent:');
    expect(raised.map((s) => s.key)).toEqual(['silent:gw-s/b']);
    expect(raised[0]).toMatchObject({ kind: 'sensor_silent', subject: 'gw-s/b', place: 'xuhui/xuhui-s01/g201', level: 'grid' });
    expect(raised[0]!.parentKey).toBeUndefined();
    await gw.publish([{ sensor: 'b', metric: 'noise', value: 53 }], clock.now());
    await t.readingsSeen(4);
    expect(t.sink.clears('silent:')).toEqual(['silent:gw-s/b']);
    await t.engine.stop();
  });

  it('watches sensors the warehouse saw before a restart: one that stopped then is still found silent', async () => {
    const clock = manualClock();
    await h.provision('gw-seed', 'gateway', 'xuhui/xuhui-s02/g301');
    const place = { district: 'xuhui', subdistrict: 'xuhui-s02', grid: 'g301', building: '' };
    const seen = (sensor: string, agoMs: number) => ({
      metric: 'noise', ...place, device: 'gw-seed', sensor,
      first_seen: formatDateTime64Utc(clock.now() - 3_600_000), last_seen: formatDateTime64Utc(clock.now() - agoMs),
    });
    // What the rollup job recorded before this engine started: a stopped 50 s ago, b 5 s ago; c a week ago.
    await h.warehouse.insertRows('sensor_presence', [seen('a', 50 * SECOND), seen('b', 5 * SECOND), seen('c', 7 * 86_400_000)]);
    try {
      const t = await h.engine([silentRule], clock);
      expect(t.engine.stats().sensors).toBe(2); // c is older than seedWithinMs (1 day)
      clock.advance(11 * SECOND);
      await t.tick();
      expect(t.sink.raises('silent:').map((s) => s.key)).toEqual(['silent:gw-seed/a']);
      await t.engine.stop();
    } finally {
      // The other tests' engines would seed these too.
      await h.warehouse.command('TRUNCATE TABLE sensor_presence');
    }
  });

  it('raises gateway_offline when a gateway vanishes without DISCONNECT, and its sensors under it; a reconnect within the grace raises nothing', async () => {
    const clock = manualClock();
    const secret = await h.provision('gw-o', 'gateway', 'jingan/jingan-s01/g301');
    const secret2 = await h.provision('gw-o2', 'gateway', 'jingan/jingan-s01/g302');
    const t = await h.engine([silentRule, offlineRule], clock);
    const gw = await h.gateway('gw-o', secret);
    const gw2 = await h.gateway('gw-o2', secret2);
    await gw.publish([{ sensor: 'x', metric: 'noise', value: 40 }, { sensor: 'y', metric: 'noise', value: 41 }], clock.now());
    await gw2.publish([{ sensor: 'z', metric: 'noise', value: 40 }], clock.now());
    await t.readingsSeen(3);
    const statusesBefore = t.received.filter((topic) => topic === topics.status('gw-o')).length;
    // No DISCONNECT: the socket is destroyed, the broker publishes the will.
    gw.client.end(true);
    gw2.client.end(true);
    await vi.waitFor(() => expect(t.received.filter((topic) => topic === topics.status('gw-o')).length).toBe(statusesBefore + 1));
    await vi.waitFor(() => expect(t.received.filter((topic) => topic === topics.status('gw-o2')).length).toBeGreaterThanOrEqual(2));
    clock.advance(10 * SECOND);
    // gw-o2 comes back within the grace.
    const back = await h.gateway('gw-o2', secret2);
    await back.publish([{ sensor: 'z', metric: 'noise', value: 42 }], clock.now());
    await t.readingsSeen(4);
    clock.advance(21 * SECOND);
    await t.tick();
    expect(t.sink.raises('offline:').map((s) => s.key)).toEqual(['offline:gw-o']);
    expect(t.sink.raises('offline:')[0]).toMatchObject({ kind: 'gateway_offline', subject: 'gw-o', place: 'jingan/jingan-s01/g301' });
    await back.publish([{ sensor: 'z', metric: 'noise', value: 42 }], clock.now());
    await t.readingsSeen(5);
    clock.advance(30 * SECOND);
    await t.tick();
    const silences = t.sink.raises('silent:');
    expect(silences.map((s) => [s.key, s.parentKey]).sort()).toEqual([
      ['silent:gw-o/x', 'offline:gw-o'],
      ['silent:gw-o/y', 'offline:gw-o'],
    ]);
    // The parent was raised before the children that name it.
    const order = t.sink.calls.flatMap((c) => (c.op === 'raise' ? [c.signal.key] : []));
    expect(order.indexOf('offline:gw-o')).toBeLessThan(order.indexOf('silent:gw-o/x'));
    await t.engine.stop();
  });

  it('raises grid_quiet when every sensor of a grid is silent, and re-raises gateway and sensor conditions under it', async () => {
    const clock = manualClock();
    const s1 = await h.provision('gw-q1', 'gateway', 'minhang/minhang-s01/g401');
    const s2 = await h.provision('gw-q2', 'gateway', 'minhang/minhang-s01/g401/b02');
    const t = await h.engine([silentRule, offlineRule, quietRule], clock);
    const q1 = await h.gateway('gw-q1', s1);
    const q2 = await h.gateway('gw-q2', s2);
    await q1.publish([{ sensor: 'a', metric: 'noise', value: 1 }, { sensor: 'b', metric: 'noise', value: 1 }], clock.now());
    await q2.publish([{ sensor: 'c', metric: 'noise', value: 1 }, { sensor: 'd', metric: 'noise', value: 1 }], clock.now());
    await t.readingsSeen(4);
    q1.client.end(true);
    await vi.waitFor(() => expect(t.received.filter((topic) => topic === topics.status('gw-q1')).length).toBeGreaterThanOrEqual(2));
    clock.advance(31 * SECOND);
    await t.tick();
    clock.advance(30 * SECOND);
    await t.tick();
    const before = t.sink.calls.length;
    expect(t.sink.raises('silent:gw-q2/').map((s) => s.parentKey)).toEqual([undefined, undefined]);
    clock.advance(60 * SECOND);
    await t.tick();
    const after = t.sink.calls.slice(before).flatMap((c) => (c.op === 'raise' ? [[c.signal.key, c.signal.parentKey]] : []));
    expect(after[0]).toEqual(['quiet:minhang/minhang-s01/g401', undefined]);
    expect(after.slice(1).sort()).toEqual([
      ['offline:gw-q1', 'quiet:minhang/minhang-s01/g401'],
      ['silent:gw-q2/c', 'quiet:minhang/minhang-s01/g401'],
      ['silent:gw-q2/d', 'quiet:minhang/minhang-s01/g401'],
    ]);
    // gw-q1's sensors keep their nearest active ancestor, the gateway: no call for them.
    // The grid speaks again: its quiet ends, gw-q2's sensors clear, gw-q1 is raised again without a parent.
    const mark = t.sink.calls.length;
    await q2.publish([{ sensor: 'c', metric: 'noise', value: 1 }, { sensor: 'd', metric: 'noise', value: 1 }], clock.now());
    await t.readingsSeen(6);
    const tail = t.sink.calls.slice(mark).map((c) => (c.op === 'raise' ? ['raise', c.signal.key, c.signal.parentKey] : ['clear', c.key]));
    expect(tail).toEqual([
      ['clear', 'silent:gw-q2/c'],
      ['clear', 'silent:gw-q2/d'],
      ['clear', 'quiet:minhang/minhang-s01/g401'],
      ['raise', 'offline:gw-q1', undefined],
    ]);
    await t.engine.stop();
  });

  it('suppresses silences under a pipeline that is stale, and under its own lost connection', async () => {
    const clock = manualClock();
    const secret = await h.provision('gw-p', 'gateway', 'putuo/putuo-s01/g501');
    const t = await h.engine([silentRule, pipelineRule], clock);
    const gw = await h.gateway('gw-p', secret);
    await gw.publish([{ sensor: 'a', metric: 'noise', value: 1 }], clock.now());
    await t.readingsSeen(1);
    await vi.waitFor(() => expect(t.received).toContain(topics.pipeline('ingest-r')));
    await t.tick();
    expect(t.sink.raises('pipe:')).toEqual([]);
    // A minute of engine time without a pipeline status: stale (the ingest publishes on wall time).
    clock.advance(61 * SECOND);
    await t.tick();
    const raised = t.sink.raises();
    expect(raised.map((s) => [s.key, s.parentKey])).toEqual([
      ['pipe:ingest-r', undefined],
      ['silent:gw-p/a', 'pipe:ingest-r'],
    ]);
    // The next status makes the pipeline fresh again: the silence is raised again, unsuppressed.
    const mark = t.sink.calls.length;
    const statuses = t.received.filter((topic) => topic === topics.pipeline('ingest-r')).length;
    await vi.waitFor(() => expect(t.received.filter((topic) => topic === topics.pipeline('ingest-r')).length).toBeGreaterThan(statuses));
    await t.tick();
    expect(t.sink.calls.slice(mark).map((c) => (c.op === 'raise' ? [c.signal.key, c.signal.parentKey] : [c.key]))).toEqual([
      ['pipe:ingest-r'],
      ['silent:gw-p/a', undefined],
    ]);
    // Our own connection drops: a pipeline condition at once, every silence under it, until we are back.
    t.client().stream.destroy();
    await vi.waitFor(() => expect(t.sink.raises('pipe:analytics-link')).toHaveLength(1));
    await vi.waitFor(() => expect(t.sink.clears('pipe:analytics-link')).toHaveLength(1));
    await t.engine.settled();
    const linkRaise = t.sink.calls.findIndex((c) => c.op === 'raise' && c.signal.key === 'pipe:analytics-link');
    const next = t.sink.calls[linkRaise + 1];
    expect(next?.op === 'raise' ? [next.signal.key, next.signal.parentKey] : next).toEqual(['silent:gw-p/a', 'pipe:analytics-link']);
    await t.engine.stop();
  });

  it('raises rate_of_change when a water level rises faster than the rule allows', async () => {
    const clock = manualClock();
    const secret = await h.provision('gw-w', 'gateway', 'pudong/pudong-s02/g601');
    const rule = {
      name: 'rising',
      title: 'Water rising',
      kind: 'rate_of_change',
      metric: 'water_level',
      unit: 'm',
      level: 'grid',
      window: '1m',
      change: 0.3,
      over: '10m',
      severity: 'critical',
    };
    const t = await h.engine([rule], clock);
    const gw = await h.gateway('gw-w', secret);
    await gw.publish([{ sensor: 'wl', metric: 'water_level', value: 1.0 }], clock.now());
    await t.readingsSeen(1);
    clock.advance(5 * MINUTE);
    await gw.publish([{ sensor: 'wl', metric: 'water_level', value: 1.2 }], clock.now());
    await t.readingsSeen(2);
    clock.advance(5 * MINUTE);
    await gw.publish([{ sensor: 'wl', metric: 'water_level', value: 1.25 }], clock.now());
    await t.readingsSeen(3);
    expect(t.sink.raises('rising:')).toEqual([]);
    clock.advance(5 * MINUTE);
    await gw.publish([{ sensor: 'wl', metric: 'water_level', value: 1.7 }], clock.now());
    await t.readingsSeen(4);
    const raised = t.sink.raises('rising:');
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ key: 'rising:pudong/pudong-s02/g601', kind: 'rate_of_change', metric: 'water_level', threshold: 0.3 });
    expect(raised[0]!.value).toBeCloseTo(0.5, 6);
    await t.engine.stop();
  });

  it('sees telemetry posted over HTTP', async () => {
    const clock = manualClock();
    const secret = await h.provision('gw-h', 'gateway', 'huangpu/huangpu-s01/g701');
    const t = await h.engine([{ ...pm25High, name: 'pm25_now', for: '0s' }], clock);
    const body = JSON.stringify({ boot: 1, seq: 1, readings: [{ sensor: 'pm', metric: 'pm25', ts: clock.now(), value: 400 }] });
    const response = await fetch(`${h.addresses.httpUrl}/v1/telemetry`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`gw-h:${secret}`).toString('base64')}` },
      body,
    });
    expect(response.status).toBe(202);
    await vi.waitFor(() => expect(t.sink.raises('pm25_now:').map((s) => s.key)).toEqual(['pm25_now:huangpu/huangpu-s01/g701']));
    await t.engine.stop();
  });

  it('raises a deny spike at a venue from verification_events, and clears it when the window passes', async () => {
    const clock = manualClock();
    await h.provision('sc-v1', 'scanner', 'changning/changning-s01/g801/b09');
    await h.provision('sc-v2', 'scanner', 'changning/changning-s01/g802');
    const rule = {
      name: 'denies',
      title: 'Deny spike',
      kind: 'verification_anomaly',
      match: { verdict: ['deny'] },
      window: '5m',
      baseline: '1h',
      minEvents: 10,
      // Learning (issue 19): venue-1's first event is 33 min old and its baseline holds 4, venue-2's 150.
      history: '30m',
      minBaselineEvents: 4,
      factor: 3,
      severity: 'warning',
    };
    const t = await h.engine([rule], clock);
    const event = (scanner: string, venue: string, at: number, verdict: string) => ({
      at: formatDateTime64Utc(at), venue, kind: 'health', verdict, reason: verdict === 'deny' ? 'EXPIRED' : 'OK', issuer: 'sh', pseudonym: 'p',
      scanner, transport: 'mqtt', offline: false, stale: false,
    });
    const now = clock.now();
    await h.warehouse.insertRows('verification_events', [
      // venue-1: a few denials an hour before, then a burst of 12 in the last 5 minutes.
      ...Array.from({ length: 4 }, (_, i) => event('sc-v1', 'venue-1', now - 30 * MINUTE - i * MINUTE, 'deny')),
      ...Array.from({ length: 12 }, (_, i) => event('sc-v1', 'venue-1', now - i * 10 * SECOND, 'deny')),
      // venue-2: as many denials in the window, but that is its usual rate.
      ...Array.from({ length: 12 }, (_, i) => event('sc-v2', 'venue-2', now - i * 10 * SECOND, 'deny')),
      ...Array.from({ length: 150 }, (_, i) => event('sc-v2', 'venue-2', now - 6 * MINUTE - i * 20 * SECOND, 'deny')),
    ]);
    await t.engine.pollVerificationsNow();
    await t.engine.settled();
    const raised = t.sink.raises('denies:');
    // The venue is sc-v1's registered place, whatever the requests named.
    expect(raised.map((s) => s.key)).toEqual(['denies:changning/changning-s01/g801/b09']);
    expect(raised[0]).toMatchObject({
      kind: 'verification_anomaly',
      subject: 'changning/changning-s01/g801/b09',
      place: 'changning/changning-s01/g801/b09',
      level: 'building',
      value: 12,
    });
    clock.advance(6 * MINUTE);
    await t.engine.pollVerificationsNow();
    await t.engine.settled();
    expect(t.sink.clears('denies:')).toEqual(['denies:changning/changning-s01/g801/b09']);
    await t.engine.stop();
  });
});
