import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parsePlace, topics } from '@cityops/protocol';
import { createDeviceRegistry } from '@cityops/warehouse';
import { startHarness, type Harness } from './ingest-harness.ts';

/**
 * A department's console (device kind `console`, issue 6, item 3): bound to its departments, it
 * reads their alert topics over MQTT and nothing else, and publishes nothing but its own status.
 */

const PLACE = parsePlace('pudong/lujiazui/g002');
const ADMIN = 'Bearer test-admin-token-0123456789';

describe('a console device', () => {
  let h: Harness;
  let console_: MqttClient;
  let service: MqttClient;

  beforeAll(async () => {
    h = await startHarness();
    const c = await h.service.registry.add({ id: 'console-pudong', kind: 'console', place: PLACE, departments: ['pudong-ecology', 'pudong-water'] });
    const s = await h.service.registry.add({ id: 'svc-alerts', kind: 'service', place: PLACE });
    console_ = await h.connect('console-pudong', c.secret);
    service = await h.connect('svc-alerts', s.secret);
  });
  afterAll(async () => {
    await h?.close();
  });

  it("subscribes to its departments' alert topics and is refused every other filter (SUBACK 0x80)", async () => {
    for (const department of ['pudong-ecology', 'pudong-water']) {
      expect((await console_.subscribeAsync(topics.alerts(department), { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    }
    for (const filter of [topics.alerts('xuhui-ecology'), 'cityops/v1/alerts/+', 'cityops/v1/alerts/#', '#', topics.telemetry('gw-a'), topics.verifyResponse('sc-1'), topics.pipeline('ingest')]) {
      await expect(console_.subscribeAsync(filter, { qos: 1 }), filter).rejects.toThrow(/Subscribe error/);
    }
  });

  it("receives its departments' alert events and never another department's", async () => {
    const received: string[] = [];
    console_.on('message', (topic) => received.push(topic));
    const pudong = new Promise<void>((resolve) => console_.on('message', (topic) => topic === topics.alerts('pudong-water') && resolve()));
    await service.publishAsync(topics.alerts('xuhui-ecology'), JSON.stringify({ id: 'a-1' }), { qos: 1 });
    await service.publishAsync(topics.alerts('pudong-ecology'), JSON.stringify({ id: 'a-2' }), { qos: 1 });
    // The last one published: when it arrives, anything forwarded before it has arrived too.
    await service.publishAsync(topics.alerts('pudong-water'), JSON.stringify({ id: 'a-3' }), { qos: 1 });
    await pudong;
    expect(received).toEqual([topics.alerts('pudong-ecology'), topics.alerts('pudong-water')]);
  });

  it('may not publish alert events (or anything but its own status)', async () => {
    const watcher = await h.connect('svc-watch', (await h.service.registry.add({ id: 'svc-watch', kind: 'service', place: PLACE })).secret);
    await watcher.subscribeAsync(topics.alerts('pudong-ecology'), { qos: 1 });
    const seen: string[] = [];
    watcher.on('message', (_topic, payload) => seen.push(payload.toString()));
    const deniedBefore = (await h.service.metrics.denied.get()).values.find((v) => v.labels.operation === 'publish')?.value ?? 0;
    console_.publish(topics.alerts('pudong-ecology'), JSON.stringify({ id: 'forged' }), { qos: 0 });
    await vi.waitFor(async () => {
      const denied = (await h.service.metrics.denied.get()).values.find((v) => v.labels.operation === 'publish')?.value ?? 0;
      expect(denied).toBe(deniedBefore + 1);
    });
    // A barrier: a real alert published after the forged one reaches the watcher alone.
    const real = new Promise<void>((resolve) => watcher.on('message', (_t, p) => p.toString().includes('real') && resolve()));
    await service.publishAsync(topics.alerts('pudong-ecology'), JSON.stringify({ id: 'real' }), { qos: 1 });
    await real;
    expect(seen).toEqual([JSON.stringify({ id: 'real' })]);
  });

  it('publishes ratings under its own id only (issue 23)', async () => {
    // Its own connection: a refused publish closes the connection (aedes), as the test above does to console_.
    const rater = await h.connect('console-rater', (await h.service.registry.add({ id: 'console-rater', kind: 'console', place: PLACE, departments: ['pudong-ecology'] })).secret);
    const watcher = await h.connect('svc-ratings', (await h.service.registry.add({ id: 'svc-ratings', kind: 'service', place: PLACE })).secret);
    await watcher.subscribeAsync(topics.allOf('alert-ratings'), { qos: 1 });
    const seen: string[] = [];
    const own = new Promise<void>((resolve) => watcher.on('message', (topic, payload) => {
      seen.push(`${topic} ${payload.toString()}`);
      resolve();
    }));
    await rater.publishAsync(topics.alertRatings('console-rater'), JSON.stringify({ rating: 'own' }), { qos: 1 });
    await own;
    const deniedBefore = (await h.service.metrics.denied.get()).values.find((v) => v.labels.operation === 'publish')?.value ?? 0;
    // Another console's topic: the rating would be attributed to that console's departments.
    rater.publish(topics.alertRatings('console-pudong'), JSON.stringify({ rating: 'spoofed' }), { qos: 0 });
    await vi.waitFor(async () => {
      const denied = (await h.service.metrics.denied.get()).values.find((v) => v.labels.operation === 'publish')?.value ?? 0;
      expect(denied).toBe(deniedBefore + 1);
    });
    expect(seen).toEqual([`${topics.alertRatings('console-rater')} ${JSON.stringify({ rating: 'own' })}`]);
  });

  it('keeps its departments in the shared registry (another instance reads them back)', async () => {
    const other = createDeviceRegistry({ refreshMs: 60_000 }, { warehouse: h.warehouse });
    await other.start();
    try {
      expect(other.get('console-pudong')).toMatchObject({ kind: 'console', departments: ['pudong-ecology', 'pudong-water'] });
      expect(other.get('svc-alerts')?.departments).toEqual([]);
    } finally {
      await other.stop();
    }
  });

  it('is provisioned over HTTP with departments; a console without them, or another kind with them, is refused', async () => {
    const post = async (body: object) => {
      const r = await fetch(`${h.addresses.httpUrl}/v1/devices`, { method: 'POST', headers: { authorization: ADMIN, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as { code?: string; message?: string; secret?: string } };
    };
    for (const bad of [
      { id: 'console-x', kind: 'console' },
      { id: 'console-x', kind: 'console', departments: [] },
      { id: 'console-x', kind: 'console', departments: ['no spaces'] },
      { id: 'gw-x', kind: 'gateway', place: 'pudong/lujiazui/g002', departments: ['pudong-ecology'] },
    ]) {
      const r = await post(bad);
      expect([r.status, r.body.code], JSON.stringify(bad)).toEqual([400, 'INGEST_ERR_QUERY_INVALID']);
    }
    expect(h.service.registry.get('console-x')).toBeUndefined();
    const created = await post({ id: 'console-xuhui', kind: 'console', departments: ['xuhui-ecology'] });
    expect(created.status).toBe(201);
    const xuhui = await h.connect('console-xuhui', created.body.secret!);
    expect((await xuhui.subscribeAsync(topics.alerts('xuhui-ecology'), { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    await expect(xuhui.subscribeAsync(topics.alerts('pudong-ecology'), { qos: 1 })).rejects.toThrow(/Subscribe error/);
  });
});
