import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintAccessToken } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { createAnalyticsService, type AnalyticsService } from '../src/index.ts';
import { pmSignal } from './alert-lifecycle-fixtures.ts';
import { findChromium, openBrowserPage } from './dashboard-chromium.ts';

/** With auth.tokens the page asks for a token first, sends it everywhere, and shows a department its own alerts only. */

const pudong = mintAccessToken('Li Wei (Pudong ecology)', 'department', ['pudong-ecology']);
const analyst = mintAccessToken('ana', 'analyst');

let dir: string;
let warehouse: Warehouse;
let analytics: AnalyticsService;
let url: string;
let browser: Browser;
let page: Page;
let consoleErrors: string[];

beforeAll(async () => {
  findChromium();
  dir = await mkdtemp(join(tmpdir(), 'cityops-dashboard-access-'));
  warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
  analytics = createAnalyticsService(
    { http: { port: 0 }, rollup: { enabled: false }, auth: { tokens: [pudong.entry, analyst.entry] }, dashboard: { intervalMs: 500 } },
    { warehouse, logger: pino({ level: 'silent' }) },
  );
  ({ httpUrl: url } = await analytics.start());
  ({ browser, page, consoleErrors } = await openBrowserPage({ width: 1280, height: 900 }));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await analytics?.stop();
  await warehouse?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('the dashboard with access tokens', () => {
  it('asks for a token, refuses a wrong one, and shows a department only its alerts, live, to act on', { timeout: 180_000 }, async () => {
    const t = Date.now();
    await analytics.alerts.raise(pmSignal('g001', t));
    await analytics.alerts.raise(pmSignal('g001', t, { key: 'noise:xuhui/xuhui-s01/g001', rule: 'noise_grid', metric: 'noise', place: 'xuhui/xuhui-s01/g001' }));

    await page.goto(url);
    const gate = page.getByTestId('token-gate');
    await gate.getByTestId('access-token').fill('w'.repeat(43));
    await gate.getByRole('button', { name: 'Open the dashboard' }).click();
    await gate.getByRole('alert').getByText(/ANALYTICS_ERR_UNAUTHENTICATED/).waitFor();
    consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !/status of 401/.test(e)));

    await gate.getByTestId('access-token').fill(pudong.token);
    await gate.getByRole('button', { name: 'Open the dashboard' }).click();
    await page.getByText(/^Live · updated/).waitFor();
    await page.locator('tr[data-rule="pm25_grid"][data-state="dispatched"]').waitFor();
    // Raised while the page is open: arrives over the token-authenticated stream.
    await analytics.alerts.raise(pmSignal('g002', Date.now()));
    await page.locator('tr[data-rule="pm25_grid"]').nth(1).waitFor();
    await analytics.alerts.raise(pmSignal('g002', Date.now(), { key: 'noise:xuhui/xuhui-s01/g002', rule: 'noise_grid', metric: 'noise', place: 'xuhui/xuhui-s01/g002' }));
    expect(await page.locator('tr[data-rule="noise_grid"]').count()).toBe(0);
    expect(await page.getByTestId('operator-token').count()).toBe(0);

    const row = page.locator('tr[data-rule="pm25_grid"][data-state="dispatched"]').first();
    await row.getByRole('button').click();
    const detail = page.getByTestId('alert-detail');
    await detail.getByRole('button', { name: 'Accept' }).click();
    await page.locator('[data-testid="alert-detail"][data-state="accepted"]').waitFor();
    await detail.getByTestId('timeline').getByText('by Li Wei (Pudong ecology)').waitFor();
    // The xuhui alert raised last never reached this page's stream either.
    expect(await page.locator('tr[data-rule="noise_grid"]').count()).toBe(0);
    expect(consoleErrors).toEqual([]);
  });
});
