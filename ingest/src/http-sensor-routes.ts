import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DEVICE_ID_PATTERN, readingSchema } from '@cityops/protocol';
import { MAX_SENSORS_CEILING, type DeviceRegistry, type SensorSets } from '@cityops/warehouse';
import { ingestErrors } from './errors.ts';

/** Sensors one POST may declare: a whole gateway at a time, bounded like any body. */
export const MAX_DECLARED_PER_REQUEST = 1000;

/** `sensors: [{id, metric}]`, as in POST /v1/devices and POST /v1/devices/:id/sensors. */
export const declaredSensorsSchema = {
  type: 'array',
  maxItems: MAX_DECLARED_PER_REQUEST,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'metric'],
    properties: { id: readingSchema.properties.sensor, metric: readingSchema.properties.metric },
  },
} as const;

export const maxSensorsSchema = { type: 'integer', minimum: 0, maximum: MAX_SENSORS_CEILING } as const;

const deviceParamsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: DEVICE_ID_PATTERN.source } },
} as const;

const sensorParamsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'sensor'],
  properties: { id: deviceParamsSchema.properties.id, sensor: readingSchema.properties.sensor },
} as const;

const listQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 } },
} as const;

const declareBodySchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { sensors: declaredSensorsSchema, maxSensors: maxSensorsSchema },
} as const;

export interface SensorRoutesDeps {
  readonly registry: DeviceRegistry;
  readonly sensors: SensorSets;
  /** The admin token check of the other device routes. */
  readonly requireAdmin: (request: FastifyRequest) => Promise<void> | void;
}

/**
 * A device's sensor set (issue 17): list it with its counts against the caps, declare or recommission
 * sensors (and set the device's cap), decommission one so that its readings are refused and its
 * silence stops being news. Admin token, like the other device routes.
 */
export function sensorRoutes(app: FastifyInstance, deps: SensorRoutesDeps, done: (err?: Error) => void): void {
  const { registry, sensors, requireAdmin } = deps;

  async function knownDevice(id: string): Promise<void> {
    if ((await registry.find(id)) === undefined) throw ingestErrors.INGEST_ERR_NO_SUCH_DEVICE(id);
  }

  function listing(id: string, limit: number) {
    const all = sensors.list(id);
    return { ...all, sensors: all.sensors.slice(0, limit), truncated: all.sensors.length > limit };
  }

  app.get('/v1/devices/:id/sensors', { schema: { params: deviceParamsSchema, querystring: listQuerySchema }, onRequest: requireAdmin }, async (request) => {
    const { id } = request.params as { id: string };
    await knownDevice(id);
    return listing(id, (request.query as { limit: number }).limit);
  });

  app.post('/v1/devices/:id/sensors', { schema: { params: deviceParamsSchema, body: declareBodySchema }, onRequest: requireAdmin }, async (request) => {
    const { id } = request.params as { id: string };
    const body = request.body as { sensors?: { id: string; metric: string }[]; maxSensors?: number };
    await knownDevice(id);
    // The cap first, so that one call can raise it and declare the sensors that need the room.
    if (body.maxSensors !== undefined) await registry.setMaxSensors(id, body.maxSensors);
    if (body.sensors !== undefined && body.sensors.length > 0) await sensors.declare(id, body.sensors);
    return listing(id, 1000);
  });

  app.delete('/v1/devices/:id/sensors/:sensor', { schema: { params: sensorParamsSchema }, onRequest: requireAdmin }, async (request) => {
    const { id, sensor } = request.params as { id: string; sensor: string };
    await knownDevice(id);
    return { device: id, ...(await sensors.decommission(id, sensor)) };
  });
  done();
}
