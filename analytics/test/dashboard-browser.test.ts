import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createIngestService, type IngestService } from '@cityops/ingest';
import { createTelemetryCodec, parsePlace, topics, type Reading } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { createAnalyticsService, type AnalyticsService } from '../src/index.ts';
import { findChromium, openBrowserPage } from './dashboard-chromium.ts';

/**
 * The operator's screen in a real browser (Debian's Chromium through playwright-core) over a running
 * city in this process: ingest (broker + HTTP), analytics with the rule engine on the live stream,
 * and gateways publishing through MQTT. No sleeps: Playwright's auto-waiting and vi.waitFor.
 */

const MINUTE = 60_000;
const codec = createTelemetryCodec();
const DOCS_PNG = fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url));

/** A rule that fires on the first breaching reading: the test raises it through MQTT. */
const RULES = {
  rules: [{ name: 'pm25_spike_grid', title: 'PM2.5 spike in a grid', kind: 'threshold', indicator: 'pm25_avg', level: 'grid', severity: 'critical', for: '0s' }],
};

/** A few gateways over several districts, with what each reads (some elevated, for colour). */
const GATEWAYS: readonly { id: string; place: string; pm25: number; noise: number }[] = [
  { id: 'gw-pd-1', place: 'pudong/pudong-s01/g001', pm25: 30, noise: 55 },
  { id: 'gw-pd-2', place: 'pudong/pudong-s02/g004', pm25: 82, noise: 58 },
  { id: 'gw-xh-1', place: 'xuhui/xuhui-s01/g001', pm25: 24, noise: 52 },
  { id: 'gw-hp-1', place: 'huangpu/huangpu-s01/g002', pm25: 130, noise: 61 },
  { id: 'gw-ja-1', place: 'jingan/jingan-s01/g001', pm25: 18, noise: 74 },
  { id: 'gw-mh-1', place: 'minhang/minhang-s03/g007', pm25: 41, noise: 50 },
];
const SPIKE = { id: 'gw-pd-spike', place: 'pudong/pudong-s03/g009' };
/** A gateway that came up with the test: readings only in the current window (issue 19: values at once). */
const NEWCOMER = { id: 'gw-cn-new', place: 'changning/changning-s01/g001', pm25: 35, noise: 0 };
const WINDOW = 5 * MINUTE;
let newcomerFirst: number | undefined;

let dir: string;
let warehouse: Warehouse;
let ingest: IngestService;
let analytics: AnalyticsService;
let analyticsUrl: string;
let browser: Browser;
let page: Page;
const clients: MqttClient[] = [];
let consoleErrors: string[] = [];
let feeding: NodeJS.Timeout | undefined;
let shots: string;
/** Publishes one PM2.5 reading from the spike gateway, now. */
let spike: (value: number) => Promise<unknown>;

async function gateway(id: string, secret: string, mqttUrl: string) {
  const client = await mqtt.connectAsync(mqttUrl, { clientId: id, username: id, password: secret, protocolVersion: 4, reconnectPeriod: 0 });
  clients.push(client);
  await client.publishAsync(topics.status(id), JSON.stringify({ online: true, boot: 1, ts: Date.now() }), { qos: 1, retain: true });
  let seq = 0;
  return (readings: Reading[]) => client.publishAsync(topics.telemetry(id), codec.encode({ boot: 1, seq: ++seq, readings }), { qos: 1 });
}

beforeAll(async () => {
  findChromium(); // before anything starts: a missing browser is a clear failure, not a timeout
  dir = await mkdtemp(join(tmpdir(), 'cityops-dashboard-'));
  shots = join(dir, 'screenshots');
  await mkdir(shots);
  warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
  const logger = pino({ level: 'silent' });
  ingest = createIngestService(
    { dataDir: dir, mqtt: { port: 0 }, http: { port: 0 }, writer: { flushIntervalMs: 20 }, pipelineStatus: { instance: 'ingest-d', intervalMs: 200 } },
    { warehouse, logger },
  );
  const addresses = await ingest.start();
  const service = await ingest.registry.add({ id: 'analytics', kind: 'service', place: { district: '', subdistrict: '', grid: '', building: '' } });
  const publishers: { g: { id: string; pm25: number; noise: number }; send: (readings: Reading[]) => Promise<unknown> }[] = [];
  for (const g of [...GATEWAYS, { ...SPIKE, pm25: 0, noise: 0 }, NEWCOMER]) {
    const { secret } = await ingest.registry.add({ id: g.id, kind: 'gateway', place: parsePlace(g.place) });
    publishers.push({ g, send: await gateway(g.id, secret, addresses.mqttUrl) });
  }
  // Twenty minutes of history, a reading a minute, so the last complete windows have values.
  const now = Date.now();
  for (const { g, send } of publishers.slice(0, GATEWAYS.length)) {
    const readings: Reading[] = [];
    for (let m = 20; m >= 1; m--) {
      const ts = now - m * MINUTE;
      readings.push({ sensor: 'pm25-1', metric: 'pm25', ts, value: g.pm25 + (m % 3), alarm: false });
      readings.push({ sensor: 'noise-1', metric: 'noise', ts, value: g.noise, alarm: false });
    }
    await send(readings);
  }
  const rulesFile = join(dir, 'rules.json');
  await writeFile(rulesFile, JSON.stringify(RULES));
  analytics = createAnalyticsService(
    {
      http: { port: 0 },
      rollup: { intervalMs: 500 },
      rules: { rulesFile, mqtt: { url: addresses.mqttUrl, username: 'analytics', password: service.secret, reconnectMs: 200 } },
      dashboard: { intervalMs: 500, sources: { ingest: addresses.httpUrl } },
      alerts: { ratings: { linkSecret: 'browser-test-rating-link-secret-0123456789' } },
    },
    { warehouse, logger },
  );
  ({ httpUrl: analyticsUrl } = await analytics.start());
  // The live feed: every normal gateway reports now and then, so readings/s moves.
  feeding = setInterval(() => {
    for (const { g, send } of publishers.slice(0, GATEWAYS.length)) {
      void send([{ sensor: 'pm25-1', metric: 'pm25', ts: Date.now(), value: g.pm25, alarm: false }]).catch(() => undefined);
    }
    newcomerFirst ??= Date.now();
    void publishers[GATEWAYS.length + 1]!.send([{ sensor: 'pm25-1', metric: 'pm25', ts: Date.now(), value: NEWCOMER.pm25, alarm: false }]).catch(() => undefined);
  }, 250);
  spike = (value: number) =>
    publishers[GATEWAYS.length]!.send([{ sensor: 'pm25-1', metric: 'pm25', ts: Date.now(), value, alarm: false }]);

  ({ browser, page, consoleErrors } = await openBrowserPage());
}, 180_000);

afterAll(async () => {
  if (feeding !== undefined) clearInterval(feeding);
  await page?.close();
  await browser?.close();
  await analytics?.stop();
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await ingest?.stop();
  await warehouse?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('the dashboard in Chromium', () => {
  // A browser beside every other test file in forks: room for a loaded machine (no sleeps anyway).
  it('shows districts and live charts, and takes an alert raised through MQTT from open to resolved', { timeout: 180_000 }, async () => {
    await page.goto(analyticsUrl);
    await page.getByText(/^Live · updated/).waitFor();

    // The city overview: a tile per district, coloured by its worst state.
    const tiles = page.getByTestId('tiles');
    await expect.poll(() => tiles.locator('button.tile').count(), { timeout: 20_000 }).toBeGreaterThanOrEqual(5);
    await tiles.locator('[data-place="huangpu"][data-state="critical"]').waitFor();
    await tiles.locator('[data-place="pudong"]').waitFor();
    // A district whose only readings are in the window still running has a colour, not NO DATA;
    // marked "so far" while that window runs (after it ends, its complete window has the value).
    const newcomer = tiles.locator('[data-place="changning"][data-state="normal"]');
    await newcomer.waitFor();
    if (Math.floor(newcomerFirst! / WINDOW) === Math.floor(Date.now() / WINDOW)) {
      expect(await newcomer.getAttribute('data-partial')).toBe('true');
      expect(await newcomer.textContent()).toMatch(/so far/);
    }
    await page.screenshot({ path: join(shots, '1-overview.png'), fullPage: true });

    // A live chart: the throughput chart gains points as snapshots arrive, without a reload.
    const live = page.getByTestId('live-chart');
    await expect.poll(async () => Number(await live.getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    const before = Number(await live.getAttribute('data-points'));
    await expect.poll(async () => Number(await live.getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThan(before);
    await expect.poll(async () => Number((await page.getByTestId('readingsPerSecond').textContent())?.replace(/,/g, '')), { timeout: 20_000 }).toBeGreaterThan(0);
    await page.locator('[data-testid="rules-link"]', { hasText: 'live' }).waitFor();
    await expect.poll(async () => Number(await page.getByTestId('indicator-chart').getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThan(0);
    // The chart's last point is the current window so far, with its sample count.
    await expect.poll(async () => Number(await page.getByTestId('indicator-current').getAttribute('data-samples')), { timeout: 20_000 }).toBeGreaterThan(0);

    // Drill down: pudong's sub-districts, then back to the city with the keyboard.
    await tiles.locator('[data-place="pudong"]').click();
    await page.locator('[data-testid="tiles"][data-level="subdistrict"] [data-place="pudong/pudong-s02"]').waitFor();
    await page.getByRole('navigation', { name: 'Place' }).getByRole('button', { name: 'City' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('[data-testid="tiles"][data-level="district"]').waitFor();

    // Raise an alert through MQTT: one breaching reading, a rule with `for: "0s"`.
    await spike(400);
    const row = page.locator('tr[data-rule="pm25_spike_grid"]');
    await row.waitFor({ timeout: 20_000 });
    await page.locator('tr[data-rule="pm25_spike_grid"][data-state="dispatched"]').waitFor();
    await expect.poll(() => page.getByTestId('announcement').textContent()).toMatch(/^New critical alert: PM2\.5/);
    await page.screenshot({ path: join(shots, '2-alert-raised.png'), fullPage: true });
    if (process.env.CITYOPS_DOCS_SCREENSHOT === '1') await page.screenshot({ path: DOCS_PNG, fullPage: true });

    // Accept and resolve it from the page, the feedback typed in; the timeline shows each step.
    await row.getByRole('button').click();
    const detail = page.getByTestId('alert-detail');
    await detail.getByRole('button', { name: 'Accept' }).click();
    await page.locator('[data-testid="alert-detail"][data-state="accepted"]').waitFor();
    const feedback = 'Construction site on Zhangjiang Rd watered down; dust nets up. Checked at 14:05.';
    await detail.getByTestId('feedback').fill(feedback);
    await detail.getByRole('button', { name: 'Resolve' }).click();
    await page.locator('[data-testid="alert-detail"][data-state="resolved"]').waitFor();
    await detail.getByTestId('timeline').getByText(feedback).waitFor();
    await page.locator('tr[data-rule="pm25_spike_grid"][data-state="resolved"]').waitFor();
    await page.screenshot({ path: join(shots, '3-alert-resolved.png'), fullPage: true });

    // The server agrees: the alert's own events, as stored.
    const id = await row.getAttribute('data-alert-id');
    await vi.waitFor(async () => {
      const view = (await (await fetch(`${analyticsUrl}/v1/alerts/${id}`)).json()) as { state: string; events: { type: string; actor: string; feedback?: string }[] };
      expect(view.state).toBe('resolved');
      expect(view.events.map((e) => e.type)).toEqual(expect.arrayContaining(['opened', 'dispatched', 'accepted', 'resolved']));
      expect(view.events.find((e) => e.type === 'resolved')?.feedback).toBe(feedback);
      expect(view.events.find((e) => e.type === 'accepted')?.actor).toBe('control room');
    });

    // Issue 23: the duty office rates the handled alert from the screen; the rating is an alert event
    // (actor the channel, not the name typed in), and the department indicators beside the board count it.
    await detail.getByTestId('rating-comment').fill('Quick and thorough');
    await detail.getByTestId('rate-good').click();
    await detail.getByTestId('rated').waitFor();
    await detail.getByTestId('timeline').getByText('Quick and thorough').waitFor();
    const rated = await (await fetch(`${analyticsUrl}/v1/alerts/${id}`)).json() as { events: { type: string; actor: string; rating?: string }[] };
    expect(rated.events.find((e) => e.type === 'rated')).toMatchObject({ actor: 'rater:screen', rating: 'good' });
    const department = (rated.events.find((e) => e.type === 'resolved') as { department?: string } | undefined)?.department;
    const score = page.getByTestId('department-score').filter({ hasText: department! });
    await expect.poll(async () => (await score.textContent()) ?? '', { timeout: 20_000 }).toMatch(new RegExp(`^${department}1100\\.0%`));
    await page.screenshot({ path: join(shots, '4-alert-rated.png'), fullPage: true });

    // A reporter rates through the one-time link's page; the link cannot be used twice.
    const token = analytics.alerts.ratingLinks.sign(id!, 'resolved', Date.now() + 60 * MINUTE);
    const reporter = await browser.newPage();
    await reporter.goto(`${analyticsUrl}/dashboard/rate.html?token=${token}`);
    await reporter.getByTestId('rating-comment').fill('The dust is still there on Sundays');
    await reporter.getByRole('button', { name: 'Bad' }).click();
    await reporter.getByTestId('rated').waitFor();
    const after = await (await fetch(`${analyticsUrl}/v1/alerts/${id}`)).json() as { events: { type: string; actor: string; rating?: string }[] };
    expect(after.events.filter((e) => e.type === 'rated').map((e) => [e.actor, e.rating])).toEqual([['rater:screen', 'good'], ['rater:link', 'bad']]);
    // "still there": the comment says the problem remains, so the case is back with its department.
    expect(after.events.at(-2)?.type).toBe('reopened');
    await reporter.reload();
    await reporter.getByText('This link has been used already.').waitFor();
    await reporter.close();

    expect(existsSync(join(shots, '3-alert-resolved.png'))).toBe(true);
    expect(consoleErrors).toEqual([]);
  });
});
