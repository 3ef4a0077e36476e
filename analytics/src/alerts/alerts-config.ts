import type { FromSchema } from 'json-schema-to-ts';
import { ratingsConfigSchema } from './rating-config.ts';

/** The `alerts` section of the analytics configuration: lifecycle, dispatch, operators, webhooks. */
export const alertsConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    /** Departments and routes. Absent: the Shanghai set shipped in analytics/alerts/. */
    dispatchFile: { type: 'string', minLength: 1 },
    /** How often resolved alerts are checked against the data. */
    verifyIntervalMs: { type: 'integer', minimum: 100, maximum: 3600000, default: 60000 },
    /** Resolved alerts checked at once (each check is one indicator query). */
    verifyConcurrency: { type: 'integer', minimum: 1, maximum: 64, default: 4 },
    /** How often unaccepted alerts are checked against their route's acceptWithin. */
    escalationIntervalMs: { type: 'integer', minimum: 100, maximum: 3600000, default: 15000 },
    /**
     * Alerts kept in memory; past it closed ones are evicted oldest first (still in the warehouse),
     * and when this many are live (not closed) a new alert is refused and counted.
     */
    maxAlerts: { type: 'integer', minimum: 10, maximum: 10000000, default: 100000 },
    /** Closed alerts loaded at start (for GET and listing), by how recently they changed. */
    closedRetentionDays: { type: 'integer', minimum: 0, maximum: 365, default: 7 },
    /**
     * Who may act on alerts. None (development): a POST names its actor in `by`. Some: a POST needs
     * `Authorization: Bearer <token>`, and the alert must be with one of the operator's departments.
     */
    operators: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['token', 'name', 'departments'],
        properties: {
          token: { type: 'string', minLength: 16, maxLength: 256, pattern: '^[A-Za-z0-9._~+/=-]+$' },
          name: { type: 'string', minLength: 1, maxLength: 100 },
          /** Department ids, or `*` for every department. */
          departments: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1, maxLength: 64 } },
        },
      },
    },
    /** Ratings of handled alerts (issue 23): rating-config.ts. */
    ratings: ratingsConfigSchema,
    /** Every new alert and transition is POSTed here (JSON), besides MQTT. */
    webhooks: {
      type: 'array',
      default: [],
      maxItems: 16,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['url'],
        properties: {
          url: { type: 'string', pattern: '^https?://[^\\s]+$', maxLength: 2000 },
          /** Set: `X-Cityops-Signature: sha256=<hex HMAC-SHA256 of the body>`. */
          secret: { type: 'string', minLength: 16, maxLength: 256 },
          timeoutMs: { type: 'integer', minimum: 100, maximum: 60000, default: 5000 },
        },
      },
    },
    /** MQTT notifications: publishes awaiting the broker's PUBACK; when full a new one is dropped (counted). */
    mqttQueue: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxInFlight: { type: 'integer', minimum: 1, maximum: 1000000, default: 1000 },
      },
    },
    webhookQueue: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** Deliveries waiting; when full the oldest is dropped (counted). */
        max: { type: 'integer', minimum: 1, maximum: 1000000, default: 10000 },
        /** Attempts per delivery, the first included. */
        attempts: { type: 'integer', minimum: 1, maximum: 20, default: 5 },
        /** First retry after this; doubled each time, capped at 60 s. */
        backoffMs: { type: 'integer', minimum: 1, maximum: 60000, default: 1000 },
        /** Deliveries in flight at once. */
        concurrency: { type: 'integer', minimum: 1, maximum: 64, default: 4 },
      },
    },
  },
} as const;

export type AlertsConfig = FromSchema<typeof alertsConfigSchema>;
