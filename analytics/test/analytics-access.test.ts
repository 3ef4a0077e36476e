import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintAccessToken } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  buildAnalyticsApi,
  createAlertLifecycle,
  createAnalyticsAccess,
  createAnalyticsMetrics,
  createIndicatorEngine,
  loadIndicatorDefinitions,
  parseAnalyticsConfig,
  type AlertLifecycle,
} from '../src/index.ts';
import { createDashboard, type Dashboard } from '../src/dashboard/dashboard.ts';
import { HOUR, MINUTE, pmSignal } from './alert-lifecycle-fixtures.ts';

/** Role tokens on every analytics route class (issue 6, item 3): who may read and act on what. */

const admin = mintAccessToken('root', 'admin');
const operator = mintAccessToken('duty officer', 'operator');
const pudong = mintAccessToken('Li Wei (Pudong ecology)', 'department', ['pudong-ecology']);
const analyst = mintAccessToken('ana', 'analyst');
const auditor = mintAccessToken('audit office', 'auditor');
const config = parseAnalyticsConfig({ auth: { tokens: [admin, operator, pudong, analyst, auditor].map((t) => t.entry) } });

let dir: string;
let wh: Warehouse;
let lifecycle: AlertLifecycle;
let dashboard: Dashboard;
let app: ReturnType<typeof buildAnalyticsApi>;
let clock = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
let pudongId: string;
let xuhuiId: string;

type Body = { code?: string; message?: string; alerts?: { id: string; department: string }[]; events?: { actor: string }[] };

async function call(method: 'GET' | 'POST', url: string, token?: string, payload?: object) {
  const response = await app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload }),
    ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }),
  });
  const json = response.headers['content-type']?.toString().startsWith('application/json') === true;
  return { status: response.statusCode, body: json ? response.json<Body>() : ({} as Body), raw: response.body };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-analytics-access-'));
  wh = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
  const metrics = createAnalyticsMetrics();
  const logger = pino({ level: 'silent' });
  const engine = createIndicatorEngine(loadIndicatorDefinitions(), { warehouse: wh, now: () => clock });
  const access = createAnalyticsAccess(config.auth.tokens);
  dashboard = createDashboard(config.dashboard, { engine, warehouse: wh, registry: metrics.registry, logger, now: () => clock, minCell: 5, operatorsRequired: false, access });
  const publish = (_topic: string, payload: string) => dashboard.alertPublished(payload);
  lifecycle = createAlertLifecycle(config.alerts, { warehouse: wh, engine, logger, metrics: metrics.alerts, now: () => clock, publish });
  await lifecycle.start();
  app = buildAnalyticsApi({ engine, metrics, logger, ready: () => Promise.resolve(true), alerts: { lifecycle, operators: [] }, dashboard, access });
  await lifecycle.raise(pmSignal('g001', clock));
  clock += MINUTE;
  await lifecycle.raise(pmSignal('g001', clock, { key: 'noise:xuhui/xuhui-s01/g001', rule: 'noise_grid', metric: 'noise', place: 'xuhui/xuhui-s01/g001' }));
  const all = lifecycle.list();
  pudongId = all.find((a) => a.department === 'pudong-ecology')!.id;
  xuhuiId = all.find((a) => a.department === 'xuhui-ecology')!.id;
});

afterAll(async () => {
  await dashboard?.stop();
  await app?.close();
  await lifecycle?.stop();
  await wh?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('analytics access by role', () => {
  it('refuses a missing or unknown token with 401, never echoing it, before validating parameters', async () => {
    const wrong = 'w'.repeat(40);
    for (const url of ['/v1/indicators', '/v1/indicators/pm25_avg?levle=x', '/v1/alerts', `/v1/alerts/${pudongId}`, '/v1/dashboard/overview', '/v1/dashboard/stream']) {
      for (const token of [undefined, wrong, analyst.token.slice(0, 31)]) {
        const r = await call('GET', url, token);
        expect(r.status, `${url} ${token}`).toBe(401);
        expect(r.body.code).toBe('ANALYTICS_ERR_UNAUTHENTICATED');
        if (token !== undefined) expect(r.raw).not.toContain(token);
      }
    }
    expect((await call('POST', `/v1/alerts/${pudongId}/accept`, wrong, {})).status).toBe(401);
  });

  it('keeps probes, metrics, the page and /v1/dashboard/info open, and says tokens are required', async () => {
    for (const url of ['/healthz', '/metrics', '/', '/dashboard/app.js']) expect((await call('GET', url)).status, url).toBe(200);
    expect((await call('GET', '/v1/dashboard/info')).body).toMatchObject({ tokensRequired: true, operatorsRequired: true });
  });

  it('lets admin, operator, department and analyst read aggregates; an auditor gets 403', async () => {
    for (const t of [admin, operator, pudong, analyst]) {
      expect((await call('GET', '/v1/indicators', t.token)).status, t.entry.role).toBe(200);
      expect((await call('GET', '/v1/dashboard/overview?level=district', t.token)).status, t.entry.role).toBe(200);
    }
    const r = await call('GET', '/v1/indicators', auditor.token);
    expect([r.status, r.body.code]).toEqual([403, 'ANALYTICS_ERR_ROLE_FORBIDDEN']);
  });

  it('refuses an analyst and an auditor every alert route (403)', async () => {
    for (const t of [analyst, auditor]) {
      for (const [method, url, body] of [
        ['GET', '/v1/alerts', undefined],
        ['GET', `/v1/alerts/${pudongId}`, undefined],
        ['POST', `/v1/alerts/${pudongId}/accept`, {}],
        ['POST', `/v1/alerts/${pudongId}/resolve`, { feedback: 'x' }],
      ] as const) {
        const r = await call(method, url, t.token, body);
        expect([r.status, r.body.code], `${t.entry.role} ${method} ${url}`).toEqual([403, 'ANALYTICS_ERR_ROLE_FORBIDDEN']);
      }
    }
    expect(lifecycle.list().every((a) => a.state === 'dispatched')).toBe(true);
  });

  it('shows a department only the alerts with its departments; others are 404 to it, to read and to act', async () => {
    const list = await call('GET', '/v1/alerts', pudong.token);
    expect(list.body.alerts?.map((a) => a.id)).toEqual([pudongId]);
    expect((await call('GET', '/v1/alerts?department=xuhui-ecology', pudong.token)).body.alerts).toEqual([]);
    const other = await call('GET', `/v1/alerts/${xuhuiId}`, pudong.token);
    expect([other.status, other.body.code]).toEqual([404, 'ANALYTICS_ERR_ALERT_UNKNOWN']);
    const act = await call('POST', `/v1/alerts/${xuhuiId}/accept`, pudong.token, {});
    expect([act.status, act.body.code]).toEqual([404, 'ANALYTICS_ERR_ALERT_UNKNOWN']);
    const own = await call('POST', `/v1/alerts/${pudongId}/accept`, pudong.token);
    expect(own.status).toBe(200);
    expect(own.body.events?.at(-1)?.actor).toBe('Li Wei (Pudong ecology)');
  });

  it('lets an operator and an admin read and act on every alert, as themselves (a body `by` is ignored)', async () => {
    expect((await call('GET', '/v1/alerts', operator.token)).body.alerts).toHaveLength(2);
    expect((await call('GET', `/v1/alerts/${xuhuiId}`, admin.token)).status).toBe(200);
    const r = await call('POST', `/v1/alerts/${xuhuiId}/accept`, operator.token, { by: 'someone else' });
    expect(r.status).toBe(200);
    expect(r.body.events?.at(-1)?.actor).toBe('duty officer');
    expect((await call('POST', `/v1/alerts/${xuhuiId}/resolve`, admin.token, { feedback: 'pump replaced' })).body.events?.at(-1)?.actor).toBe('root');
  });

  it('sends a department stream only its alerts and an analyst stream none', async () => {
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const received: Record<string, string> = { pudong: '', analyst: '', operator: '' };
    const controllers: AbortController[] = [];
    const open = async (who: keyof typeof received, token: string) => {
      const controller = new AbortController();
      controllers.push(controller);
      const res = await fetch(`${address}/v1/dashboard/stream`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
      expect(res.status).toBe(200);
      void (async () => {
        const decoder = new TextDecoder();
        try {
          for await (const chunk of res.body!) received[who] += decoder.decode(chunk as Uint8Array, { stream: true });
        } catch {
          // aborted at the end of the test
        }
      })();
    };
    try {
      await open('pudong', pudong.token);
      await open('analyst', analyst.token);
      await open('operator', operator.token);
      await vi.waitFor(() => expect(Object.values(received).every((t) => t.includes('event: hello'))).toBe(true));
      clock += MINUTE;
      await lifecycle.raise(pmSignal('g001', clock, { key: 'noise:xuhui/xuhui-s01/g002', rule: 'noise_grid', metric: 'noise', place: 'xuhui/xuhui-s01/g002' }));
      clock += MINUTE;
      await lifecycle.raise(pmSignal('g002', clock));
      await vi.waitFor(() => expect(received.operator).toContain('pudong/pudong-s01/g002'));
      await vi.waitFor(() => expect(received.pudong).toContain('pudong/pudong-s01/g002'));
      expect(received.operator).toContain('xuhui/xuhui-s01/g002');
      expect(received.pudong).not.toContain('xuhui-ecology');
      expect(received.analyst).not.toContain('event: alert');
    } finally {
      for (const c of controllers) c.abort();
    }
  });

  it('refuses alerts.operators beside auth.tokens, and a department token without departments', () => {
    expect(() => parseAnalyticsConfig({ auth: { tokens: [admin.entry] }, alerts: { operators: [{ token: 'x'.repeat(32), name: 'o', departments: ['*'] }] } })).toThrow(
      /alerts\/operators cannot be combined with \/auth\/tokens/,
    );
    expect(() => parseAnalyticsConfig({ auth: { tokens: [{ ...pudong.entry, departments: undefined }] } })).toThrow(/role department needs departments/);
  });
});
