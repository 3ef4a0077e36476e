import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { createAnalyticsService, type AnalyticsService } from '../src/index.ts';
import { pmSignal } from './alert-lifecycle-fixtures.ts';
import { findChromium, openBrowserPage } from './dashboard-chromium.ts';

/** With operators configured the page asks for a token, sends it as a Bearer, and shows a refusal. */

const TOKEN = 'pudong-ecology-operator-token-0001';

let dir: string;
let warehouse: Warehouse;
let analytics: AnalyticsService;
let url: string;
let browser: Browser;
let page: Page;
let consoleErrors: string[];

beforeAll(async () => {
  findChromium();
  dir = await mkdtemp(join(tmpdir(), 'cityops-dashboard-ops-'));
  warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
  analytics = createAnalyticsService(
    {
      http: { port: 0 },
      rollup: { enabled: false },
      alerts: { operators: [{ token: TOKEN, name: 'Li Wei (Pudong ecology)', departments: ['pudong-ecology'] }] },
      dashboard: { intervalMs: 500 },
    },
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

describe('the dashboard with operators', () => {
  it('shows an alert raised while the page is open, refuses a wrong token, and accepts with the right one', { timeout: 180_000 }, async () => {
    await page.goto(url);
    await page.getByText(/^Live · updated/).waitFor();
    const token = page.getByTestId('operator-token');
    await token.waitFor();

    await analytics.alerts.raise(pmSignal('g001', Date.now()));
    const row = page.locator('tr[data-rule="pm25_grid"][data-state="dispatched"]');
    await row.waitFor();
    await row.getByRole('button').click();
    const detail = page.getByTestId('alert-detail');

    await token.fill('not-an-operator-token-at-all');
    await detail.getByRole('button', { name: 'Accept' }).click();
    await detail.getByRole('alert').getByText(/ANALYTICS_ERR_UNAUTHENTICATED/).waitFor();
    // The browser logs a failed fetch (401) as a console error; that one is expected here.
    consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !/status of 401/.test(e)));

    await token.fill(TOKEN);
    await detail.getByRole('button', { name: 'Accept' }).click();
    await page.locator('[data-testid="alert-detail"][data-state="accepted"]').waitFor();
    await detail.getByTestId('timeline').getByText('by Li Wei (Pudong ecology)').waitFor();
    expect(consoleErrors).toEqual([]);
  });
});
