import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintAccessToken } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpFrom } from '../../test-peers/http-from.ts';
import { createAnalyticsService, type AnalyticsService } from '../src/index.ts';

/** Failed-login lockout per address on analytics (issue 6, item 3), as the service wires it. */

const analyst = mintAccessToken('ana', 'analyst');

let dir: string;
let warehouse: Warehouse;
let analytics: AnalyticsService;
let url: string;
let skew = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-analytics-lockout-'));
  warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'store') });
  analytics = createAnalyticsService(
    {
      http: { port: 0 },
      rollup: { enabled: false },
      auth: { tokens: [analyst.entry] },
      // 127.0.0.1 stays exempt (the scrape below); the test plays other loopback addresses.
      limits: { failedLoginsPerWindow: 3, failedLoginWindowMs: 60_000, lockoutMs: 60_000, exemptAddresses: ['127.0.0.1'] },
    },
    { warehouse, logger: pino({ level: 'silent' }), now: () => Date.now() + skew },
  );
  ({ httpUrl: url } = await analytics.start());
});

afterAll(async () => {
  await analytics?.stop();
  await warehouse?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('analytics failed-login lockout', () => {
  it('locks an address out of every route after repeated 401s, others unaffected, until the lockout ends', async () => {
    const guesses = ['/v1/indicators', '/v1/dashboard/overview?level=district', '/v1/alerts'];
    for (const [i, path] of guesses.entries()) expect((await httpFrom('127.0.0.30', `${url}${path}`, bearer(`guess-${i}`.padEnd(43, 'x')))).status).toBe(401);
    // The right token from there is refused before it is looked at, on every route, the stream too.
    for (const path of ['/v1/indicators', '/v1/dashboard/stream']) {
      expect(await httpFrom('127.0.0.30', `${url}${path}`, bearer(analyst.token))).toMatchObject({ status: 429, retryAfter: '60', body: { code: 'ANALYTICS_ERR_LOCKED_OUT' } });
    }
    expect((await httpFrom('127.0.0.31', `${url}/v1/indicators`, bearer(analyst.token))).status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^cityops_analytics_address_lockouts_total 1$/m);
    expect(metrics).toMatch(/^cityops_analytics_address_refused_total 2$/m);
    skew += 60_000;
    expect((await httpFrom('127.0.0.30', `${url}/v1/indicators`, bearer(analyst.token))).status).toBe(200);
  });

  it('does not count refusals of a known token (403) as failed logins', async () => {
    for (let i = 0; i < 5; i++) expect((await httpFrom('127.0.0.32', `${url}/v1/alerts`, bearer(analyst.token))).status).toBe(403);
    expect((await httpFrom('127.0.0.32', `${url}/v1/indicators`, bearer(analyst.token))).status).toBe(200);
  });
});
