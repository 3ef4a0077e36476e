import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCityopsError } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  alertTopic,
  createAlertLifecycle,
  createAnalyticsMetrics,
  createIndicatorEngine,
  loadIndicatorDefinitions,
  parseAnalyticsConfig,
  type AlertLifecycle,
  type AlertLifecycleDeps,
  type AnalyticsMetrics,
  type RuleConditions,
} from '../src/index.ts';
import { HOUR, MINUTE, insertPm25, pmSignal } from './alert-lifecycle-fixtures.ts';

let dir: string;
let wh: Warehouse;
let metrics: AnalyticsMetrics;
let lifecycle: AlertLifecycle;
let clock = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 24 * 3_600_000;
const published: { topic: string; payload: string }[] = [];
const active = new Set<string>();
const conditions: RuleConditions = { isActive: (key) => active.has(key) };
const started: AlertLifecycle[] = [];

// Each test gets an hour of its own, so readings of one never fall in another's windows.
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 24 * HOUR;
let hour = 0;
function freshHour(): number {
  clock = BASE + hour++ * HOUR;
  return clock;
}

const config = parseAnalyticsConfig({ alerts: { maxAlerts: 1000 } }).alerts;

async function newLifecycle(extra: Partial<AlertLifecycleDeps> = {}): Promise<AlertLifecycle> {
  const engine = createIndicatorEngine(loadIndicatorDefinitions(), { warehouse: wh, now: () => clock });
  const l = createAlertLifecycle(config, {
    warehouse: wh,
    engine,
    conditions,
    logger: pino({ level: 'silent' }),
    metrics: metrics.alerts,
    now: () => clock,
    publish: (topic, payload) => {
      published.push({ topic, payload });
    },
    ...extra,
  });
  started.push(l);
  await l.start();
  return l;
}

/** A lifecycle over the same store keeping at most `maxAlerts`, without notifiers. */
async function boundedLifecycle(maxAlerts: number): Promise<AlertLifecycle> {
  const l = createAlertLifecycle({ ...config, maxAlerts }, { warehouse: wh, logger: pino({ level: 'silent' }), metrics: metrics.alerts, now: () => clock });
  started.push(l);
  await l.start();
  return l;
}

function types(view: { events: readonly { type: string }[] } | undefined): string[] {
  return view?.events.map((e) => e.type) ?? [];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-alert-lifecycle-'));
  wh = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
  metrics = createAnalyticsMetrics();
  lifecycle = await newLifecycle();
});

afterAll(async () => {
  for (const l of started) await l.stop();
  await wh?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('alert lifecycle', () => {
  it('opens, dispatches by route, is accepted, resolved with feedback, verified by the indicator and closed', async () => {
    const t0 = freshHour();
    await lifecycle.raise(pmSignal('g001', t0));
    const [summary] = lifecycle.list({ rule: 'pm25_grid', place: 'pudong/pudong-s01/g001' });
    expect(summary).toMatchObject({ state: 'dispatched', department: 'pudong-ecology', severity: 'critical', value: 182 });
    const id = summary!.id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    clock += MINUTE;
    await lifecycle.accept(id, { name: 'li.wei' });
    clock += MINUTE;
    const resolved = await lifecycle.resolve(id, 'Construction site dust: watering ordered, site stopped', { name: 'li.wei' });
    expect(resolved.state).toBe('resolved');
    const resolvedAt = clock;

    // Normal readings after the resolution: two complete 5-minute windows verify it.
    await insertPm25(wh, 'g001', t0, t0 + 30 * MINUTE, 20);
    clock = resolvedAt + 12 * MINUTE; // one complete window after the resolution (t0+5…10): not yet
    await lifecycle.checkNow();
    expect((await lifecycle.get(id))?.state).toBe('resolved');
    clock = resolvedAt + 13 * MINUTE; // two (t0+5…10, t0+10…15)
    await lifecycle.checkNow();
    const closed = await lifecycle.get(id);
    expect(closed?.state).toBe('closed');
    expect(types(closed)).toEqual(['opened', 'dispatched', 'accepted', 'resolved', 'verified', 'closed']);
    expect(closed?.events.map((e) => [e.seq, e.actor])).toEqual([
      [1, 'rule:pm25_grid'],
      [2, 'rule:pm25_grid'],
      [3, 'li.wei'],
      [4, 'li.wei'],
      [5, 'system'],
      [6, 'system'],
    ]);
    expect(closed?.events[3]?.feedback).toBe('Construction site dust: watering ordered, site stopped');

    // Stored before shown: the warehouse holds the same timeline.
    const rows = await wh.query<{ seq: number; type: string; state: string; department: string }>(
      'SELECT seq, type, state, department FROM alert_events WHERE alert_id = {id:String} ORDER BY seq',
      { id },
    );
    expect(rows.map((r) => [r.type, r.state])).toEqual([
      ['opened', 'open'],
      ['dispatched', 'dispatched'],
      ['accepted', 'accepted'],
      ['resolved', 'resolved'],
      ['verified', 'verified'],
      ['closed', 'closed'],
    ]);
    expect(rows[1]?.department).toBe('pudong-ecology');

    // Every event went out on MQTT under the department's topic.
    const mine = published.filter((p) => (JSON.parse(p.payload) as { event: { alertId: string } }).event.alertId === id);
    expect(mine.map((p) => (JSON.parse(p.payload) as { event: { type: string } }).event.type)).toEqual(types(closed));
    expect(mine[1]?.topic).toBe(alertTopic('pudong-ecology'));
    expect(mine[1]?.topic).toBe('cityops/v1/alerts/pudong-ecology');

    // Time to visible was observed; transitions counted.
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/cityops_analytics_alert_visible_seconds_count [1-9]/);
    expect(text).toMatch(/cityops_analytics_alert_transitions_total\{type="verified"\} [1-9]/);
  });

  it('escalates an unaccepted alert one level at a time, up to the top', async () => {
    const t0 = freshHour();
    await lifecycle.raise(pmSignal('g002', t0));
    const id = lifecycle.list({ place: 'pudong/pudong-s01/g002' })[0]!.id;
    clock = t0 + 14 * MINUTE;
    await lifecycle.checkNow();
    expect((await lifecycle.get(id))?.department).toBe('pudong-ecology');
    clock = t0 + 15 * MINUTE;
    await lifecycle.checkNow();
    expect((await lifecycle.get(id))?.department).toBe('city-ecology');
    clock = t0 + 29 * MINUTE;
    await lifecycle.checkNow();
    expect((await lifecycle.get(id))?.department).toBe('city-ecology');
    clock = t0 + 30 * MINUTE;
    await lifecycle.checkNow();
    clock = t0 + 3 * HOUR;
    await lifecycle.checkNow();
    const view = await lifecycle.get(id);
    expect(view?.department).toBe('city-duty-office');
    expect(view?.state).toBe('dispatched');
    const escalations = view!.events.filter((e) => e.type === 'escalated');
    expect(escalations.map((e) => [e.department, e.at - t0])).toEqual([
      ['city-ecology', 15 * MINUTE],
      ['city-duty-office', 30 * MINUTE],
    ]);
    // Once accepted, no more escalation; the top department accepts it.
    await lifecycle.accept(id, { name: 'duty officer' });
    expect((await lifecycle.get(id))?.state).toBe('accepted');
  });

  it('reopens a resolved alert whose indicator stays high, to the same department', async () => {
    const t0 = freshHour();
    await lifecycle.raise(pmSignal('g003', t0));
    const id = lifecycle.list({ place: 'pudong/pudong-s01/g003' })[0]!.id;
    await lifecycle.accept(id, { name: 'a' });
    clock = t0 + 2 * MINUTE;
    await lifecycle.resolve(id, 'sprayed the road', { name: 'a' });
    await insertPm25(wh, 'g003', t0, t0 + 30 * MINUTE, 190);
    clock = t0 + 11 * MINUTE;
    await lifecycle.checkNow();
    const view = await lifecycle.get(id);
    expect(types(view)).toEqual(['opened', 'dispatched', 'accepted', 'resolved', 'reopened', 'dispatched']);
    expect(view?.state).toBe('dispatched');
    expect(view?.department).toBe('pudong-ecology');
    expect(view?.events[4]?.feedback).toMatch(/pm25_avg critical \(190\)/);
  });

  it('skips no_data windows: neither verified nor reopened', async () => {
    const t0 = freshHour();
    await lifecycle.raise(pmSignal('g004', t0));
    const id = lifecycle.list({ place: 'pudong/pudong-s01/g004' })[0]!.id;
    await lifecycle.accept(id, { name: 'a' });
    await lifecycle.resolve(id, 'fixed', { name: 'a' });
    await insertPm25(wh, 'g004', t0 - 10 * MINUTE, t0, 20); // the sensor is known, then silent
    clock = t0 + 30 * MINUTE;
    await lifecycle.checkNow();
    expect((await lifecycle.get(id))?.state).toBe('resolved');
    await insertPm25(wh, 'g004', t0 + 30 * MINUTE, t0 + 40 * MINUTE, 20);
    clock = t0 + 41 * MINUTE;
    await lifecycle.checkNow();
    expect((await lifecycle.get(id))?.state).toBe('closed');
  });

  it('a raise on a resolved alert reopens it; a clear is recorded and the alert stays with the department', async () => {
    const t0 = freshHour();
    const signal = pmSignal('g005', t0);
    await lifecycle.raise(signal);
    const id = lifecycle.list({ place: 'pudong/pudong-s01/g005' })[0]!.id;
    await lifecycle.clear(signal.key, t0);
    expect((await lifecycle.get(id))?.state).toBe('dispatched');
    await lifecycle.raise(signal);
    await lifecycle.accept(id, { name: 'a' });
    await lifecycle.resolve(id, 'done', { name: 'a' });
    await lifecycle.raise(signal);
    expect(types(await lifecycle.get(id))).toEqual([
      'opened', 'dispatched', 'cleared', 'condition_returned', 'accepted', 'resolved', 'reopened', 'dispatched',
    ]);
  });

  it('verifies a condition-checked resolution: active reopens, inactive long enough closes', async () => {
    const t0 = freshHour();
    const signal = pmSignal('g006', t0, {
      key: 'silent:gw-9/pm-1',
      rule: 'sensor_silent',
      kind: 'sensor_silent',
      metric: undefined,
      verification: { by: 'condition', windowMs: MINUTE, windows: 3 },
    });
    active.add(signal.key);
    await lifecycle.raise(signal);
    const id = lifecycle.list({ rule: 'sensor_silent' })[0]!.id;
    expect((await lifecycle.get(id))?.department).toBe('pudong-ops-center');
    await lifecycle.accept(id, { name: 'a' });
    await lifecycle.resolve(id, 'replaced the battery', { name: 'a' });
    await lifecycle.checkNow();
    expect((await lifecycle.get(id))?.state).toBe('dispatched');
    await lifecycle.accept(id, { name: 'a' });
    await lifecycle.resolve(id, 'replaced the sensor', { name: 'a' });
    active.delete(signal.key);
    clock += 2 * MINUTE;
    await lifecycle.checkNow();
    expect((await lifecycle.get(id))?.state).toBe('resolved');
    clock += MINUTE;
    await lifecycle.checkNow();
    expect((await lifecycle.get(id))?.state).toBe('closed');
  });

  it('suppresses a child under a live parent, lifts it later, and closes a suppressed alert whose condition clears', async () => {
    const t0 = freshHour();
    const base = { rule: 'gw_offline', kind: 'gateway_offline' as const, metric: undefined, verification: { by: 'condition' as const, windowMs: MINUTE, windows: 1 } };
    const parent = pmSignal('g007', t0, { ...base, key: 'grid_quiet:pudong/pudong-s01/g007', rule: 'grid_quiet', kind: 'grid_quiet' });
    await lifecycle.raise(parent);
    const child = pmSignal('g007', t0, { ...base, key: 'gw_offline:gw-7', subject: 'gw-7', parentKey: parent.key });
    await lifecycle.raise(child);
    const other = pmSignal('g007', t0, { ...base, key: 'gw_offline:gw-8', subject: 'gw-8', parentKey: parent.key });
    await lifecycle.raise(other);
    const childView = lifecycle.list({ rule: 'gw_offline' }).find((a) => a.key === child.key)!;
    expect(childView).toMatchObject({ state: 'suppressed', department: '', parentKey: parent.key, everDispatched: false });

    // Never escalated while suppressed.
    clock = t0 + 2 * HOUR;
    await lifecycle.checkNow();
    expect((await lifecycle.get(childView.id))?.state).toBe('suppressed');

    // The parent no longer explains it: dispatched for the first time.
    const { parentKey: _p, ...withoutParent } = child;
    await lifecycle.raise(withoutParent);
    const lifted = await lifecycle.get(childView.id);
    expect(types(lifted)).toEqual(['opened', 'suppressed', 'unsuppressed', 'dispatched']);
    expect(lifted).toMatchObject({ state: 'dispatched', department: 'pudong-ops-center', parentKey: '' });

    // A suppressed alert whose condition clears just ends.
    await lifecycle.clear(other.key, clock);
    const otherView = lifecycle.list({ rule: 'gw_offline', state: 'closed' }).find((a) => a.key === other.key);
    expect(otherView).toBeDefined();
    const ended = await lifecycle.get(otherView!.id);
    expect(ended?.events.map((e) => [e.type, e.actor])).toEqual([
      ['opened', 'rule:gw_offline'],
      ['suppressed', 'rule:gw_offline'],
      ['cleared', 'rule:gw_offline'],
      ['closed', 'system'],
    ]);
    // A new raise for a closed key opens a new alert.
    await lifecycle.raise(other);
    expect(lifecycle.list({ rule: 'gw_offline' }).filter((a) => a.key === other.key)).toHaveLength(2);
  });

  it('serialises concurrent raises of one key into one alert with consecutive seqs', async () => {
    const t0 = freshHour();
    const signal = pmSignal('g008', t0);
    await Promise.all([lifecycle.raise(signal), lifecycle.raise(signal), lifecycle.clear(signal.key, t0), lifecycle.raise(signal)]);
    const alerts = lifecycle.list({ place: 'pudong/pudong-s01/g008' });
    expect(alerts).toHaveLength(1);
    const view = await lifecycle.get(alerts[0]!.id);
    expect(view?.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(types(view)).toEqual(['opened', 'dispatched', 'cleared', 'condition_returned']);
  });

  it('refuses invalid transitions with a code', async () => {
    const t0 = freshHour();
    await lifecycle.raise(pmSignal('g009', t0));
    const id = lifecycle.list({ place: 'pudong/pudong-s01/g009' })[0]!.id;
    const refusal = (p: Promise<unknown>) => p.then(() => 'accepted', (e: unknown) => (isCityopsError(e) ? e.code : String(e)));
    expect(await refusal(lifecycle.resolve(id, 'x', { name: 'a' }))).toBe('ANALYTICS_ERR_ALERT_TRANSITION');
    expect(await refusal(lifecycle.reopen(id, 'x', { name: 'a' }))).toBe('ANALYTICS_ERR_ALERT_TRANSITION');
    expect(await refusal(lifecycle.resolve(id, '  ', { name: 'a' }))).toBe('ANALYTICS_ERR_ALERT_REQUEST_INVALID');
    expect(await refusal(lifecycle.accept('00000000-0000-4000-8000-000000000000', { name: 'a' }))).toBe('ANALYTICS_ERR_ALERT_UNKNOWN');
    expect(await refusal(lifecycle.accept(id, { name: 'x', departments: ['xuhui-ecology'] }))).toBe('ANALYTICS_ERR_FORBIDDEN');
    await lifecycle.accept(id, { name: 'a', departments: ['pudong-ecology'] });
    expect(await refusal(lifecycle.accept(id, { name: 'a' }))).toBe('ANALYTICS_ERR_ALERT_TRANSITION');
  });

  it('an operator reopens a closed alert', async () => {
    const closed = lifecycle.list({ rule: 'pm25_grid', state: 'closed', place: 'pudong/pudong-s01/g001' })[0]!;
    const view = await lifecycle.reopen(closed.id, 'residents report dust again', { name: 'chen.jing' });
    expect(view.state).toBe('dispatched');
    expect(view.events.slice(-2).map((e) => [e.type, e.actor, e.feedback])).toEqual([
      ['reopened', 'chen.jing', 'residents report dust again'],
      ['dispatched', 'chen.jing', ''],
    ]);
  });

  it('rebuilds the same state after a restart, from the warehouse alone', async () => {
    const before = lifecycle.list({ limit: 1000 });
    expect(before.length).toBeGreaterThan(8);
    const second = await newLifecycle();
    expect(second.list({ limit: 1000 })).toEqual(before);
    const id = before.find((a) => a.state === 'dispatched')!.id;
    expect(await second.get(id)).toEqual(await lifecycle.get(id));
    // And it goes on from there: seq continues.
    const accepted = await second.accept(id, { name: 'after restart' });
    expect(accepted.seq).toBe(before.find((a) => a.id === id)!.seq + 1);
    await second.stop();
  });

  it('keeps at most maxAlerts, evicting closed ones oldest first; an evicted alert is still read from the warehouse', async () => {
    const small = await newLifecycle({});
    const bounded = await boundedLifecycle(10);
    const all = small.list({ limit: 1000 });
    const live = all.filter((a) => a.state !== 'closed').length;
    const kept = bounded.list({ limit: 1000 });
    expect(kept.length).toBe(Math.max(10, live));
    const evicted = all.find((a) => !kept.some((k) => k.id === a.id));
    expect(evicted?.state).toBe('closed');
    const stored = await bounded.get(evicted!.id);
    expect(stored?.state).toBe('closed');
    // Reopening it brings its whole history back into memory.
    const reopened = await bounded.reopen(evicted!.id, 'it is back', { name: 'op' });
    expect(reopened.events.map((e) => e.seq)).toEqual([...stored!.events.map((e) => e.seq), stored!.seq + 1, stored!.seq + 2]);
    await small.stop();
  });

  it('refuses a new alert, counted, when maxAlerts alerts are live: live ones are never evicted, so memory stays bounded', async () => {
    const bounded = await boundedLifecycle(10);
    const liveNow = () => bounded.list({ limit: 100_000 }).filter((a) => a.state !== 'closed').length;
    const refused = async () => (await metrics.alerts.refused.get()).values[0]?.value ?? 0;
    const live0 = liveNow();
    const before = await refused();
    const t0 = freshHour();
    for (let i = 0; i < Math.max(0, 10 - live0) + 5; i++) await bounded.raise(pmSignal(`gcap${i}`, t0));
    expect(liveNow()).toBe(Math.max(10, live0));
    expect((await refused()) - before).toBe(5);
    await bounded.stop();
  });

  it('a webhook that hangs never holds up a transition, and stop() does not wait for it', async () => {
    const held: ServerResponse[] = [];
    const server = createServer((_req, res) => held.push(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const hooked = createAlertLifecycle(
        { ...config, webhooks: [{ url, timeoutMs: 60_000 }] },
        { warehouse: wh, logger: pino({ level: 'silent' }), metrics: metrics.alerts, now: () => clock },
      );
      await hooked.start();
      const t0 = freshHour();
      await hooked.raise(pmSignal('g010', t0));
      const id = hooked.list({ place: 'pudong/pudong-s01/g010' })[0]!.id;
      await hooked.accept(id, { name: 'a' });
      expect((await hooked.get(id))?.state).toBe('accepted');
      await vi.waitFor(() => expect(held.length).toBeGreaterThan(0));
      await hooked.stop();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('runs escalation and verification on its own intervals (injected timers), and stops them', async () => {
    const intervals = new Map<number, { fn: () => void; ms: number }>();
    let next = 0;
    const timers = {
      setTimeout: () => 0,
      clearTimeout: () => undefined,
      setInterval: (fn: () => void, ms: number) => {
        intervals.set(++next, { fn, ms });
        return next;
      },
      clearInterval: (h: unknown) => intervals.delete(h as number),
    };
    const timed = createAlertLifecycle({ ...config, escalationIntervalMs: 5000, verifyIntervalMs: 30000 }, {
      warehouse: wh,
      logger: pino({ level: 'silent' }),
      metrics: metrics.alerts,
      now: () => clock,
      timers,
    });
    await timed.start();
    expect([...intervals.values()].map((i) => i.ms).sort((a, b) => a - b)).toEqual([5000, 30000]);
    const t0 = freshHour();
    await timed.raise(pmSignal('g011', t0));
    const id = timed.list({ place: 'pudong/pudong-s01/g011' })[0]!.id;
    clock = t0 + 16 * MINUTE;
    for (const i of intervals.values()) i.fn();
    await vi.waitFor(async () => expect((await timed.get(id))?.department).toBe('city-ecology'));
    await timed.stop();
    expect(intervals.size).toBe(0);
  });
});
