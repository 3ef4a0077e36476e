import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createWebhookAlertNotifier } from '../src/alerts/webhook-alert-notifier.ts';
import {
  NODE_TIMERS,
  alertTopic,
  createAlertMetrics,
  createMqttAlertNotifier,
  webhookSignature,
  type AlertEvent,
  type AlertNotification,
} from '../src/index.ts';

const logger = pino({ level: 'silent' });
const servers: Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<string> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => handler(req, res, body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

function notification(seq: number, type: AlertEvent['type'] = 'dispatched'): AlertNotification {
  const event = {
    alertId: '6f1c2a90-8a43-4a55-9a0e-3b1d0c7e5a11',
    seq,
    at: 1_700_000_000_000 + seq,
    type,
    actor: 'rule:pm25_grid',
    state: 'dispatched',
    department: 'pudong-ecology',
    parentKey: '',
    feedback: '',
    key: 'pm25_grid:pudong/pudong-s01/g001',
    rule: 'pm25_grid',
    kind: 'threshold',
    severity: 'critical',
    place: 'pudong/pudong-s01/g001',
    level: 'grid',
    metric: 'pm25',
    summary: 'PM2.5 182 > 150 · 上海',
    verification: { by: 'indicator', indicator: 'pm25_avg', level: 'grid', place: 'pudong/pudong-s01/g001', windows: 2 },
  } as const satisfies AlertEvent;
  const { alertId: id, seq: _s, at, type: _t, actor: _a, feedback: _f, ...rest } = event;
  return {
    event,
    alert: { ...rest, id, openedAt: at, updatedAt: at, seq, conditionActive: true, everDispatched: true, assignedAt: at },
  };
}

async function counter(registry: Registry, name: string, labels = ''): Promise<number> {
  const m = new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(await registry.metrics());
  return m === null ? 0 : Number(m[1]);
}

describe('webhook notifier', () => {
  it('signs the body, and retries with backoff until the hook answers 2xx', async () => {
    const received: Received[] = [];
    const url = await listen((req, res, body) => {
      received.push({ headers: req.headers, body });
      res.statusCode = received.length <= 2 ? 503 : 204;
      res.end();
    });
    const registry = new Registry();
    const metrics = createAlertMetrics(registry);
    const secret = 'a-webhook-secret-of-some-length';
    const notifier = createWebhookAlertNotifier([{ url, secret, timeoutMs: 2000 }], { max: 10, attempts: 5, backoffMs: 1, concurrency: 2 }, {
      logger,
      metrics,
      timers: NODE_TIMERS,
    });
    notifier.notify(notification(2));
    await vi.waitFor(async () => expect(await counter(registry, 'cityops_analytics_alert_webhook_deliveries_total', '{outcome="delivered"}')).toBe(1));
    expect(received).toHaveLength(3);
    for (const r of received) {
      expect(r.headers['x-cityops-signature']).toBe(webhookSignature(secret, r.body));
      expect(r.headers['x-cityops-delivery']).toBe('6f1c2a90-8a43-4a55-9a0e-3b1d0c7e5a11:2');
      expect(r.headers['content-type']).toBe('application/json');
    }
    // The signature is what a receiver computes independently.
    const { createHmac } = await import('node:crypto');
    expect(received[0]!.headers['x-cityops-signature']).toBe(`sha256=${createHmac('sha256', secret).update(received[0]!.body).digest('hex')}`);
    expect(JSON.parse(received[0]!.body)).toMatchObject({ event: { type: 'dispatched', seq: 2 }, alert: { department: 'pudong-ecology' } });
    expect(await counter(registry, 'cityops_analytics_alert_webhook_attempt_failures_total')).toBe(2);
    await notifier.close();
  });

  it('gives up after the configured attempts and counts it', async () => {
    let hits = 0;
    const url = await listen((_req, res) => {
      hits++;
      res.statusCode = 500;
      res.end();
    });
    const registry = new Registry();
    const notifier = createWebhookAlertNotifier([{ url, timeoutMs: 2000 }], { max: 10, attempts: 3, backoffMs: 1, concurrency: 1 }, {
      logger,
      metrics: createAlertMetrics(registry),
      timers: NODE_TIMERS,
    });
    notifier.notify(notification(1));
    await vi.waitFor(async () => expect(await counter(registry, 'cityops_analytics_alert_webhook_deliveries_total', '{outcome="failed"}')).toBe(1));
    expect(hits).toBe(3);
    await notifier.close();
  });

  it('keeps a bounded queue: when full the oldest waiting delivery is dropped and counted', async () => {
    const held: ServerResponse[] = [];
    const bodies: string[] = [];
    const url = await listen((_req, res, body) => {
      bodies.push(body);
      held.push(res);
    });
    const registry = new Registry();
    const notifier = createWebhookAlertNotifier([{ url, timeoutMs: 5000 }], { max: 2, attempts: 1, backoffMs: 1, concurrency: 1 }, {
      logger,
      metrics: createAlertMetrics(registry),
      timers: NODE_TIMERS,
    });
    for (let seq = 1; seq <= 5; seq++) notifier.notify(notification(seq)); // 1 in flight, 2..5 for 2 places
    expect(await counter(registry, 'cityops_analytics_alert_webhook_dropped_total')).toBe(2);
    await vi.waitFor(() => expect(held).toHaveLength(1));
    const release = () => held.shift()?.writeHead(200).end();
    release();
    await vi.waitFor(() => expect(held).toHaveLength(1));
    release();
    await vi.waitFor(() => expect(held).toHaveLength(1));
    release();
    await vi.waitFor(async () => expect(await counter(registry, 'cityops_analytics_alert_webhook_deliveries_total', '{outcome="delivered"}')).toBe(3));
    expect(bodies.map((b) => (JSON.parse(b) as { event: { seq: number } }).event.seq)).toEqual([1, 4, 5]);
    await notifier.close();
  });
});

describe('MQTT notifier', () => {
  it("publishes each event on the alert's department topic, and a failing publish is counted, never thrown", async () => {
    const registry = new Registry();
    const metrics = createAlertMetrics(registry);
    const sent: [string, string][] = [];
    let fail = false;
    const notifier = createMqttAlertNotifier({ maxInFlight: 100 }, {
      publish: (topic, payload) => {
        if (fail) return Promise.reject(new Error('not connected'));
        sent.push([topic, payload]);
        return Promise.resolve();
      },
      logger,
      metrics,
    });
    notifier.notify(notification(2));
    fail = true;
    notifier.notify(notification(3));
    await notifier.close();
    expect(sent).toEqual([[alertTopic('pudong-ecology'), JSON.stringify(notification(2))]]);
    expect(sent[0]![0]).toBe('cityops/v1/alerts/pudong-ecology');
    expect(alertTopic('')).toBe('cityops/v1/alerts/unassigned');
    expect(await counter(registry, 'cityops_analytics_alert_notify_failures_total')).toBe(1);
  });

  it('a broker that never acknowledges holds at most maxInFlight publishes; the rest are dropped and counted', async () => {
    const registry = new Registry();
    const metrics = createAlertMetrics(registry);
    const pending: (() => void)[] = [];
    const notifier = createMqttAlertNotifier({ maxInFlight: 3 }, {
      publish: () => new Promise<void>((resolve) => pending.push(resolve)),
      logger,
      metrics,
    });
    for (let seq = 1; seq <= 10; seq++) notifier.notify(notification(seq));
    expect(pending).toHaveLength(3);
    expect(await counter(registry, 'cityops_analytics_alert_notify_dropped_total')).toBe(7);
    // Room again once the broker answers.
    pending.shift()!();
    await vi.waitFor(() => {
      notifier.notify(notification(11));
      expect(pending).toHaveLength(3);
    });
    for (const resolve of pending) resolve();
    await notifier.close();
  });
});
