import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildAnalyticsApi, createAnalyticsMetrics, createIndicatorEngine, loadIndicatorDefinitions, parseAnalyticsConfig, type AnalyticsMetrics } from '../src/index.ts';
import { createDashboard, type Dashboard } from '../src/dashboard/dashboard.ts';
import { startSocketFlood, type SocketFlood } from '../../test-peers/socket-flood.ts';

const PER_ADDRESS = 20;
const MAX_STREAMS = 50;
const STREAM_REQUEST = 'GET /v1/dashboard/stream HTTP/1.1\r\nHost: x\r\n\r\n';

describe('analytics HTTP limits: dashboard streams count toward the per-address cap', () => {
  let dir: string;
  let wh: Warehouse;
  let metrics: AnalyticsMetrics;
  let dashboard: Dashboard;
  let app: ReturnType<typeof buildAnalyticsApi>;
  let port: number;
  const sockets: Socket[] = [];
  const floods: SocketFlood[] = [];

  async function metric(name: string, labels = ''): Promise<number> {
    const text = await metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(labels === '' ? `${name} ` : `${name}{${labels}}`));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  /** A page opening its event stream from `localAddress`; `text` collects what the server sends. */
  function stream(localAddress: string): { socket: Socket; text: () => string } {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    let text = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.once('connect', () => socket.write(STREAM_REQUEST));
    sockets.push(socket);
    return { socket, text: () => text };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-analytics-http-limits-'));
    wh = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
    const config = parseAnalyticsConfig({
      http: { limits: { maxConnectionsPerAddress: PER_ADDRESS, headersTimeoutMs: 500, requestTimeoutMs: 1000 } },
      limits: { exemptAddresses: [] },
      dashboard: { stream: { maxClients: MAX_STREAMS } },
    });
    metrics = createAnalyticsMetrics();
    const engine = createIndicatorEngine(loadIndicatorDefinitions(), { warehouse: wh, now: Date.now });
    const logger = pino({ level: 'silent' });
    dashboard = createDashboard(config.dashboard, { engine, warehouse: wh, registry: metrics.registry, logger, now: Date.now, minCell: 5, operatorsRequired: false });
    app = buildAnalyticsApi({
      engine,
      metrics,
      logger,
      ready: () => Promise.resolve(true),
      dashboard,
      server: { limits: config.http.limits, exemptAddresses: config.limits.exemptAddresses, bodyLimit: config.http.limits.maxBodyBytes },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const f of floods) await f.stop();
    for (const s of sockets) s.destroy();
    await dashboard?.stop();
    await app?.close();
    await wh?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a 2,000-stream flood from one address beyond its cap, while another address gets its stream; memory bounded', async () => {
    const rssBefore = process.memoryUsage().rss;
    // The flood comes from a process of its own, so this process's RSS is the server's alone.
    const flood = await startSocketFlood({ port, localAddress: '127.0.0.2', count: 2000, request: STREAM_REQUEST, watchFor: 'event: hello' });
    floods.push(flood);
    await vi.waitFor(async () => expect(await metric('cityops_analytics_http_refused_connections_total', 'reason="address_connections"')).toBe(2000 - PER_ADDRESS), { timeout: 20_000 });
    await vi.waitFor(() => expect(dashboard.clients()).toBe(PER_ADDRESS), { timeout: 10_000 });
    // The admitted ones are real streams; the refused never got a byte.
    await vi.waitFor(async () => expect(await flood.matches()).toBe(PER_ADDRESS), { timeout: 10_000 });
    const page = stream('127.0.0.3');
    await vi.waitFor(() => expect(page.text()).toContain('event: hello'), { timeout: 10_000 });
    expect(page.text()).toMatch(/^HTTP\/1\.1 200/);
    expect(dashboard.clients()).toBe(PER_ADDRESS + 1);
    expect(await metric('cityops_analytics_dashboard_clients')).toBe(PER_ADDRESS + 1);
    expect(await metric('cityops_analytics_http_connections')).toBe(PER_ADDRESS + 1);
    // Below stream.maxClients: one address could not take every page's stream.
    expect(dashboard.clients()).toBeLessThan(MAX_STREAMS);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(50 << 20);

    // A body trickled from a third address is cut at requestTimeoutMs; the streams (requests long
    // complete, responses long-lived) are not, and still carry what is published.
    const slow = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.4' });
    sockets.push(slow);
    slow.on('error', () => undefined);
    slow.write('POST /v1/alerts/a-1/accept HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
    const trickle = setInterval(() => slow.write(' '), 50);
    await new Promise((resolve) => slow.once('close', resolve));
    clearInterval(trickle);
    expect(await metric('cityops_analytics_http_refused_connections_total', 'reason="request_timeout"')).toBe(1);
    expect(dashboard.clients()).toBe(PER_ADDRESS + 1);
    dashboard.alertPublished(JSON.stringify({ event: 'raised', alert: { id: 'a-1', department: 'd' } }));
    await vi.waitFor(() => expect(page.text()).toContain('event: alert'));

    await flood.stop();
    await vi.waitFor(() => expect(dashboard.clients()).toBe(1));
  });

  it('refuses a body on a GET route with 413 and a code, counted', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/indicators', headers: { 'content-type': 'application/json' }, payload: '{"a":1}' });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ code: 'HTTP_ERR_BODY_TOO_LARGE' });
    expect(await metric('cityops_analytics_http_refused_bodies_total', 'reason="body_not_allowed"')).toBe(1);
  });
});
