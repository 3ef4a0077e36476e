import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import {
  DEVICE_ID_PATTERN,
  DEVICE_KINDS,
  httpAppOptions,
  httpLockoutHooks,
  isCityopsError,
  parseBasicCredentials,
  parsePlace,
  setUpHttpApp,
  PLACED_DEVICE_KINDS,
  type AccessTokenEntry,
  type AddressGuard,
  type DeviceKind,
  type HttpAppConfig,
  type TokenAuthenticator,
} from '@cityops/protocol';
import { httpServerMetricHooks } from '@cityops/protocol/service-metrics';
import type { DeviceInfo, DeviceRegistry, SensorSets, Warehouse } from '@cityops/warehouse';
import type { Logger } from 'pino';
import type { DeviceConfigs } from './device-configs.ts';
import { createIngestAccess } from './http-access.ts';
import { configRoutes } from './http-config-routes.ts';
import { ingestErrors } from './errors.ts';
import { declaredSensorsSchema, maxSensorsSchema, sensorRoutes } from './http-sensor-routes.ts';
import type { IngestMetrics } from './ingest-metrics.ts';
import type { TelemetryPipeline } from './telemetry-pipeline.ts';

export interface HttpApiConfig {
  readonly maxPayloadBytes: number;
  readonly adminToken?: string;
  /** Role tokens (`http.tokens`); none: GET /v1/readings is open (development). */
  readonly tokens?: readonly AccessTokenEntry[];
  /** PEM text; present: HTTPS only. */
  readonly tls?: { readonly key: string; readonly cert: string; readonly ca?: string };
  /** `http.limits` and `limits.exemptAddresses` (protocol's http-app-setup.ts); absent: defaults. */
  readonly limits?: HttpAppConfig['limits'];
  readonly exemptAddresses?: readonly string[];
}

export interface HttpApiDeps {
  readonly registry: DeviceRegistry;
  readonly sensors: SensorSets;
  /** Gateways' remote configuration (issue 18); absent: no config routes. */
  readonly configs?: DeviceConfigs;
  readonly pipeline: TelemetryPipeline;
  readonly warehouse: Warehouse;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
  /**
   * Hands an accepted (durable) batch to MQTT subscribers, as if the gateway had published it, so
   * that live consumers (alert rules) see HTTP telemetry too. Failures are the callee's to log.
   */
  readonly forwardTelemetry?: (device: string, payload: Buffer) => void;
  /**
   * Refuses telemetry with this error (503) when set and it returns one: a clustered ingest
   * that cannot reach Redis fails closed over HTTP as over MQTT.
   */
  readonly refuseTelemetry?: () => Error | undefined;
  /** Readiness of the parts the API does not own (broker listening, warehouse reachable). */
  readonly ready: () => Promise<boolean>;
  /** Failed-login lockout per address for device routes (shared with the broker); absent: none. */
  readonly guard?: AddressGuard;
  /** The live token set (a TokenStore a file watcher replaces), consulted per request; absent: `config.tokens`, fixed. */
  readonly tokens?: TokenAuthenticator;
  readonly now?: () => number;
}


const readingsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    device: { type: 'string', pattern: DEVICE_ID_PATTERN.source },
    metric: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$' },
    from: { type: 'string', pattern: '^(\\d{1,15}|\\d{4}-\\d{2}-\\d{2}T[0-9:.]+(Z|[+-]\\d{2}:\\d{2}))$' },
    to: { type: 'string', pattern: '^(\\d{1,15}|\\d{4}-\\d{2}-\\d{2}T[0-9:.]+(Z|[+-]\\d{2}:\\d{2}))$' },
    limit: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 },
  },
} as const;

const deviceBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'kind'],
  properties: {
    id: { type: 'string', pattern: DEVICE_ID_PATTERN.source },
    kind: { type: 'string', enum: DEVICE_KINDS },
    place: { type: 'string', maxLength: 200 },
    /** A console's departments (checked by the registry: ids, 1 to 64, consoles only). */
    departments: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 64 },
    /** A gateway's sensors, declared at provisioning (issue 17); others are learned up to the cap. */
    sensors: declaredSensorsSchema,
    /** The device's own sensor cap; absent or 0: `registry.sensors.defaultMaxPerDevice`. */
    maxSensors: maxSensorsSchema,
  },
} as const;

function parseTime(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw ingestErrors.INGEST_ERR_QUERY_INVALID(`${name} is not a time`);
  return ms;
}

/** The ingest HTTP API: telemetry for devices without MQTT, stored readings, provisioning, probes. */
export function buildHttpApi(config: HttpApiConfig, deps: HttpApiDeps) {
  const { registry, pipeline, warehouse, metrics } = deps;
  const app = Fastify({
    // Per-request lines only at warn and above: at thousands of requests a second they are noise.
    loggerInstance: deps.logger.child({ component: 'http' }, { level: 'warn' }),
    // The server limits, 64 KiB bodies (POST /v1/telemetry has its own limit) and, when configured,
    // HTTPS on the same port; the routes and inject() are the same either way.
    ...httpAppOptions(config),
  });
  setUpHttpApp(app, config, {
    ...httpServerMetricHooks(metrics.http),
    codes: { invalid: 'INGEST_ERR_QUERY_INVALID', request: 'INGEST_ERR_REQUEST', internal: 'INGEST_ERR_INTERNAL', notFound: 'INGEST_ERR_NOT_FOUND' },
    logger: deps.logger,
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });

  // Per-address failed-login lockout on every route (devices' Basic, admin and role tokens alike):
  // a locked-out address gets 429 before its credentials are looked at; each 401 counts.
  if (deps.guard !== undefined) {
    const lockout = httpLockoutHooks(deps.guard, {
      lockedOut: () => ingestErrors.INGEST_ERR_LOCKED_OUT(),
      logger: deps.logger,
      onRefused: () => metrics.addressRefused.inc({ transport: 'http', reason: 'locked_out' }),
      onLockout: () => metrics.addressLockouts.inc({ transport: 'http' }),
    });
    app.addHook('onRequest', lockout.onRequest);
    app.addHook('onResponse', lockout.onResponse);
  }

  async function authenticateDevice(request: FastifyRequest): Promise<DeviceInfo> {
    const creds = parseBasicCredentials(request.headers.authorization);
    if (creds === undefined) throw ingestErrors.INGEST_ERR_UNAUTHORIZED('use HTTP Basic with the device id and secret');
    try {
      return await registry.authenticate(creds.id, creds.secret);
    } catch (err) {
      metrics.authFailures.inc({ reason: isCityopsError(err) ? err.code : 'INGEST_ERR_INTERNAL' });
      throw err;
    }
  }

  // onRequest hooks (http-access.ts): run before validation, so nothing about a route leaks to a stranger.
  const access = createIngestAccess(config.adminToken, deps.tokens ?? config.tokens ?? []);
  const requireAdmin = (request: FastifyRequest) => access.requireAdmin(request);
  const requireReader = (request: FastifyRequest) => access.requireReader(request);
  if (!access.tokensConfigured) deps.logger.warn('no http.tokens: GET /v1/readings is open to anyone who can reach the API (development)');

  // Telemetry bodies reach the codec as raw bytes (JSON or msgpack, the same schema as over MQTT);
  // the parser is scoped to this route, the other routes keep fastify's JSON parsing.
  void app.register((scope, _options, done) => {
    scope.addContentTypeParser(
      ['application/json', 'application/msgpack', 'application/x-msgpack', 'application/octet-stream'],
      { parseAs: 'buffer' },
      (_request, body, done) => done(null, body),
    );
    // Oversized telemetry must reach the codec, which keeps it as a dead letter with its reason.
    scope.post('/v1/telemetry', { bodyLimit: config.maxPayloadBytes * 2 }, async (request: FastifyRequest, reply: FastifyReply) => {
      const device = await authenticateDevice(request);
      if (device.kind !== 'gateway') throw ingestErrors.INGEST_ERR_NOT_A_GATEWAY(device.id);
      const refused = deps.refuseTelemetry?.();
      if (refused !== undefined) throw refused;
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const result = await pipeline.accept(device, `http:/v1/telemetry/${device.id}`, body, 'http');
      if (result.outcome === 'dead_letter') {
        return reply.status(400).send({ code: result.code, message: result.message, storedAs: 'dead_letter' });
      }
      if (result.outcome === 'duplicate') return reply.status(200).send(result);
      // Subscribers get what was stored: without the readings the device's sensor set refused.
      deps.forwardTelemetry?.(device.id, result.payload);
      const { payload: _stored, refused: some, ...accepted } = result;
      return reply.status(202).send({ ...accepted, ...(some === undefined ? {} : { refused: { ...some, storedAs: 'dead_letter' } }) });
    });
    done();
  });

  app.get('/v1/readings', { schema: { querystring: readingsQuerySchema }, onRequest: requireReader }, async (request) => {
    const q = request.query as { device?: string; metric?: string; from?: string; to?: string; limit: number };
    const from = parseTime(q.from, 'from');
    const to = parseTime(q.to, 'to');
    const readings = await warehouse.queryReadings({
      limit: q.limit,
      ...(q.device === undefined ? {} : { device: q.device }),
      ...(q.metric === undefined ? {} : { metric: q.metric }),
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
    });
    return { readings };
  });

  app.post('/v1/devices', { schema: { body: deviceBodySchema }, onRequest: requireAdmin }, async (request, reply) => {
    const body = request.body as { id: string; kind: DeviceKind; place?: string; departments?: string[]; sensors?: { id: string; metric: string }[]; maxSensors?: number };
    if (PLACED_DEVICE_KINDS.includes(body.kind) && body.place === undefined) {
      throw ingestErrors.INGEST_ERR_QUERY_INVALID('place is required for gateways and scanners');
    }
    const place =
      body.place === undefined ? { district: '', subdistrict: '', grid: '', building: '' } : parsePlace(body.place);
    // Checked before the device exists: a refused declaration must not leave a device whose secret nobody saw.
    if (body.sensors !== undefined) deps.sensors.checkRoom(body.id, body.sensors, body.maxSensors);
    const created = await registry.add({
      id: body.id,
      kind: body.kind,
      place,
      ...(body.departments === undefined ? {} : { departments: body.departments }),
      ...(body.maxSensors === undefined ? {} : { maxSensors: body.maxSensors }),
    });
    if (body.sensors !== undefined && body.sensors.length > 0) await deps.sensors.declare(body.id, body.sensors);
    return reply.status(201).send(created);
  });

  app.delete('/v1/devices/:id', { onRequest: requireAdmin }, async (request, reply) => {
    await registry.revoke((request.params as { id: string }).id);
    return reply.status(204).send();
  });

  void app.register(sensorRoutes, { registry, sensors: deps.sensors, requireAdmin });
  const configs = deps.configs;
  if (configs !== undefined) void app.register(configRoutes, { registry, configs, requireConfigurer: (request: FastifyRequest) => access.requireConfigurer(request) });

  app.get('/metrics', async (_request, reply) => {
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = (await deps.ready()) && pipeline.writer().healthy();
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });

  return app;
}
