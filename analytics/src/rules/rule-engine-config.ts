import type { FromSchema } from 'json-schema-to-ts';
import { parseConfig } from '@cityops/protocol';
import { analyticsErrors } from '../errors.ts';

/**
 * The rule engine's configuration (the `rules` section of the analytics config). The engine connects
 * to the ingest broker as a `service` device: provision one (`cityops device add --kind service`)
 * and give its id and secret here.
 */
export const ruleEngineConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['mqtt'],
  properties: {
    /** The rules file. Absent: the city set shipped in analytics/alerts/. */
    rulesFile: { type: 'string', minLength: 1 },
    mqtt: {
      type: 'object',
      additionalProperties: false,
      required: ['username', 'password'],
      properties: {
        url: { type: 'string', pattern: '^mqtts?://', default: 'mqtt://127.0.0.1:1883' },
        /** The service device's id. */
        username: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
        password: { type: 'string', minLength: 1 },
        /** The device id, or `<id>:<suffix>` (ingest refuses any other). Default `<username>:rules`. */
        clientId: { type: 'string', minLength: 1, maxLength: 128 },
        /** PEM CA for mqtts. */
        ca: { type: 'string', minLength: 1 },
        reconnectMs: { type: 'integer', minimum: 100, maximum: 60000, default: 1000 },
      },
    },
    /**
     * At start, sensors the warehouse saw (sensor_presence) within this long are watched for
     * silence from their last sighting, so one that stopped before a restart is still found.
     */
    seedWithinMs: { type: 'integer', minimum: 0, maximum: 2592000000, default: 86400000 },
    /** How often time-driven conditions (silence, `for` expiry, windows sliding) are evaluated. */
    tickMs: { type: 'integer', minimum: 10, maximum: 60000, default: 250 },
    registry: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** Periodic re-read of the device registry (device → place). */
        refreshMs: { type: 'integer', minimum: 1000, default: 60000 },
        /** At most one extra re-read per this long when an unknown device sends telemetry. */
        unknownRefreshMs: { type: 'integer', minimum: 100, default: 5000 },
        /**
         * Telemetry batches of devices the copy does not know yet, held until a re-read (then
         * evaluated, or dropped as unknown_device); beyond either bound, dropped at once.
         */
        maxHeldBatches: { type: 'integer', minimum: 0, maximum: 1000000, default: 2000 },
        maxHeldBytes: { type: 'integer', minimum: 0, maximum: 1073741824, default: 16777216 },
      },
    },
    bounds: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** Smallest time bucket of a window series. */
        bucketMs: { type: 'integer', minimum: 100, maximum: 60000, default: 1000 },
        /** Most buckets in one series: longer windows get coarser buckets. */
        maxBuckets: { type: 'integer', minimum: 10, maximum: 10000, default: 300 },
        /** Most (metric, level, place) series; readings beyond are dropped and counted. */
        maxPlaces: { type: 'integer', minimum: 1, default: 50000 },
        /** Most (gateway, sensor) pairs watched for silence, city-wide (memory grows with use, not preallocated). */
        maxSensors: { type: 'integer', minimum: 1, default: 1000000 },
        /** Most sensors watched per gateway, as ingest's default per-device cap; a device's further sensors are ignored and counted. */
        maxSensorsPerDevice: { type: 'integer', minimum: 1, maximum: 100000, default: 256 },
        maxGateways: { type: 'integer', minimum: 1, default: 200000 },
        maxGrids: { type: 'integer', minimum: 1, default: 100000 },
        maxPipelines: { type: 'integer', minimum: 1, default: 64 },
        /** Most conditions active at once (grouping and storms keep the real number far below). */
        maxConditions: { type: 'integer', minimum: 1, default: 200000 },
        /** Most raises and clears waiting for the alert lifecycle; beyond it they wait in the engine for the next tick. */
        maxPendingAlerts: { type: 'integer', minimum: 1, default: 10000 },
      },
    },
    /** Silent sensors of one gateway grouped into one alert (see sensor-silence.ts for the rule). */
    silenceGroups: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** From this many silent sensors of a gateway (per rule), one group alert instead of one each. */
        at: { type: 'integer', minimum: 1, maximum: 100000, default: 3 },
        /** Sensor ids a group's alert names; the rest are counted. */
        listMax: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
      },
    },
    /** Alert storms: new alerts per rule and place per window, beyond which they fold into one storm alert. */
    storms: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxNewAlerts: { type: 'integer', minimum: 1, maximum: 100000, default: 10 },
        windowMs: { type: 'integer', minimum: 1000, maximum: 86400000, default: 300000 },
        /** Subjects a storm's alert names; the rest are counted. */
        listMax: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
      },
    },
    /** Least time between two descriptions of one alert (a group's or a storm's members changing). */
    updateEveryMs: { type: 'integer', minimum: 0, maximum: 3600000, default: 10000 },
  },
} as const;

export type RuleEngineConfig = FromSchema<typeof ruleEngineConfigSchema>;
export type RuleEngineConfigInput = FromSchema<typeof ruleEngineConfigSchema, { keepDefaultedPropertiesOptional: true }>;

export function parseRuleEngineConfig(input: unknown): RuleEngineConfig {
  return parseConfig<RuleEngineConfig>(ruleEngineConfigSchema, input, analyticsErrors.ANALYTICS_ERR_CONFIG);
}
