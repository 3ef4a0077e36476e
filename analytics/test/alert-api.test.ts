import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildAnalyticsApi,
  createAlertLifecycle,
  createAnalyticsMetrics,
  createIndicatorEngine,
  loadIndicatorDefinitions,
  parseAnalyticsConfig,
  type AlertLifecycle,
} from '../src/index.ts';
import { HOUR, MINUTE, pmSignal } from './alert-lifecycle-fixtures.ts';

let dir: string;
let wh: Warehouse;
let lifecycle: AlertLifecycle;
let secured: ReturnType<typeof buildAnalyticsApi>;
let open: ReturnType<typeof buildAnalyticsApi>;
let clock = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;

const PUDONG = 'pudong-ecology-operator-token-0001';
const XUHUI = 'xuhui-ecology-operator-token-0002';
const DUTY = 'city-duty-office-token-0000000003';

const config = parseAnalyticsConfig({
  alerts: {
    operators: [
      { token: PUDONG, name: 'Li Wei (Pudong ecology)', departments: ['pudong-ecology'] },
      { token: XUHUI, name: 'Xu Hui officer', departments: ['xuhui-ecology'] },
      { token: DUTY, name: 'duty officer', departments: ['*'] },
    ],
  },
});

type Body = Record<string, unknown> & { code?: string; alerts?: { id: string; key: string; state: string; department: string; place: string }[] };

async function call(app: typeof secured, method: 'GET' | 'POST', url: string, payload?: object, token?: string) {
  const response = await app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload }),
    ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }),
  });
  return { status: response.statusCode, body: response.json<Body>() };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-alert-api-'));
  wh = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
  const metrics = createAnalyticsMetrics();
  const logger = pino({ level: 'silent' });
  const engine = createIndicatorEngine(loadIndicatorDefinitions(), { warehouse: wh, now: () => clock });
  lifecycle = createAlertLifecycle(config.alerts, { warehouse: wh, engine, logger, metrics: metrics.alerts, now: () => clock });
  await lifecycle.start();
  const ready = () => Promise.resolve(true);
  secured = buildAnalyticsApi({ engine, metrics, logger, ready, alerts: { lifecycle, operators: config.alerts.operators } });
  open = buildAnalyticsApi({ engine, metrics, logger, ready, alerts: { lifecycle, operators: [] } });
  // Three alerts, a minute apart: two PM2.5 grids in pudong, a noise one in xuhui.
  await lifecycle.raise(pmSignal('g001', clock));
  clock += MINUTE;
  await lifecycle.raise(pmSignal('g002', clock, { severity: 'warning' }));
  clock += MINUTE;
  await lifecycle.raise(
    pmSignal('g001', clock, { key: 'noise:xuhui/xuhui-s01/g001', rule: 'noise_grid', metric: 'noise', place: 'xuhui/xuhui-s01/g001' }),
  );
});

afterAll(async () => {
  await secured?.close();
  await open?.close();
  await lifecycle?.stop();
  await wh?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('GET /v1/alerts', () => {
  it('lists newest first, with filters and a limit', async () => {
    const all = await call(secured, 'GET', '/v1/alerts');
    expect(all.status).toBe(200);
    expect(all.body.alerts?.map((a) => a.place)).toEqual(['xuhui/xuhui-s01/g001', 'pudong/pudong-s01/g002', 'pudong/pudong-s01/g001']);
    expect(all.body.alerts?.[0]).toMatchObject({ state: 'dispatched', department: 'xuhui-ecology', rule: 'noise_grid', level: 'grid', kind: 'threshold' });
    expect(all.body.alerts?.[0]).not.toHaveProperty('events');

    const byPlace = await call(secured, 'GET', '/v1/alerts?place=pudong');
    expect(byPlace.body.alerts?.map((a) => a.place)).toEqual(['pudong/pudong-s01/g002', 'pudong/pudong-s01/g001']);
    expect((await call(secured, 'GET', '/v1/alerts?place=pudong/pudong-s0')).body.alerts).toEqual([]);
    expect((await call(secured, 'GET', '/v1/alerts?department=xuhui-ecology')).body.alerts).toHaveLength(1);
    expect((await call(secured, 'GET', '/v1/alerts?rule=pm25_grid&state=dispatched&level=grid&kind=threshold')).body.alerts).toHaveLength(2);
    expect((await call(secured, 'GET', '/v1/alerts?state=closed')).body.alerts).toEqual([]);
    expect((await call(secured, 'GET', '/v1/alerts?limit=1')).body.alerts?.map((a) => a.place)).toEqual(['xuhui/xuhui-s01/g001']);
  });

  it('rejects unknown filters and values with a code', async () => {
    for (const q of ['stat=open', 'state=pending', 'limit=0', 'kind=fire']) {
      const r = await call(secured, 'GET', `/v1/alerts?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.code).toBe('ANALYTICS_ERR_ALERT_REQUEST_INVALID');
    }
  });
});

describe('POST /v1/alerts/{id}/…', () => {
  const pudongAlert = async () => (await call(secured, 'GET', '/v1/alerts?place=pudong/pudong-s01/g001')).body.alerts![0]!.id;

  it('needs an operator token (401) whose departments hold the alert (403)', async () => {
    const id = await pudongAlert();
    const none = await call(secured, 'POST', `/v1/alerts/${id}/accept`, {});
    expect(none).toMatchObject({ status: 401, body: { code: 'ANALYTICS_ERR_UNAUTHENTICATED' } });
    const wrong = await call(secured, 'POST', `/v1/alerts/${id}/accept`, {}, 'not-an-operator-token-at-all');
    expect(wrong).toMatchObject({ status: 401, body: { code: 'ANALYTICS_ERR_UNAUTHENTICATED' } });
    const other = await call(secured, 'POST', `/v1/alerts/${id}/accept`, {}, XUHUI);
    expect(other).toMatchObject({ status: 403, body: { code: 'ANALYTICS_ERR_FORBIDDEN' } });
    expect((await call(secured, 'GET', `/v1/alerts/${id}`)).body.state).toBe('dispatched');
  });

  it('accepts, refuses a resolve without feedback (400), resolves, refuses a second accept (409); the timeline names the operator', async () => {
    const id = await pudongAlert();
    const accepted = await call(secured, 'POST', `/v1/alerts/${id}/accept`, undefined, PUDONG);
    expect(accepted.status).toBe(200);
    expect(accepted.body.state).toBe('accepted');
    for (const payload of [{}, { feedback: '' }, { feedback: 'x'.repeat(4001) }]) {
      const r = await call(secured, 'POST', `/v1/alerts/${id}/resolve`, payload, PUDONG);
      expect(r, JSON.stringify(payload).slice(0, 40)).toMatchObject({ status: 400, body: { code: 'ANALYTICS_ERR_ALERT_REQUEST_INVALID' } });
    }
    const resolved = await call(secured, 'POST', `/v1/alerts/${id}/resolve`, { feedback: 'Dust from a construction site; site closed for the day' }, PUDONG);
    expect(resolved.status).toBe(200);
    const again = await call(secured, 'POST', `/v1/alerts/${id}/accept`, {}, PUDONG);
    expect(again).toMatchObject({ status: 409, body: { code: 'ANALYTICS_ERR_ALERT_TRANSITION' } });

    const timeline = await call(secured, 'GET', `/v1/alerts/${id}`);
    expect(timeline.status).toBe(200);
    const events = timeline.body.events as { seq: number; type: string; actor: string; feedback: string; department: string }[];
    expect(events.map((e) => [e.seq, e.type, e.actor])).toEqual([
      [1, 'opened', 'rule:pm25_grid'],
      [2, 'dispatched', 'rule:pm25_grid'],
      [3, 'accepted', 'Li Wei (Pudong ecology)'],
      [4, 'resolved', 'Li Wei (Pudong ecology)'],
    ]);
    expect(events[3]?.feedback).toBe('Dust from a construction site; site closed for the day');

    // Reopen needs a reason; the duty office (`*`) may act anywhere.
    expect((await call(secured, 'POST', `/v1/alerts/${id}/reopen`, {}, DUTY)).status).toBe(400);
    const reopened = await call(secured, 'POST', `/v1/alerts/${id}/reopen`, { reason: 'complaints continue' }, DUTY);
    expect(reopened).toMatchObject({ status: 200, body: { state: 'dispatched', department: 'pudong-ecology' } });
  });

  it('without operators (development) takes the actor from `by`, which is then required', async () => {
    const id = (await call(open, 'GET', '/v1/alerts?place=xuhui')).body.alerts![0]!.id;
    expect(await call(open, 'POST', `/v1/alerts/${id}/accept`, {})).toMatchObject({ status: 400, body: { code: 'ANALYTICS_ERR_ALERT_REQUEST_INVALID' } });
    const accepted = await call(open, 'POST', `/v1/alerts/${id}/accept`, { by: 'dev' });
    expect(accepted.status).toBe(200);
    expect((accepted.body.events as { actor: string }[]).at(-1)?.actor).toBe('dev');
  });

  it('answers 404 for an unknown alert and 400 for an id that is not one', async () => {
    expect(await call(secured, 'GET', '/v1/alerts/00000000-0000-4000-8000-000000000000')).toMatchObject({ status: 404, body: { code: 'ANALYTICS_ERR_ALERT_UNKNOWN' } });
    expect((await call(secured, 'GET', '/v1/alerts/nope')).status).toBe(400);
    expect(
      await call(secured, 'POST', '/v1/alerts/00000000-0000-4000-8000-000000000000/accept', {}, DUTY),
    ).toMatchObject({ status: 404, body: { code: 'ANALYTICS_ERR_ALERT_UNKNOWN' } });
  });

  it('exposes the alert metrics', async () => {
    const r = await secured.inject({ method: 'GET', url: '/metrics' });
    expect(r.body).toMatch(/cityops_analytics_alerts\{state="dispatched"\} [1-9]/);
    expect(r.body).toMatch(/cityops_analytics_alert_transitions_total\{type="accepted"\} [1-9]/);
  });
});
