import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { topics } from '@cityops/protocol';
import { manualClock, MINUTE, SECOND, startScenarioWorld, type AlertBody, type ScenarioAnalytics, type ScenarioWorld } from './alert-scenarios-fixture.ts';

// Issue 4's "Done when", end to end: real gateway agents (journal, QoS 1, last will) placed by the
// simulators' city publish through a real ingest (broker + embedded chDB) to the real analytics
// service (rule engine on the live stream, alert lifecycle, HTTP API, MQTT notifications), all on
// one manual clock. One ingest and warehouse for the file: libchdb binds one data directory per
// process. Each scenario uses its own district's grids and gateways and stops what it started.
let world: ScenarioWorld;
beforeAll(async () => {
  world = await startScenarioWorld();
});
afterEach(async () => {
  await world.cleanup();
});
afterAll(async () => {
  await world?.close();
});

/** Short rules where the shipped durations would only add waiting; the thresholds are the shipped indicators'. */
const THRESHOLD_RULES = [
  { name: 'pm25_grid', title: 'PM2.5 high in a grid', kind: 'threshold', indicator: 'pm25_avg', level: 'grid', severity: 'critical', for: '0s', verifyWindows: 2 },
];
const SILENCE_RULES = [
  { name: 'sensor_silent', title: 'Sensor silent', kind: 'sensor_silent', after: '1m', severity: 'warning' },
  { name: 'gateway_offline', title: 'Gateway offline', kind: 'gateway_offline', grace: '30s', severity: 'warning' },
  { name: 'grid_quiet', title: 'Whole grid quiet', kind: 'grid_quiet', after: '3m', minSensors: 3, severity: 'critical' },
];

const BY = { by: 'duty officer Wang' };

async function onlyAlert(analytics: ScenarioAnalytics, query: Record<string, string>): Promise<AlertBody> {
  let found: AlertBody[] = [];
  await vi.waitFor(async () => {
    found = await analytics.alerts(query);
    expect(found).toHaveLength(1);
  });
  return found[0]!;
}

function byKey(alerts: readonly AlertBody[]): Map<string, AlertBody> {
  return new Map(alerts.map((a) => [a.key, a]));
}

describe('alert scenarios through MQTT, ingest and the analytics service', () => {
  it('a PM2.5 spike held for the shipped rule\'s 2 minutes raises one alert for its grid, dispatched by the shipped routes, on the API and MQTT; not before', async () => {
    const clock = manualClock();
    const { grid, gateways } = world.grids('pudong', 'environment')[0]!;
    const spec = gateways[0]!;
    const secrets = await world.provision([spec]);
    // The shipped city-rules.json (pm25_high_grid: grid average ≥ 150 for 2m) and city-dispatch.json.
    const analytics = await world.analytics(clock);
    const console = await world.observeAlerts();
    const gw = await world.gateway(spec, secrets.get(spec.id)!, clock);

    let sent = await gw.send(clock.now(), { pm25: 200 });
    await analytics.readingsSeen(sent);
    clock.advance(MINUTE);
    sent += await gw.send(clock.now(), { pm25: 210 });
    await analytics.readingsSeen(sent);
    await analytics.tick();
    clock.advance(MINUTE - SECOND);
    sent += await gw.send(clock.now(), { pm25: 190 });
    await analytics.readingsSeen(sent);
    await analytics.tick();
    expect(await analytics.alerts({ place: grid })).toEqual([]);

    clock.advance(SECOND);
    await analytics.tick();
    await analytics.tick();
    const alert = await onlyAlert(analytics, { place: grid });
    expect(alert).toMatchObject({
      key: `pm25_high_grid:${grid}`,
      rule: 'pm25_high_grid',
      kind: 'threshold',
      level: 'grid',
      place: grid,
      state: 'dispatched',
      department: 'pudong-ecology',
      parentKey: '',
    });
    expect(alert.value).toBeGreaterThanOrEqual(150);
    // One alert, however many evaluations: the sink sees edges only.
    sent += await gw.send(clock.now(), { pm25: 220 });
    await analytics.readingsSeen(sent);
    await analytics.tick();
    expect((await analytics.alerts({ rule: 'pm25_high_grid', place: 'pudong' })).map((a) => a.id)).toEqual([alert.id]);
    expect((await analytics.alerts({ department: 'pudong-ecology', state: 'dispatched' })).map((a) => a.id)).toContain(alert.id);

    const view = await analytics.get<AlertBody>(`/v1/alerts/${alert.id}`);
    expect(view.events!.map((e) => [e.type, e.actor, e.state, e.department])).toEqual([
      ['opened', 'rule:pm25_high_grid', 'open', ''],
      ['dispatched', 'rule:pm25_high_grid', 'dispatched', 'pudong-ecology'],
    ]);
    await vi.waitFor(() =>
      expect(console().filter((m) => m.alert.id === alert.id).map((m) => [m.topic, m.event.type, m.alert.state])).toEqual([
        [topics.alerts('unassigned'), 'opened', 'open'],
        [topics.alerts('pudong-ecology'), 'dispatched', 'dispatched'],
      ]),
    );
  });

  it('a silent sensor, its gateway dropping (last will) and the whole grid going quiet raise the right alert each, children suppressed under the nearest parent', async () => {
    const clock = manualClock();
    const { grid, gateways } = world.grids('xuhui')[0]!;
    const [specA, specB] = gateways as [(typeof gateways)[number], (typeof gateways)[number]];
    expect(specA.sensors.length + specB.sensors.length).toBeGreaterThanOrEqual(3);
    const secrets = await world.provision([specA, specB]);
    const analytics = await world.analytics(clock, { rulesFile: await world.rulesFile('silence', SILENCE_RULES) });
    const statuses = await world.subscribe(topics.status(specA.id));
    const a = await world.gateway(specA, secrets.get(specA.id)!, clock);
    const b = await world.gateway(specB, secrets.get(specB.id)!, clock);
    const mute = specA.sensors[0]!.id;
    const others = specA.sensors.slice(1).map((s) => s.id);

    let sent = (await a.send(clock.now())) + (await b.send(clock.now()));
    await analytics.readingsSeen(sent);
    clock.advance(40 * SECOND);
    sent += (await a.send(clock.now(), {}, [mute])) + (await b.send(clock.now()));
    await analytics.readingsSeen(sent);
    clock.advance(21 * SECOND); // `mute` silent for 61 s, the rest for 21 s
    await analytics.tick();

    // 1. The silent sensor, alone: dispatched to the district's operations centre.
    const silent = await onlyAlert(analytics, { place: grid });
    expect(silent).toMatchObject({ key: `sensor_silent:${specA.id}/${mute}`, kind: 'sensor_silent', state: 'dispatched', department: 'xuhui-ops-center', parentKey: '' });

    // 2. Gateway A vanishes without DISCONNECT: the broker publishes its will.
    a.drop();
    await vi.waitFor(() => expect(statuses.map((m) => JSON.parse(m.payload) as { online: boolean; reason?: string }).at(-1)).toMatchObject({ online: false, reason: 'connection-lost' }));
    // B's batch is published after the will, so the engine (one ordered connection) has seen the will once it has seen the batch.
    sent += await b.send(clock.now());
    await analytics.readingsSeen(sent);
    clock.advance(29 * SECOND);
    await analytics.tick();
    expect((await analytics.alerts({ place: grid, kind: 'gateway_offline' }))).toEqual([]); // within the grace
    clock.advance(2 * SECOND);
    await analytics.tick();
    clock.advance(10 * SECOND); // A's other sensors now silent too (62 s), B's not (41 s)
    await analytics.tick();
    let alerts = byKey(await analytics.alerts({ place: grid }));
    const offlineKey = `gateway_offline:${specA.id}`;
    expect(alerts.get(offlineKey)).toMatchObject({ kind: 'gateway_offline', state: 'dispatched', department: 'xuhui-ops-center', parentKey: '' });
    expect(alerts.get(`sensor_silent:${specA.id}/${mute}`)).toMatchObject({ state: 'suppressed', parentKey: offlineKey });
    for (const s of others) expect(alerts.get(`sensor_silent:${specA.id}/${s}`)).toMatchObject({ state: 'suppressed', parentKey: offlineKey, department: '' });
    expect([...alerts.keys()].sort()).toEqual([offlineKey, ...specA.sensors.map((s) => `sensor_silent:${specA.id}/${s.id}`)].sort());
    // Suppressed without a first dispatch: nobody was asked, nothing escalates.
    const other = alerts.get(`sensor_silent:${specA.id}/${others[0]!}`)!;
    expect((await analytics.get<AlertBody>(`/v1/alerts/${other.id}`)).events!.map((e) => e.type)).toEqual(['opened', 'suppressed']);
    const muted = alerts.get(`sensor_silent:${specA.id}/${mute}`)!;
    expect((await analytics.get<AlertBody>(`/v1/alerts/${muted.id}`)).events!.map((e) => e.type)).toEqual(['opened', 'dispatched', 'suppressed']);

    // 3. B stops reporting too: 3 minutes after the grid's last reading (B's, 41 s ago) it is quiet
    // as a whole. One tick: B's sensors fall silent in the same one, so their group hangs under the grid at once.
    clock.advance(3 * MINUTE - 40 * SECOND);
    await analytics.tick();
    alerts = byKey(await analytics.alerts({ place: grid }));
    const quietKey = `grid_quiet:${grid}`;
    expect(alerts.get(quietKey)).toMatchObject({ kind: 'grid_quiet', place: grid, level: 'grid', state: 'dispatched', department: 'xuhui-ops-center', parentKey: '' });
    expect(alerts.get(offlineKey)).toMatchObject({ state: 'suppressed', parentKey: quietKey });
    // B's three sensors fell silent together: one group alert for B (sensor-silence.ts), not one each.
    expect(specB.sensors).toHaveLength(3);
    expect(alerts.get(`sensor_silent:${specB.id}`)).toMatchObject({ state: 'suppressed', parentKey: quietKey, department: '', value: 3 });
    for (const s of specB.sensors) expect(alerts.has(`sensor_silent:${specB.id}/${s.id}`)).toBe(false);
    // A's sensors stay under their nearest active ancestor, the gateway.
    for (const s of specA.sensors) expect(alerts.get(`sensor_silent:${specA.id}/${s.id}`)).toMatchObject({ state: 'suppressed', parentKey: offlineKey });
    // Of all of them, only the grid is with a department now.
    expect((await analytics.alerts({ place: grid, state: 'dispatched' })).map((x) => x.key)).toEqual([quietKey]);
  });

  it('an alert nobody accepts climbs one level per acceptWithin (district bureau → municipal bureau → duty office) and stays at the top', async () => {
    const clock = manualClock();
    const { grid, gateways } = world.grids('jingan', 'environment')[0]!;
    const spec = gateways[0]!;
    const secrets = await world.provision([spec]);
    const analytics = await world.analytics(clock, { rulesFile: await world.rulesFile('threshold', THRESHOLD_RULES) });
    const console = await world.observeAlerts();
    const gw = await world.gateway(spec, secrets.get(spec.id)!, clock);
    await analytics.readingsSeen(await gw.send(clock.now(), { pm25: 240 }));
    const alert = await onlyAlert(analytics, { place: grid, rule: 'pm25_grid' });
    expect(alert).toMatchObject({ state: 'dispatched', department: 'jingan-ecology' });
    const departmentNow = async () => (await analytics.get<AlertBody>(`/v1/alerts/${alert.id}`)).department;

    // The shipped route gives jingan-ecology 15 minutes.
    clock.advance(15 * MINUTE - SECOND);
    await analytics.service.alerts.escalateNow();
    expect(await departmentNow()).toBe('jingan-ecology');
    clock.advance(SECOND);
    await analytics.service.alerts.escalateNow();
    expect(await departmentNow()).toBe('city-ecology');
    // The deadline runs again from the escalation.
    clock.advance(15 * MINUTE - SECOND);
    await analytics.service.alerts.escalateNow();
    expect(await departmentNow()).toBe('city-ecology');
    clock.advance(SECOND);
    await analytics.service.alerts.escalateNow();
    expect(await departmentNow()).toBe('city-duty-office');
    clock.advance(60 * MINUTE);
    await analytics.service.alerts.escalateNow();

    const view = await analytics.get<AlertBody>(`/v1/alerts/${alert.id}`);
    expect(view).toMatchObject({ state: 'dispatched', department: 'city-duty-office' });
    expect(view.events!.filter((e) => e.type === 'escalated').map((e) => [e.actor, e.department, e.feedback])).toEqual([
      ['system', 'city-ecology', 'not accepted by jingan-ecology in time'],
      ['system', 'city-duty-office', 'not accepted by city-ecology in time'],
    ]);
    await vi.waitFor(() =>
      expect(console().filter((m) => m.alert.id === alert.id && m.event.type === 'escalated').map((m) => m.topic)).toEqual([
        topics.alerts('city-ecology'),
        topics.alerts('city-duty-office'),
      ]),
    );
    // Accepted at the top, it escalates no further.
    const accepted = await analytics.post(`/v1/alerts/${alert.id}/accept`, BY);
    expect(accepted).toMatchObject({ status: 200, body: { state: 'accepted', department: 'city-duty-office' } });
  });

  describe('verification of a resolution against the indicator in the warehouse', () => {
    /** A high PM2.5 alert in the first grid of `district` with an environment gateway, accepted and resolved through the API. */
    async function resolvedAlert(district: string) {
      const clock = manualClock();
      const { grid, gateways } = world.grids(district, 'environment')[0]!;
      const spec = gateways[0]!;
      const secrets = await world.provision([spec]);
      const analytics = await world.analytics(clock, { rulesFile: await world.rulesFile('threshold', THRESHOLD_RULES) });
      const gw = await world.gateway(spec, secrets.get(spec.id)!, clock);
      let sent = await gw.send(clock.now(), { pm25: 200 });
      await analytics.readingsSeen(sent);
      const alert = await onlyAlert(analytics, { place: grid, rule: 'pm25_grid' });
      expect(alert).toMatchObject({ state: 'dispatched', department: `${district}-ecology` });
      expect(await analytics.post(`/v1/alerts/${alert.id}/accept`, BY)).toMatchObject({ status: 200, body: { state: 'accepted' } });
      expect(await analytics.post(`/v1/alerts/${alert.id}/resolve`, BY)).toMatchObject({ status: 400, body: { code: 'ANALYTICS_ERR_ALERT_REQUEST_INVALID' } });
      const resolved = await analytics.post(`/v1/alerts/${alert.id}/resolve`, { ...BY, feedback: 'Dust from the construction site covered; sprinklers running.' });
      expect(resolved).toMatchObject({ status: 200, body: { state: 'resolved' } });
      const firstWindow = clock.windowStart() + 5 * MINUTE; // the first complete window after the resolution
      /** Readings of `pm25` at 10 s, 2 and 4 minutes into the window from `from`, then the clock just past its end. */
      async function fillWindow(from: number, pm25: number): Promise<void> {
        for (const offset of [10 * SECOND, 2 * MINUTE, 4 * MINUTE]) {
          clock.advance(from + offset - clock.now());
          sent += await gw.send(clock.now(), { pm25 });
        }
        await analytics.readingsSeen(sent);
        await world.stored(spec.id, sent);
        clock.advance(from + 5 * MINUTE + SECOND - clock.now());
      }
      const state = async () => (await analytics.get<AlertBody>(`/v1/alerts/${alert.id}`)).state;
      return { clock, analytics, alert, firstWindow, fillWindow, state };
    }

    it('a resolved alert whose indicator stays high is reopened and sent back to the department, not closed', async () => {
      const { analytics, alert, firstWindow, fillWindow, state } = await resolvedAlert('minhang');
      // No complete window after the resolution yet: nothing to judge.
      await analytics.service.alerts.verifyNow();
      expect(await state()).toBe('resolved');
      await fillWindow(firstWindow, 180);
      await analytics.service.alerts.verifyNow();
      const view = await analytics.get<AlertBody>(`/v1/alerts/${alert.id}`);
      expect(view).toMatchObject({ state: 'dispatched', department: 'minhang-ecology' });
      expect(view.events!.map((e) => e.type)).toEqual(['opened', 'dispatched', 'accepted', 'resolved', 'reopened', 'dispatched']);
      const reopened = view.events!.find((e) => e.type === 'reopened')!;
      expect(reopened.actor).toBe('system');
      expect(reopened.feedback).toMatch(/^pm25_avg critical \(180\)/);
      expect(view.events!.find((e) => e.type === 'resolved')).toMatchObject({ actor: BY.by, feedback: 'Dust from the construction site covered; sprinklers running.' });
    });

    it('a resolved alert whose indicator is back to normal for the rule\'s 2 windows is verified and closed', async () => {
      const { analytics, alert, firstWindow, fillWindow, state } = await resolvedAlert('baoshan');
      await fillWindow(firstWindow, 35);
      await analytics.service.alerts.verifyNow();
      expect(await state()).toBe('resolved'); // one normal window of two
      await fillWindow(firstWindow + 5 * MINUTE, 28);
      await analytics.service.alerts.verifyNow();
      const view = await analytics.get<AlertBody>(`/v1/alerts/${alert.id}`);
      expect(view.state).toBe('closed');
      expect(view.events!.slice(-2).map((e) => [e.type, e.actor, e.feedback])).toEqual([
        ['verified', 'system', 'pm25_avg normal for 2 windows'],
        ['closed', 'system', ''],
      ]);
      expect(view.events!.map((e) => e.type)).not.toContain('reopened');
      expect((await analytics.alerts({ place: alert.place, state: 'closed' })).map((a) => a.id)).toEqual([alert.id]);
    });
  });

  it('after a restart over the same warehouse the API shows the same alerts, states and timelines, and the lifecycle carries on', async () => {
    const clock = manualClock();
    const cells = world.grids('yangpu', 'environment').slice(0, 3);
    expect(cells).toHaveLength(3);
    const specs = cells.map((c) => c.gateways[0]!);
    const secrets = await world.provision(specs);
    const rulesFile = await world.rulesFile('restart', [...THRESHOLD_RULES, ...SILENCE_RULES]);
    const first = await world.analytics(clock, { rulesFile });
    const gws = await Promise.all(specs.map((s) => world.gateway(s, secrets.get(s.id)!, clock)));
    let sent = 0;
    for (const gw of gws) sent += await gw.send(clock.now(), { pm25: 230 });
    await first.readingsSeen(sent);
    const ids = [];
    for (const c of cells) ids.push((await onlyAlert(first, { place: c.grid, rule: 'pm25_grid' })).id);
    const [resolved, accepted, escalated] = ids as [string, string, string];
    expect((await first.post(`/v1/alerts/${resolved}/accept`, BY)).status).toBe(200);
    expect((await first.post(`/v1/alerts/${resolved}/resolve`, { ...BY, feedback: 'Street sweeping done' })).status).toBe(200);
    expect((await first.post(`/v1/alerts/${accepted}/accept`, BY)).status).toBe(200);
    // A quarter of an hour of silence: sensors silent and grids quiet (suppressed under them), one alert escalated.
    clock.advance(15 * MINUTE);
    await first.tick();
    await first.service.alerts.escalateNow();
    const before = await first.alerts({ place: 'yangpu', limit: '1000' });
    const states = new Set(before.map((a) => a.state));
    for (const s of ['dispatched', 'accepted', 'resolved', 'suppressed']) expect(states).toContain(s);
    expect(before.find((a) => a.id === escalated)).toMatchObject({ state: 'dispatched', department: 'city-ecology' });
    const views = await Promise.all(before.map((a) => first.get<AlertBody>(`/v1/alerts/${a.id}`)));
    await first.stop();

    const second = await world.analytics(clock, { rulesFile });
    expect(await second.alerts({ place: 'yangpu', limit: '1000' })).toEqual(before);
    expect(await Promise.all(before.map((a) => second.get<AlertBody>(`/v1/alerts/${a.id}`)))).toEqual(views);
    // The rebuilt alerts carry on where they were: seqs continue, the event is stored after the others.
    const done = await second.post(`/v1/alerts/${accepted}/resolve`, { ...BY, feedback: 'Filters replaced at the plant' });
    const seqBefore = before.find((a) => a.id === accepted)!.seq;
    expect(done).toMatchObject({ status: 200, body: { state: 'resolved', seq: seqBefore + 1 } });
  });
});
