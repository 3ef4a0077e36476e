/**
 * The MQTT connection settings every edge agent (gateway, scanner) takes, as JSON Schema
 * properties to spread into the agent's own `mqtt` object schema.
 */
export const mqttConnectionProperties = {
  /** `mqtt://host:port`, or `mqtts://host:port` for TLS. */
  url: { type: 'string', pattern: '^mqtts?://[^\\s]+$' },
  /** The device secret; the username and client id are always the device id. */
  password: { type: 'string' },
  tls: {
    type: 'object',
    additionalProperties: false,
    properties: {
      /** PEM text of the CA that signed the broker's certificate. */
      ca: { type: 'string', minLength: 1 },
      /** PEM text of a client certificate and its key, for brokers that check them. */
      cert: { type: 'string', minLength: 1 },
      key: { type: 'string', minLength: 1 },
      rejectUnauthorized: { type: 'boolean', default: true },
    },
  },
  /** MQTT 3.1.1 §3.1.2.10: the broker drops us after 1.5 x keepalive of silence. */
  keepaliveSec: { type: 'integer', minimum: 5, maximum: 65_535, default: 30 },
  connectTimeoutMs: { type: 'integer', minimum: 100, maximum: 600_000, default: 10_000 },
  reconnectMinMs: { type: 'integer', minimum: 1, maximum: 3_600_000, default: 500 },
  /** At stop: how long a clean disconnect (and the "offline" status) may take. */
  stopTimeoutMs: { type: 'integer', minimum: 0, maximum: 60_000, default: 2000 },
} as const;
