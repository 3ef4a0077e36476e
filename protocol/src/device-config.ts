import type { FromSchema } from 'json-schema-to-ts';
import { compileSchemaCheck } from './schema-check.ts';
import { MAX_READINGS_PER_BATCH } from './telemetry-schema.ts';

/**
 * Remote configuration of a gateway (issue 18): what an operator may change without visiting it.
 * Every member is optional; what a version leaves out keeps the gateway's own (local) setting, so a
 * version is a whole desired state over the local base, never a patch on the previous version.
 */

/** pino's levels; `silent` is not offered: a gateway that logs nothing cannot be diagnosed. */
export const GATEWAY_LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
/** The journal's full policies (edge-agent's WHEN_FULL_POLICIES; a type check there keeps them equal). */
export const GATEWAY_WHEN_FULL_POLICIES = ['drop-oldest-routine', 'drop-newest'] as const;

/** The largest configuration body accepted (a register map of a few hundred registers fits). */
export const MAX_DEVICE_CONFIG_BYTES = 256 * 1024;

export const gatewayConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    logLevel: { type: 'string', enum: GATEWAY_LOG_LEVELS },
    /** The source's sampling period where a register or sensor has none of its own. */
    pollIntervalMs: { type: 'integer', minimum: 100, maximum: 86_400_000 },
    batch: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxReadings: { type: 'integer', minimum: 1, maximum: MAX_READINGS_PER_BATCH },
        maxDelayMs: { type: 'integer', minimum: 0, maximum: 3_600_000 },
        maxPendingBatches: { type: 'integer', minimum: 1, maximum: 10_000 },
      },
    },
    journal: {
      type: 'object',
      additionalProperties: false,
      properties: {
        /** Bound on all journal segments together (the gateway refuses one below 4 segments). */
        maxBytes: { type: 'integer', minimum: 16 * 1024, maximum: 64 * 1024 ** 3 },
        whenFull: { type: 'string', enum: GATEWAY_WHEN_FULL_POLICIES },
      },
    },
    /**
     * A Modbus register map. Only its shape as an object is checked here: the gateway checks the map
     * itself with its register-map validator (edge-agent's modbus module) before it applies anything.
     */
    modbus: { type: 'object' },
  },
} as const;

export type GatewayConfig = FromSchema<typeof gatewayConfigSchema>;

/** What ingest publishes, retained, on `cityops/v1/config/{device}`. */
export const deviceConfigMessageSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'issuedAt', 'config'],
  properties: {
    /** 1, 2, 3 ... per device; a gateway never applies a version at or below the one it runs. */
    version: { type: 'integer', minimum: 1, maximum: 4_294_967_295 },
    /** When the operator set it, ms since the epoch. */
    issuedAt: { type: 'integer', minimum: 0 },
    config: gatewayConfigSchema,
  },
} as const;

export type DeviceConfigMessage = FromSchema<typeof deviceConfigMessageSchema>;

export const CONFIG_STATES = ['applied', 'rejected'] as const;
export type ConfigState = (typeof CONFIG_STATES)[number];

/** What a device publishes on `cityops/v1/config-state/{device}` about a version it tried. */
export const deviceConfigReportSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'state'],
  properties: {
    /** 0: the device could not even read a version number from what it got. */
    version: { type: 'integer', minimum: 0, maximum: 4_294_967_295 },
    state: { type: 'string', enum: CONFIG_STATES },
    /** Why it was rejected: every problem found, joined. */
    reason: { type: 'string', maxLength: 4000 },
    /** The device's clock when it decided, ms since the epoch (informative; ingest stamps its own). */
    ts: { type: 'integer', minimum: 0 },
  },
} as const;

export type DeviceConfigReport = FromSchema<typeof deviceConfigReportSchema>;

/** Reads JSON bytes against a schema: the value, or every problem (never throws). */
export type JsonReader<T> = (bytes: Buffer | string) => { value: T; problems?: undefined } | { value?: undefined; problems: string[] };

function jsonReader<T>(schema: object, maxBytes: number): JsonReader<T> {
  const check = compileSchemaCheck(schema);
  return (bytes) => {
    const length = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
    if (length > maxBytes) return { problems: [`/ is ${length} bytes, over the ${maxBytes} byte limit`] };
    let value: unknown;
    try {
      value = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
    } catch (err) {
      return { problems: [`/ is not JSON (${(err as Error).message.slice(0, 200)})`] };
    }
    const problems = check(value);
    return problems.length > 0 ? { problems } : { value: value as T };
  };
}

export const createDeviceConfigMessageReader = (): JsonReader<DeviceConfigMessage> =>
  jsonReader(deviceConfigMessageSchema, MAX_DEVICE_CONFIG_BYTES + 1024);
export const createDeviceConfigReportReader = (): JsonReader<DeviceConfigReport> => jsonReader(deviceConfigReportSchema, 8 * 1024);
