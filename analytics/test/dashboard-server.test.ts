import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildAnalyticsApi, createAnalyticsMetrics, createIndicatorEngine, loadIndicatorDefinitions, parseAnalyticsConfig } from '../src/index.ts';
import { createDashboard } from '../src/dashboard/dashboard.ts';
import { createOverviewCache } from '../src/dashboard/overview-cache.ts';
import { createPipelineHealth } from '../src/dashboard/pipeline-health.ts';
import { parsePrometheusText } from '../src/dashboard/prometheus-text.ts';
import { createSseHub } from '../src/dashboard/sse-hub.ts';
import { readVenueChecks } from '../src/dashboard/venue-checks.ts';

const MINUTE = 60_000;
const logger = pino({ level: 'silent' });

describe('SSE hub', () => {
  let server: Server;
  let url: string;
  const hub = createSseHub({ maxClients: 3, maxBufferedBytes: 256 * 1024, heartbeatMs: 60_000 }, { onDrop: (reason) => drops.push(reason) });
  const drops: string[] = [];

  beforeAll(async () => {
    server = createServer((_req, res) => {
      if (!hub.add(res, [{ event: 'hello', data: { n: 0 } }])) res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('drops a page that does not read, while one that reads keeps every message; refuses past maxClients', async () => {
    // A page that never reads: a socket paused after its request.
    const stalled = connect((server.address() as AddressInfo).port, '127.0.0.1');
    stalled.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    stalled.pause();
    const abort = new AbortController();
    const reader = await fetch(url, { signal: abort.signal });
    let received = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of reader.body as unknown as AsyncIterable<Uint8Array>) received += decoder.decode(chunk, { stream: true });
      } catch {
        // aborted at the end of the test
      }
    })();
    await vi.waitFor(() => expect(hub.clients()).toBe(2));
    const third = await fetch(url);
    const fourth = await fetch(url);
    expect(fourth.status).toBe(503);
    await third.body?.cancel();
    await vi.waitFor(() => expect(hub.clients()).toBe(2));

    const payload = 'x'.repeat(64 * 1024);
    let sent = 0;
    while (hub.clients() === 2 && sent < 2000) {
      hub.broadcast({ event: 'snapshot', data: { sent: ++sent, payload } });
      await turn(); // the reader's socket drains between broadcasts
    }
    expect(hub.clients()).toBe(1);
    expect(drops).toContain('slow');
    hub.broadcast({ event: 'snapshot', data: { last: true } });
    await vi.waitFor(() => expect(received).toContain('data: {"last":true}'));
    expect(received.startsWith('retry: 2000\n\nevent: hello\ndata: {"n":0}\n\n')).toBe(true);
    expect(received.split('event: snapshot').length - 1).toBe(sent + 1);
    stalled.destroy();
    abort.abort();
    await reading;
  });
});

describe('pipeline health', () => {
  it('reads gauges, turns counters into rates between scrapes, and shows a source that fails as down', async () => {
    const text = (readings: number) =>
      [
        '# HELP cityops_ingest_readings_total Readings accepted.',
        '# TYPE cityops_ingest_readings_total counter',
        `cityops_ingest_readings_total ${readings}`,
        'cityops_ingest_dead_letters_total{reason="INGEST_ERR_PAYLOAD_INVALID"} 3',
        'cityops_ingest_dead_letters_total{reason="INGEST_ERR_SCHEMA"} 4',
        'cityops_ingest_lag_seconds 0.25',
        'cityops_broker_clients 12',
      ].join('\n');
    let t = 1_000_000;
    let readings = 1000;
    let fail = false;
    const fetchStub = vi.fn((input: string | URL) => {
      const u = input.toString();
      if (u.startsWith('http://verifier')) return Promise.reject(new Error('connect ECONNREFUSED'));
      if (fail) return Promise.resolve(new Response('nope', { status: 500 }));
      expect(u).toBe('http://ingest:8080/metrics');
      return Promise.resolve(new Response(text(readings)));
    });
    const health = createPipelineHealth({ ingest: 'http://ingest:8080', verifier: 'http://verifier:8081' }, 1000, { now: () => t, fetch: fetchStub as unknown as typeof fetch });
    const first = await health.read();
    expect(first.ingest).toMatchObject({ up: true, figures: { readingsPerSecond: null, lagSeconds: 0.25, brokerClients: 12, deadLetters: 7 } });
    expect(first.verifier).toMatchObject({ configured: true, up: false, error: 'connect ECONNREFUSED' });
    t += 2000;
    readings += 5000;
    expect((await health.read()).ingest.figures.readingsPerSecond).toBe(2500);
    fail = true;
    expect((await health.read()).ingest).toMatchObject({ up: false, error: 'HTTP 500' });
    expect((await createPipelineHealth({}, 1000, { now: () => t }).read()).ingest.configured).toBe(false);
  });

  it('parses escaped label values and special numbers', () => {
    const samples = parsePrometheusText('a_total{reason="say \\"hi\\"",b="x"} 2\nb NaN\nc +Inf\n# comment\n');
    expect(samples[0]).toEqual({ name: 'a_total', labels: { reason: 'say "hi"', b: 'x' }, value: 2 });
    expect(samples[1]!.value).toBeNaN();
    expect(samples[2]!.value).toBe(Infinity);
  });
});

describe('overview cache', () => {
  it('computes an overview once per key and interval however many pages ask, and marks the worst state', async () => {
    let t = 0;
    const evaluate = vi.fn((request: { name: string }) =>
      Promise.resolve({
        windows: [{ from: 0, to: 1, places: [{ place: 'pudong', value: request.name === 'b' ? 9 : 1, state: request.name === 'b' ? 'critical' : 'normal', samples: 3 }] }],
      }),
    );
    const engine = {
      definitions: [
        { name: 'a', title: 'A', unit: 'x', levels: ['district'] },
        { name: 'b', title: 'B', unit: 'x', levels: ['district', 'grid'] },
        { name: 'c', title: 'C', unit: 'x', levels: ['grid'] },
      ],
      evaluate,
    } as unknown as Parameters<typeof createOverviewCache>[0];
    const cache = createOverviewCache(engine, 1000, 2, () => t);
    const [one, two] = await Promise.all([cache.get('district', ''), cache.get('district', '')]);
    expect(one).toBe(two);
    expect(evaluate).toHaveBeenCalledTimes(2); // a and b: the indicators computed at district level
    expect(one.places).toEqual([{ place: 'pudong', state: 'critical', counts: { critical: 1, warning: 0, normal: 1, no_data: 0 }, marks: [{ indicator: 'b', title: 'B', unit: 'x', state: 'critical', value: 9 }] }]);
    t += 1000;
    await cache.get('district', '');
    expect(evaluate).toHaveBeenCalledTimes(4);
  });
});

describe('dashboard routes and venue checks over a warehouse', () => {
  let dir: string;
  let wh: Warehouse;
  const now = Math.floor(Date.now() / MINUTE) * MINUTE + 30_000;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-dashboard-server-'));
    wh = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
    const minute = (m: number) => new Date(now - m * MINUTE).toISOString().slice(0, 19).replace('T', ' ');
    const place = { district: 'pudong', subdistrict: 'pudong-s01', grid: 'g001', building: '' };
    await wh.insertRows('devices', [
      { id: 'sc-1', kind: 'scanner', ...place, secret_hash: '', revoked: false, updated_at: minute(0) },
      { id: 'sc-2', kind: 'scanner', ...place, secret_hash: '', revoked: false, updated_at: minute(0) },
      { id: 'sc-quiet', kind: 'scanner', ...place, secret_hash: '', revoked: false, updated_at: minute(0) },
    ]);
    const row = (m: number, scanner: string, verdict: string, reason: string, events: number) => ({ minute: minute(m), venue: 'v1', scanner, kind: 'health-code', verdict, reason, events });
    await wh.insertRows('verification_events_1m', [
      row(1, 'sc-1', 'allow', 'OK', 80),
      row(2, 'sc-2', 'allow', 'OK', 60),
      row(2, 'sc-1', 'deny', 'EXPIRED', 10),
      row(3, 'sc-2', 'deny', 'BAD_SIGNATURE', 3), // fewer than minCell: suppressed
      row(30, 'sc-quiet', 'allow', 'OK', 50), // outside the window; its scanner is quiet since
    ]);
  });
  afterAll(async () => {
    await wh?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('counts verdicts per second and denials by reason, suppressing small cells, and lists quiet scanners', async () => {
    const v = await readVenueChecks(wh, { minutes: 5, minCell: 5, silentMs: 2 * MINUTE }, now);
    expect(v.to - v.from).toBe(5 * MINUTE);
    expect(v.perSecond).toBeCloseTo(153 / 300, 6);
    expect(v.denyShare).toBeCloseTo(13 / 153, 6);
    expect(v.denyByReason).toEqual([
      { reason: 'EXPIRED', share: 10 / 153, suppressed: false },
      { reason: 'BAD_SIGNATURE', share: null, suppressed: true },
    ]);
    expect(v.scanners).toEqual({ known: 3, offline: ['sc-quiet'] });
  });

  it('shows a window without verdicts as 0 per second (nothing to hide), and one with fewer than minCell as suppressed', async () => {
    const empty = await readVenueChecks(wh, { minutes: 5, minCell: 5, silentMs: 2 * MINUTE }, now + 3_600_000);
    expect([empty.perSecond, empty.denyShare, empty.denyByReason]).toEqual([0, null, []]);
    // Only minute 3's 3 denials: fewer than 5 verdicts in the window.
    const few = await readVenueChecks(wh, { minutes: 1, minCell: 5, silentMs: 2 * MINUTE }, now - 2 * MINUTE);
    expect([few.perSecond, few.denyShare]).toEqual([null, null]);
  });

  it('serves the page, its modules and the vendored libraries, and nothing else', async () => {
    const metrics = createAnalyticsMetrics();
    const config = parseAnalyticsConfig({ dashboard: { stream: { maxClients: 1 } } });
    const engine = createIndicatorEngine(loadIndicatorDefinitions(), { warehouse: wh, now: () => now });
    const dashboard = createDashboard(config.dashboard, { engine, warehouse: wh, registry: metrics.registry, logger, now: () => now, minCell: 5, operatorsRequired: true });
    const app = buildAnalyticsApi({ engine, metrics, logger, ready: () => Promise.resolve(true), dashboard });
    try {
      const page = await app.inject('/');
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.body).toContain('<script type="importmap">');
      expect(page.body).not.toMatch(/https?:\/\/(?!127)/); // no CDN
      for (const file of ['/dashboard/app.js', '/dashboard/dashboard.css', '/vendor/preact.mjs', '/vendor/preact-hooks.mjs', '/vendor/htm.mjs', '/vendor/uplot.mjs', '/vendor/uplot.css']) {
        expect((await app.inject(file)).statusCode, file).toBe(200);
      }
      expect((await app.inject('/vendor/uplot.mjs')).headers['content-type']).toBe('text/javascript; charset=utf-8');
      for (const file of ['/dashboard/..%2Fpackage.json', '/dashboard/%2e%2e%2fpackage.json', '/vendor/preact', '/dashboard/index.ts']) {
        expect((await app.inject(file)).statusCode, file).toBe(404);
      }
      expect((await app.inject('/v1/dashboard/info')).json()).toMatchObject({ operatorsRequired: true });
      expect((await app.inject('/v1/dashboard/overview?level=planet')).statusCode).toBe(400);
      const overview = await app.inject('/v1/dashboard/overview?level=subdistrict&place=pudong');
      expect(overview.statusCode).toBe(200);
      // The scanners' sub-district, from the verification indicators (no readings in this store).
      expect(overview.json<{ places: { place: string }[] }>()).toMatchObject({ level: 'subdistrict', place: 'pudong', places: [{ place: 'pudong/pudong-s01' }] });
      expect(await metrics.registry.getSingleMetricAsString('cityops_analytics_dashboard_clients')).toContain('cityops_analytics_dashboard_clients 0');
    } finally {
      await dashboard.stop();
      await app.close();
    }
  });
});
