import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createIngestService, type IngestService } from '@cityops/ingest';
import { parsePlace, topics } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { createAnalyticsService, type AlertNotification, type AnalyticsService } from '../src/index.ts';
import { MINUTE, pmSignal } from './alert-lifecycle-fixtures.ts';

/**
 * A department's console rates a handled alert through the real broker (issue 23): ingest's ACL, the
 * analytics service's alert link subscribing to every console's ratings topic, the registry's
 * departments, and the `rated` event back on the department's alert topic.
 */

let dir: string;
let warehouse: Warehouse;
let ingest: IngestService;
let analytics: AnalyticsService;
let console_: MqttClient;
const seen: AlertNotification[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-console-mqtt-'));
  warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
  const logger = pino({ level: 'silent' });
  ingest = createIngestService({ dataDir: dir, mqtt: { port: 0 }, http: { port: 0 } }, { warehouse, logger });
  const addresses = await ingest.start();
  const place = parsePlace('pudong/pudong-s01/g001');
  const service = await ingest.registry.add({ id: 'analytics', kind: 'service', place: { district: '', subdistrict: '', grid: '', building: '' } });
  const c = await ingest.registry.add({ id: 'console-pudong', kind: 'console', place, departments: ['pudong-ecology'] });
  analytics = createAnalyticsService(
    { http: { port: 0 }, rollup: { enabled: false }, dashboard: { enabled: false }, rules: { mqtt: { url: addresses.mqttUrl, username: 'analytics', password: service.secret, reconnectMs: 200 } } },
    { warehouse, logger },
  );
  await analytics.start();
  console_ = await mqtt.connectAsync(addresses.mqttUrl, { clientId: 'console-pudong', username: 'console-pudong', password: c.secret, protocolVersion: 4, reconnectPeriod: 0 });
  await console_.subscribeAsync(topics.alerts('pudong-ecology'), { qos: 1 });
  console_.on('message', (_topic, payload) => seen.push(JSON.parse(payload.toString()) as AlertNotification));
}, 120_000);

afterAll(async () => {
  await console_?.endAsync(true);
  await analytics?.stop();
  await ingest?.stop();
  await warehouse?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('a console rating over the broker', () => {
  it('is stored as rater:console and comes back on its alert topic; garbage beside it changes nothing', { timeout: 60_000 }, async () => {
    const alerts = analytics.alerts;
    const s = pmSignal('g001', Date.now(), { verification: { by: 'condition', windowMs: MINUTE, windows: 5 } });
    await alerts.raise(s);
    const id = alerts.list().find((a) => a.key === s.key)!.id;
    await alerts.accept(id, { name: 'desk' });
    await alerts.clear(s.key, Date.now());
    await alerts.resolve(id, 'sprinklers on', { name: 'desk' });

    await console_.publishAsync(topics.alertRatings('console-pudong'), '{"alertId": 12', { qos: 1 });
    await console_.publishAsync(topics.alertRatings('console-pudong'), JSON.stringify({ alertId: id, rating: 'good', comment: 'fast' }), { qos: 1 });
    await vi.waitFor(() => expect(seen.find((n) => n.event.type === 'rated')).toBeDefined(), { timeout: 30_000 });
    const rated = seen.find((n) => n.event.type === 'rated')!;
    expect(rated.event).toMatchObject({ alertId: id, actor: 'rater:console', rating: 'good', ratingStage: 'resolved', feedback: 'fast' });
    expect(rated.ratingLink).toBeUndefined();
    const view = (await alerts.get(id))!;
    expect(view.events.filter((e) => e.type === 'rated')).toHaveLength(1);
    const text = await analytics.metrics.registry.metrics();
    expect(text).toMatch(/cityops_analytics_alert_ratings_total\{channel="console"\} 1/);
    expect(text).toMatch(/cityops_analytics_alert_ratings_refused_total\{channel="console",code="ANALYTICS_ERR_RATING_INVALID"\} 1/);
  });
});
