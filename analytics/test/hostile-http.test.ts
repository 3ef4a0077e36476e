import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { openWarehouse, type StoredBatch, type Warehouse } from '@cityops/warehouse';
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
  type AlertSignal,
} from '../src/index.ts';

/**
 * Hostile parameters on the analyst and alert routes, through `app.inject()` (no network): any value
 * ends in a 2xx, or a 4xx whose JSON body has a `code`; never a 5xx. SQL injection text in any string
 * parameter changes no table and no row; where it is stored (feedback, reasons) it is stored as text.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const NOW = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
const DUTY = 'city-duty-office-token-0000000003';
const PUDONG = 'pudong-ecology-operator-token-0001';

const INJECTIONS = [
  "'",
  "'; DROP TABLE readings --",
  "'; DROP TABLE alert_events; --",
  "1' OR '1'='1",
  "pudong' OR district != '",
  '{place:String}',
  '{from:Int64}',
  '\\',
  "\\'; DROP TABLE readings; --",
  '\0',
  "\u2019; DROP TABLE readings; --",
  "' UNION ALL SELECT name FROM system.tables --",
  '1; TRUNCATE TABLE readings',
];

const hostileString = fc.oneof(
  fc.constantFrom(...INJECTIONS),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty'),
  fc.constantFrom('', ' ', '0', '-1', '999999999999999', '253402300800000', '0000-01-01T00:00:00Z', '2026-02-30T25:61:00Z', '9999-12-31T23:59:59.999+14:00', '1e3', 'NaN'),
  fc.integer({ min: 200, max: 3000 }).map((n) => 'a'.repeat(n)),
);
const either = <T extends string>(valid: fc.Arbitrary<T>) => fc.oneof(valid, valid, hostileString);
const time = fc.oneof(
  fc.integer({ min: 0, max: 253402300799999 }).map(String),
  fc.integer({ min: NOW - 2 * 86_400_000, max: NOW + HOUR }).map(String),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
);
const placePrefix = fc.constantFrom('', 'pudong', 'pudong/pudong-s01', 'pudong/pudong-s01/g001', 'xuhui/xuhui-s01/g001/b01', 'pudong/', 'a/b/c/d/e');

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

function checked(response: { statusCode: number; body: string }, what: string): Reply {
  const { statusCode: status } = response;
  expect(status, `${what} -> ${status} ${response.body.slice(0, 300)}`).toBeLessThan(500);
  const body = response.body === '' ? {} : (JSON.parse(response.body) as Record<string, unknown>);
  if (status >= 400) {
    expect(typeof body.code, `${what} -> ${status} ${response.body.slice(0, 300)}`).toBe('string');
    expect(body.code as string).toMatch(/^[A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+$/);
  }
  return { status, body };
}

function signal(grid: string, district: string, at: number): AlertSignal {
  const place = `${district}/${district}-s01/${grid}`;
  return {
    key: `pm25_grid:${place}`,
    rule: 'pm25_grid',
    kind: 'threshold',
    severity: 'critical',
    place,
    level: 'grid',
    metric: 'pm25',
    value: 182,
    threshold: 150,
    summary: 'PM2.5 avg 182 µg/m³ > 150 for 2m',
    at,
    observedAt: at - 500,
    verification: { by: 'indicator', indicator: 'pm25_avg', level: 'grid', place, windows: 2 },
  };
}

describe('analytics HTTP API under hostile parameters', () => {
  let dir: string;
  let wh: Warehouse;
  let lifecycle: AlertLifecycle;
  let app: ReturnType<typeof buildAnalyticsApi>;
  let names: string[];
  let alertIds: string[];

  async function counts(): Promise<{ tables: string[]; readings: number; alertEvents: number }> {
    const tables = await wh.query<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name');
    const [r] = await wh.query<{ n: string }>('SELECT count() AS n FROM readings');
    const [a] = await wh.query<{ n: string }>('SELECT count() AS n FROM alert_events');
    return { tables: tables.map((t) => t.name), readings: Number(r?.n ?? 0), alertEvents: Number(a?.n ?? 0) };
  }

  async function call(method: 'GET' | 'POST', url: string, payload?: unknown, token?: string): Promise<Reply> {
    return checked(
      await app.inject({
        method,
        url,
        ...(payload === undefined ? {} : { payload: JSON.stringify(payload) ?? 'null', headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) } }),
        ...(payload === undefined && token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}),
      }),
      `${method} ${url} ${JSON.stringify(payload)?.slice(0, 200) ?? ''}`,
    );
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-analytics-hostile-'));
    wh = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
    const batches: StoredBatch[] = ['g001', 'g002'].map((grid, g) => ({
      device: `gw-${grid}`,
      place: { district: 'pudong', subdistrict: 'pudong-s01', grid, building: '' },
      boot: 1,
      seq: g,
      receivedAt: NOW - 20 * MINUTE,
      readings: Array.from({ length: 40 }, (_, i) => ({ sensor: 'pm', metric: 'pm25', ts: NOW - 20 * MINUTE + i * 30_000, value: 20 + g })),
    }));
    await wh.insertBatches(batches);
    const config = parseAnalyticsConfig({
      alerts: {
        operators: [
          { token: DUTY, name: 'duty officer', departments: ['*'] },
          { token: PUDONG, name: 'Li Wei (Pudong ecology)', departments: ['pudong-ecology'] },
        ],
      },
    });
    const metrics = createAnalyticsMetrics();
    const logger = pino({ level: 'silent' });
    const engine = createIndicatorEngine(loadIndicatorDefinitions(), { warehouse: wh, now: () => NOW });
    names = engine.definitions.map((d) => d.name);
    lifecycle = createAlertLifecycle(config.alerts, { warehouse: wh, engine, logger, metrics: metrics.alerts, now: () => NOW });
    await lifecycle.start();
    await lifecycle.raise(signal('g001', 'pudong', NOW - 3 * MINUTE));
    await lifecycle.raise(signal('g002', 'pudong', NOW - 2 * MINUTE));
    await lifecycle.raise(signal('g001', 'xuhui', NOW - MINUTE));
    alertIds = lifecycle.list().map((a) => a.id);
    app = buildAnalyticsApi({ engine, metrics, logger, ready: () => Promise.resolve(true), alerts: { lifecycle, operators: config.alerts.operators } });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await lifecycle?.stop();
    await wh?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('GET /v1/indicators/{name}: any name, level, place and times answer 200 at that level, or 4xx with a code', async () => {
    let ok = 0;
    // Times as the API takes them (one `at`, or `from` with an optional `to`), or any mix of hostile ones.
    const times = fc.oneof(
      fc.constant({}),
      fc.record({ at: either(time) }),
      fc.record({ from: either(time), to: either(time) }, { requiredKeys: ['from'] }),
      fc.record({ at: hostileString, from: hostileString, to: hostileString, levle: hostileString }, { requiredKeys: [] }),
    );
    const query = fc
      .tuple(fc.record({ level: either(fc.constantFrom('district', 'subdistrict', 'grid', 'building', 'city')), place: either(placePrefix) }, { requiredKeys: [] }), times)
      .map(([where, when]): Record<string, string> => ({ ...where, ...when }));
    await fc.assert(
      fc.asyncProperty(either(fc.constantFrom(...names)), query, async (name, q) => {
        // A name with a '/' or '?' would be another path: the name segment is what is fuzzed here.
        const url = `/v1/indicators/${encodeURIComponent(name)}?${new URLSearchParams(q).toString()}`;
        const { status, body } = await call('GET', url);
        if (status !== 200) return;
        ok++;
        if (q.level !== undefined) expect(body.level).toBe(q.level);
        expect(Array.isArray(body.windows)).toBe(true);
      }),
      { numRuns: 200 },
    );
    expect(ok).toBeGreaterThan(0);
  });

  it('GET /v1/alerts and /v1/alerts/{id}: any filter and id answer 200 with matching alerts, or 4xx with a code', async () => {
    const query = fc.record(
      {
        state: either(fc.constantFrom('dispatched', 'accepted', 'resolved', 'closed', 'open')),
        level: either(fc.constantFrom('district', 'grid', 'city')),
        place: either(placePrefix),
        department: either(fc.constantFrom('pudong-ecology', 'xuhui-ecology')),
        rule: either(fc.constantFrom('pm25_grid', 'noise_grid')),
        kind: either(fc.constantFrom('threshold', 'silence')),
        limit: either(fc.integer({ min: 0, max: 1001 }).map(String)),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(query, async (q) => {
        const { status, body } = await call('GET', `/v1/alerts?${new URLSearchParams(q as Record<string, string>).toString()}`);
        if (status !== 200) return;
        for (const a of body.alerts as { rule: string; department: string; state: string }[]) {
          if (q.rule !== undefined) expect(a.rule).toBe(q.rule);
          if (q.department !== undefined) expect(a.department).toBe(q.department);
          if (q.state !== undefined) expect(a.state).toBe(q.state);
        }
      }),
      { numRuns: 150 },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(...alertIds), fc.uuid(), hostileString), async (id) => {
        const { status } = await call('GET', `/v1/alerts/${encodeURIComponent(id)}`);
        expect([200, 400, 404, 414]).toContain(status); // 414: beyond fastify's maxParamLength
      }),
      { numRuns: 100 },
    );
  });

  it('POST /v1/alerts/{id}/accept|resolve|reopen: any body, id and token answer 2xx or 4xx with a code', async () => {
    const body = fc.oneof(
      fc.record({ feedback: hostileString, reason: hostileString, by: hostileString }, { requiredKeys: [] }),
      fc.jsonValue({ maxDepth: 2 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('accept', 'resolve', 'reopen'),
        fc.oneof(fc.constantFrom(...alertIds), fc.uuid(), hostileString),
        fc.option(body, { nil: undefined }),
        fc.constantFrom(DUTY, PUDONG, 'not-a-token', `${DUTY} x`, ''),
        async (action, id, payload, token) => {
          await call('POST', `/v1/alerts/${encodeURIComponent(id)}/${action}`, payload, token === '' ? undefined : token);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('unencoded names and ids (a "/", "..", "%" in the path) answer 4xx with a code, never fastify\'s codeless 404', async () => {
    const segment = fc.oneof(hostileString, fc.constantFrom('..', '.', '%', '%2', '%zz', '//', 'pm25_avg/extra', `${'x'.repeat(120)}`));
    const path = fc.oneof(
      segment.map((name) => `/v1/indicators/${name}`),
      fc.tuple(segment, fc.constantFrom('', '/accept', '/resolve', '/reopen', '/accept/x')).map(([id, action]) => `/v1/alerts/${id}${action}`),
    );
    await fc.assert(
      fc.asyncProperty(path, fc.constantFrom('GET' as const, 'POST' as const), async (raw, method) => {
        const url = raw.replace(/[?#]/g, '');
        let response;
        try {
          response = await app.inject({ method, url, ...(method === 'POST' ? { payload: {}, headers: { authorization: `Bearer ${DUTY}` } } : {}) });
        } catch {
          return; // light-my-request refuses a URL it cannot send: not a request the server sees
        }
        checked(response, `${method} ${url.slice(0, 200)}`);
      }),
      { numRuns: 200 },
    );
  });

  it('SQL injection gets nowhere: tables and rows unchanged, feedback and reasons stored as text', async () => {
    const before = await counts();
    for (const text of INJECTIONS) {
      const q = encodeURIComponent(text);
      for (const param of ['level', 'place', 'at', 'from', 'to']) {
        const { status } = await call('GET', `/v1/indicators/pm25_avg?${param}=${q}`);
        expect(status, `${param}=${text}`).toBe(400);
      }
      expect((await call('GET', `/v1/indicators/${q}`)).status).toBe(400);
      for (const param of ['state', 'level', 'kind', 'limit']) expect((await call('GET', `/v1/alerts?${param}=${q}`)).status).toBe(400);
      // Free-text filters: compared as data, they match nothing.
      for (const param of ['place', 'department', 'rule']) expect((await call('GET', `/v1/alerts?${param}=${q}`)).body.alerts).toEqual([]);
      expect([400, 404]).toContain((await call('GET', `/v1/alerts/${q}`)).status);
    }
    expect(await counts()).toEqual(before);

    // Through a whole accept -> resolve -> reopen -> resolve cycle, with the texts as feedback and reasons.
    const alert = lifecycle.list({ place: 'xuhui' })[0]!;
    let events = before.alertEvents;
    if (alert.state === 'dispatched') {
      expect((await call('POST', `/v1/alerts/${alert.id}/accept`, {}, DUTY)).status).toBe(200);
      events++;
    }
    for (const text of INJECTIONS.filter((t) => t.trim() !== '')) {
      const view = await lifecycle.get(alert.id);
      if (view?.state === 'accepted') {
        expect((await call('POST', `/v1/alerts/${alert.id}/resolve`, { feedback: text }, DUTY)).status).toBe(200);
        events++;
      }
      const reopened = await call('POST', `/v1/alerts/${alert.id}/reopen`, { reason: text }, DUTY);
      expect(reopened.status).toBe(200);
      events += 2; // reopened, then dispatched again
      if ((await lifecycle.get(alert.id))?.state === 'dispatched') {
        expect((await call('POST', `/v1/alerts/${alert.id}/accept`, {}, DUTY)).status).toBe(200);
        events++;
      }
    }
    const after = await counts();
    expect(after.tables).toEqual(before.tables);
    expect(after.readings).toBe(before.readings);
    expect(after.alertEvents).toBeGreaterThanOrEqual(events);
    const stored = await wh.query<{ feedback: string }>('SELECT feedback FROM alert_events WHERE alert_id = {id:String}', { id: alert.id });
    const texts = new Set(stored.map((r) => r.feedback));
    for (const text of INJECTIONS.filter((t) => t.trim() !== '')) expect(texts.has(text), JSON.stringify(text)).toBe(true);
  });
});
