import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createAnalyticsService } from '@cityops/analytics';
import { createIngestService } from '@cityops/ingest';
import { mkdir, writeFile } from 'node:fs/promises';
import {
  CITY_CODE_MIX,
  createAgentFleet,
  createRestaurantLicences,
  createScannerCodeMint,
  createScannerFleet,
  describeCity,
  describeScenarios,
  generateCity,
  planScannerSites,
  restaurantPolicy,
} from '@cityops/simulators';
import { cityIncidentsOption } from '../scenario-option.ts';
import { createVerifierService } from '@cityops/verifier';
import { generateSecret, openWarehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { cliErrors } from '../cli-errors.ts';
import { loadOrCreateCityIssuer } from '../city-issuer.ts';
import { provisionCity, provisionScanners, provisionService } from '../provision-city.ts';
import type { Shutdown } from '../shutdown.ts';
import { slowInsertsFrom, slowInsertsUsage } from '../slow-inserts-option.ts';
import { warehouseConfigFrom } from '../store-option.ts';
import { tokenFileOption } from '../token-file.ts';

export const upUsage = `cityops up [--data DIR] [--store URL] [--host H] [--mqtt-port 1883] [--http-port 8080] [--verifier-port 8081]
           [--analytics-port 8082] [--gateways 64] [--rate 500] [--scanners 8] [--scan-rate 10]
           [--indicators FILE] [--rules FILE] [--dispatch FILE] [--tokens FILE] [--json]
           [--slow-inserts-ms N] [--slow-inserts-file FILE] [--checks-per-scanner 5] [--scenario default|list|NAME]
  the whole city in one process: broker, ingest, warehouse (embedded chDB unless --store), HTTP API,
  verifier, analytics (indicators, alert rules on the live stream, alert dispatch, the operator dashboard), and a simulated
  city of gateway agents and venue scanners publishing through MQTT. Ctrl-C stops it.
  --tokens: a JSON array of API token entries (cityops token new) for every service's HTTP API; without
  it readings, indicators, alerts and the dashboard are open (development) and the audit route is closed.
  Edits to FILE take effect while running (an entry removed: revoked; added: granted); an invalid edit is ignored.
  --checks-per-scanner: checks a second one scanner credential may ask for (beyond: THROTTLED and flagged);
  0: no limit, for a benchmark that drives a few credentials far past a door's rate.
  --scenario: the incidents the simulated city has, each one an alert (list: name them all). default: one every
  few minutes, in turn; quiet: none. The doors see a city's mix of codes (2% denied).
  Stop order: scanners, gateways, analytics, verifier, ingest (broker), store; with --json each prints {"stopped":NAME,"ms":N}.
${slowInsertsUsage}`;

export async function upCommand(argv: string[], out: NodeJS.WritableStream, shutdown: Shutdown): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string', default: '.cityops' },
      store: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      'mqtt-port': { type: 'string', default: '1883' },
      'http-port': { type: 'string', default: '8080' },
      'verifier-port': { type: 'string', default: '8081' },
      'analytics-port': { type: 'string', default: '8082' },
      gateways: { type: 'string', default: '64' },
      scanners: { type: 'string', default: '8' },
      'scan-rate': { type: 'string', default: '10' },
      rate: { type: 'string', default: '500' },
      'admin-token': { type: 'string' },
      indicators: { type: 'string' },
      rules: { type: 'string' },
      dispatch: { type: 'string' },
      tokens: { type: 'string' },
      json: { type: 'boolean', default: false },
      'slow-inserts-ms': { type: 'string' },
      'slow-inserts-file': { type: 'string' },
      'checks-per-scanner': { type: 'string', default: '5' },
      scenario: { type: 'string', default: 'default' },
    },
  });
  if (values.scenario === 'list') {
    out.write(`scenarios (cityops up --scenario NAME):\n${describeScenarios()}\n`);
    return;
  }
  // The city and its incidents first: a scenario the city has no place for is a usage error, before anything starts.
  const city = generateCity({ gateways: Number(values.gateways), seed: 1 });
  const plannedSites = planScannerSites({ scanners: Number(values.scanners), seed: 1 });
  const incidents = cityIncidentsOption(values.scenario, city, plannedSites);
  const scenario = incidents.scenario;
  const dataDir = resolve(values.data);
  await mkdir(dataDir, { recursive: true });
  const logger = pino({ name: 'cityops', level: process.env.LOG_LEVEL ?? 'warn' }, pino.destination(2));
  const adminToken = values['admin-token'] ?? generateSecret();
  // One token file for the three APIs, one live store they all consult, replaced when the file changes.
  const { tokens, store: tokenStore } = await tokenFileOption(values.tokens === undefined ? undefined : resolve(values.tokens), shutdown, { logger });
  const tokenDeps = tokenStore === undefined ? {} : { tokens: tokenStore };

  // Steps stop in reverse: the simulated devices first (they would otherwise warn about a broker and a
  // verifier going away), then analytics, the verifier, ingest with its broker, and the store last.
  if (values.json) shutdown.onStepDone((step) => out.write(`${JSON.stringify({ stopped: step.name, ms: Math.round(step.ms), ...(step.failed ? { failed: true } : {}) })}\n`));
  const warehouse = await openWarehouse(warehouseConfigFrom({ store: values.store, data: dataDir }));
  shutdown.add(() => warehouse.close(), 'store');
  const slowInserts = slowInsertsFrom(values, warehouse, (ms, change) => out.write(values.json ? `${JSON.stringify({ insertDelayMs: ms, change })}\n` : `slow inserts: each warehouse insert held ${ms} ms\n`));
  shutdown.add(() => slowInserts.stop(), 'slow-inserts');
  const ingest = createIngestService(
    {
      dataDir,
      mqtt: { host: values.host, port: Number(values['mqtt-port']) },
      http: { host: values.host, port: Number(values['http-port']), adminToken, tokens },
    },
    { warehouse: slowInserts.warehouse, logger, ...tokenDeps },
  );
  shutdown.add(() => ingest.stop(), 'ingest');
  const addresses = await ingest.start();

  // The verifier answers scanners over HTTP and, through the broker, over MQTT as a service device.
  const cityIssuer = await loadOrCreateCityIssuer(dataDir);
  // The simulated scanners' codes come from their own issuers (a health service, a district office),
  // with some codes revoked: the verifier trusts the city's issuer and theirs.
  // The first venue is a restaurant whose policy requires licences (issue 23): its door also sees
  // staff food-handler certificates and its own food business licence, from licensing authorities.
  const restaurant = plannedSites[0] === undefined ? undefined : createRestaurantLicences({ venue: plannedSites[0].venue });
  const cityMint = createScannerCodeMint({ seed: 1 });
  const mint = restaurant === undefined ? cityMint : restaurant.wrap(cityMint);
  const verifierDir = join(dataDir, 'verifier');
  await mkdir(verifierDir, { recursive: true });
  const trustPath = join(verifierDir, 'trust.json');
  const revocationPath = join(verifierDir, 'revocation.json');
  const policiesPath = join(verifierDir, 'policies.json');
  await writeFile(trustPath, JSON.stringify([cityIssuer.issuer.trustEntry, ...mint.trustEntries]));
  await writeFile(revocationPath, JSON.stringify(mint.revocation));
  await writeFile(policiesPath, JSON.stringify(restaurant === undefined ? {} : restaurantPolicy(restaurant.venue)));
  const checksPerScanner = Number(values['checks-per-scanner']);
  if (!Number.isFinite(checksPerScanner) || checksPerScanner < 0) throw cliErrors.CLI_ERR_USAGE(`--checks-per-scanner ${values['checks-per-scanner']}: a number of checks a second, 0 for no limit`);
  const verifierSecret = await provisionService(ingest.registry, 'cityops-verifier', join(dataDir, 'verifier-credentials.json'));
  const verifier = createVerifierService(
    {
      trust: { source: trustPath },
      revocation: { source: revocationPath },
      policies: { source: policiesPath },
      http: { host: values.host, port: Number(values['verifier-port']), tokens },
      mqtt: { url: addresses.mqttUrl, username: 'cityops-verifier', password: verifierSecret, clientId: 'cityops-verifier' },
      audit: { pseudonymKey: cityIssuer.pseudonymKey },
      rates: checksPerScanner === 0 ? { enabled: false } : { checksPerSecond: checksPerScanner },
    },
    // One registry for the broker and the verifier: a scanner is authenticated and placed by the same copy.
    { warehouse, logger, registry: ingest.registry, ...tokenDeps },
  );
  shutdown.add(() => verifier.stop(), 'verifier');
  const verifierAddresses = await verifier.start();

  // Indicators over rollups the analytics service computes from this same store; alert rules on the
  // live stream, through the broker as a service device.
  const analyticsSecret = await provisionService(ingest.registry, 'cityops-analytics', join(dataDir, 'analytics-credentials.json'));
  const analytics = createAnalyticsService(
    {
      http: { host: values.host, port: Number(values['analytics-port']) },
      auth: { tokens },
      ...(values.indicators === undefined ? {} : { indicatorsFile: resolve(values.indicators) }),
      rules: {
        mqtt: { url: addresses.mqttUrl, username: 'cityops-analytics', password: analyticsSecret },
        ...(values.rules === undefined ? {} : { rulesFile: resolve(values.rules) }),
      },
      alerts: values.dispatch === undefined ? {} : { dispatchFile: resolve(values.dispatch) },
      // The dashboard's pipeline panel reads the other services' /metrics, as it would across machines.
      dashboard: { sources: { ingest: addresses.httpUrl, verifier: verifierAddresses.httpUrl } },
    },
    { warehouse, logger, ...tokenDeps },
  );
  shutdown.add(() => analytics.stop(), 'analytics');
  const analyticsAddresses = await analytics.start();

  const devices = await provisionCity(city, ingest.registry, join(dataDir, 'city-credentials.json'));
  const fleet = createAgentFleet(
    { brokerUrl: addresses.mqttUrl, devices, journalRoot: join(dataDir, 'journals'), readingsPerSecond: Number(values.rate), incidents },
    { logger },
  );
  shutdown.add(() => fleet.stop(), 'gateways');
  await fleet.start();

  // Venue scanners ("digital sentinels") asking the verifier over MQTT, deciding offline when it is down.
  const sites = await provisionScanners(ingest.registry, plannedSites, join(dataDir, 'scanner-credentials.json'));
  const scanners = createScannerFleet(
    {
      brokerUrl: addresses.mqttUrl,
      sites,
      dataRoot: join(dataDir, 'scanners'),
      trustSource: trustPath,
      revocationSource: `${verifierAddresses.httpUrl}/v1/revocation/filter`,
      codesPerSecond: Number(values['scan-rate']),
      mix: CITY_CODE_MIX,
      mixAt: incidents.mixAt,
    },
    { mint, logger },
  );
  shutdown.add(() => scanners.stop(), 'scanners');
  await scanners.start();

  if (values.json) {
    out.write(
      `${JSON.stringify({ ready: true, pid: process.pid, ...addresses, verifierUrl: verifierAddresses.httpUrl, analyticsUrl: analyticsAddresses.httpUrl, dashboardUrl: `${analyticsAddresses.httpUrl}/`, adminToken, gateways: devices.length, scanners: sites.length, restaurant: restaurant?.venue, scenario: scenario.name, incidents: incidents.targets })}\n`,
    );
    return;
  }
  out.write(
    [
      `cityops is up: ${describeCity(city)}, ${values.rate} readings/s; ${sites.length} venue scanners, ${values['scan-rate']} codes/s`,
      `  dashboard     ${analyticsAddresses.httpUrl}/   (open it in a browser)`,
      `  MQTT broker   ${addresses.mqttUrl}`,
      `  HTTP API      ${addresses.httpUrl}`,
      `  readings      ${addresses.httpUrl}/v1/readings?metric=pm25&limit=10`,
      `  metrics       ${addresses.httpUrl}/metrics   health ${addresses.httpUrl}/healthz   ready ${addresses.httpUrl}/readyz`,
      `  indicators    ${analyticsAddresses.httpUrl}/v1/indicators   (e.g. ${analyticsAddresses.httpUrl}/v1/indicators/pm25_avg?level=district)`,
      `  alerts        ${analyticsAddresses.httpUrl}/v1/alerts   (events on MQTT: cityops/v1/alerts/+)`,
      `  ratings       rate a handled alert on the dashboard (admin token); department indicators ${analyticsAddresses.httpUrl}/v1/department-indicators?by=department|district`,
      `  verifier      ${verifierAddresses.httpUrl}/v1/verify   (trust: ${trustPath}; mint codes with 'cityops codes issue --key ${join(dataDir, 'issuer', 'private-key.pem')} --kid ${cityIssuer.issuer.trustEntry.kid} ...')`,
      `                asked by scanners (HTTP Basic id:secret, e.g. from ${join(dataDir, 'scanner-credentials.json')}) or a venue token (cityops token new --role venue)`,
      ...(restaurant === undefined ? [] : [`  restaurant    ${restaurant.venue}: its policy requires licences (staff food-handler certificates, its own food business licence; ${policiesPath})`]),
      `  admin token   ${adminToken}   (cityops device add <id> --kind gateway --at <place> --api ${addresses.httpUrl} --token <token>)`,
      `  data          ${dataDir}`,
      `  scenario      ${scenario.name}: ${scenario.kinds.length === 0 ? 'no incident' : `${scenario.kinds.join(', ')}, first ${Math.round(scenario.firstAfterMs / 60_000)} min in`} (cityops up --scenario list)`,
      `Stop with Ctrl-C (SIGINT) or SIGTERM: agents flush, ingest writes what it holds, the store closes (within --stop-deadline-ms; a second Ctrl-C exits at once).`,
      '',
    ].join('\n'),
  );
}
