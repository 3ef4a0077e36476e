import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { expect, vi } from 'vitest';
import { createAnalyticsService, type AnalyticsService } from '@cityops/analytics';
import { createIngestService, type IngestService } from '@cityops/ingest';
import { createDevelopmentIssuer } from '@cityops/protocol';
import { createVerifierService, type VerifierService } from '@cityops/verifier';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';

export type ServiceName = 'ingest' | 'verifier' | 'analytics';

export interface RunningCity {
  readonly urls: Readonly<Record<ServiceName, string>>;
  readonly ingest: IngestService;
  readonly verifier: VerifierService;
  readonly analytics: AnalyticsService;
  /** The Prometheus text a service's `/metrics` answers now. */
  scrape(service: ServiceName): Promise<string>;
  close(): Promise<void>;
}

const ADMIN_TOKEN = 'ops-test-admin-token-0123456789';

/**
 * Ingest (broker, HTTP, embedded chDB), a verifier answering over HTTP and through ingest's broker,
 * and analytics over the same warehouse, as `cityops up` composes them, each on port 0.
 */
export async function startRunningCity(): Promise<RunningCity> {
  const dir = await mkdtemp(join(tmpdir(), 'cityops-ops-'));
  const logger = pino({ level: 'silent' });
  const stops: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  };
  try {
    const warehouse: Warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
    stops.push(() => warehouse.close());

    const ingest = createIngestService(
      { dataDir: dir, mqtt: { port: 0 }, http: { port: 0, adminToken: ADMIN_TOKEN }, writer: { flushIntervalMs: 20 } },
      { warehouse, logger },
    );
    stops.push(() => ingest.stop());
    const ingestAddresses = await ingest.start();

    const issuer = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });
    await writeFile(join(dir, 'trust.json'), JSON.stringify([issuer.trustEntry]));
    await writeFile(join(dir, 'revocation.json'), JSON.stringify({ codes: [], subjects: [] }));
    const { secret: verifierSecret } = await ingest.registry.add({
      id: 'cityops-verifier',
      kind: 'service',
      place: { district: '', subdistrict: '', grid: '', building: '' },
    });
    const verifier = createVerifierService(
      {
        trust: { source: join(dir, 'trust.json') },
        revocation: { source: join(dir, 'revocation.json') },
        http: { port: 0 },
        mqtt: { url: ingestAddresses.mqttUrl, username: 'cityops-verifier', password: verifierSecret, clientId: 'cityops-verifier' },
        pool: { threads: 1 },
        audit: { pseudonymKey: 'ops-test-pseudonym-key-0123456789abcdef', flushIntervalMs: 20 },
      },
      { warehouse, logger, registry: ingest.registry },
    );
    stops.push(() => verifier.stop());
    const verifierAddresses = await verifier.start();

    // A long interval: the test runs the rollup itself, once there are readings.
    const analytics = createAnalyticsService({ http: { port: 0 }, rollup: { intervalMs: 3_600_000 } }, { warehouse, logger });
    stops.push(() => analytics.stop());
    const analyticsAddresses = await analytics.start();

    const urls = { ingest: ingestAddresses.httpUrl, verifier: verifierAddresses.httpUrl, analytics: analyticsAddresses.httpUrl };
    await driveTraffic({ ingest, analytics }, urls, issuer);
    return {
      urls,
      ingest,
      verifier,
      analytics,
      async scrape(service) {
        const response = await fetch(`${urls[service]}/metrics`);
        expect(response.status, `${service} /metrics`).toBe(200);
        return response.text();
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Enough traffic that every labelled counter and histogram has samples to check. */
async function driveTraffic(
  { ingest, analytics }: { ingest: IngestService; analytics: AnalyticsService },
  urls: Readonly<Record<ServiceName, string>>,
  issuer: ReturnType<typeof createDevelopmentIssuer>,
): Promise<void> {
  const { secret } = await ingest.registry.add({ id: 'gw-ops-1', kind: 'gateway', place: { district: 'huangpu', subdistrict: 'nanjing-east', grid: 'g001', building: '' } });
  const telemetry = (body: string, password = secret) =>
    fetch(`${urls.ingest}/v1/telemetry`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`gw-ops-1:${password}`).toString('base64')}` },
      body,
    });
  const ts = Date.now() - 1_000;
  const batch = JSON.stringify({ boot: 1, seq: 1, readings: [{ sensor: 'pm-1', metric: 'pm25', ts, value: 35.5 }] });
  expect((await telemetry(batch)).status, 'accepted').toBe(202);
  expect((await telemetry(batch)).status, 'duplicate').toBe(200);
  expect((await telemetry('{"boot":1,"seq":2,"readings":"none"}')).status, 'dead letter').toBe(400);
  expect((await telemetry(batch, 'wrong-secret')).status, 'refused').toBe(401);
  await vi.waitFor(() => expect(ingest.metrics.rowsWritten.get()).resolves.toMatchObject({ values: [{ value: 1 }] }));

  // A scanner at its door asks with its device credentials (issue 16); without them: 401.
  const door = await ingest.registry.add({ id: 'scn-ops-1', kind: 'scanner', place: { district: 'huangpu', subdistrict: 'nanjing-east', grid: 'g001', building: 'b01' } });
  const verify = (qr: string, authorization = `Basic ${Buffer.from(`scn-ops-1:${door.secret}`).toString('base64')}`) =>
    fetch(`${urls.verifier}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify({ qr }) });
  expect((await verify('CHC1:garbage', 'Basic bm9ib2R5Om5vdGhpbmc=')).status, 'verify without a scanner').toBe(401);
  const rogue = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });
  for (const qr of [issuer.issueHealthCode({ subject: 'p-1', colour: 'green' }), rogue.issueHealthCode({ subject: 'p-2', colour: 'green' }), 'CHC1:garbage']) {
    expect((await verify(qr)).status, 'verify').toBe(200);
  }

  expect(await analytics.rollup.runOnce(), 'a rollup run over the new readings').toBeDefined();
  expect((await fetch(`${urls.analytics}/v1/indicators/pm25_avg`)).status, 'indicator query').toBe(200);
  expect((await fetch(`${urls.analytics}/v1/indicators/pm25_avg?level=planet`)).status, 'refused query').toBe(400);
}
