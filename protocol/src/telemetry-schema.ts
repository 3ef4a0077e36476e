import type { FromSchema } from 'json-schema-to-ts';

/**
 * A telemetry batch: what a gateway publishes on `cityops/v1/telemetry/{device}`, as msgpack (our
 * agents) or JSON (any MQTT client). `(device, boot, seq)` is the batch's idempotency key: the device
 * comes from the authenticated connection, `boot` changes at every agent start, `seq` counts batches
 * within a boot. Where the device sits in the hierarchy is never in the payload: the registry says.
 */
export const readingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sensor', 'metric', 'ts', 'value'],
  properties: {
    /** The sensor on the gateway, unique within the gateway. */
    sensor: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
    /** What is measured, e.g. `pm25`, `water_pressure`. */
    metric: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$' },
    /** Sample time, milliseconds since the Unix epoch (UTC). */
    ts: { type: 'integer', minimum: 0, maximum: 253402300799999 },
    value: { type: 'number' },
    /** Alarm-class reading (e.g. a manhole cover tilted): journaled and sent before routine ones. */
    alarm: { type: 'boolean' },
  },
} as const;

export const MAX_READINGS_PER_BATCH = 10_000;

export const telemetryBatchSchema = {
  $id: 'https://cityops.dev/schemas/telemetry-batch-v1.json',
  type: 'object',
  additionalProperties: false,
  required: ['boot', 'seq', 'readings'],
  properties: {
    boot: { type: 'integer', minimum: 0, maximum: 4294967295 },
    seq: { type: 'integer', minimum: 0, maximum: 4294967295 },
    readings: { type: 'array', minItems: 1, maxItems: MAX_READINGS_PER_BATCH, items: readingSchema },
  },
} as const;

export type Reading = FromSchema<typeof readingSchema>;
export type TelemetryBatch = FromSchema<typeof telemetryBatchSchema>;
