import { compileSchemaCheck, deepFreeze, DEVICE_ID_PATTERN, MAX_READINGS_PER_BATCH } from '@cityops/protocol';
import type { FromSchema } from 'json-schema-to-ts';
import { agentErrors } from './errors.ts';
import { mqttConnectionProperties } from './mqtt-connection-schema.ts';
import { FSYNC_POLICIES, WHEN_FULL_POLICIES } from './journal/journal.ts';

const KIB = 1024;
const MIB = 1024 * KIB;

/** The gateway agent's configuration. Defaults suit a small gateway on a weak link. */
export const gatewayAgentConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['deviceId', 'journalDir', 'mqtt'],
  properties: {
    /** The device id: MQTT client id and username, and the last topic level. */
    deviceId: { type: 'string', pattern: DEVICE_ID_PATTERN.source },
    /** Directory of the journal (segments, ack pointers, boot counter). One agent per directory. */
    journalDir: { type: 'string', minLength: 1 },
    mqtt: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        ...mqttConnectionProperties,
        /** Batches published and not yet acknowledged (PUBACK) at any time. */
        maxInflight: { type: 'integer', minimum: 1, maximum: 1024, default: 32 },
        /** No PUBACK for this long while batches are in flight: reconnect and replay. */
        ackTimeoutMs: { type: 'integer', minimum: 100, maximum: 3_600_000, default: 30_000 },
        reconnectMaxMs: { type: 'integer', minimum: 1, maximum: 3_600_000, default: 60_000 },
      },
    },
    batch: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxReadings: { type: 'integer', minimum: 1, maximum: MAX_READINGS_PER_BATCH, default: 100 },
        maxDelayMs: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 1000 },
        /** Closed batches waiting for the journal; when reached, `push()` waits (back-pressure). */
        maxPendingBatches: { type: 'integer', minimum: 1, maximum: 10_000, default: 16 },
      },
    },
    journal: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** Bound on all journal segments together; at least 4 segments. */
        maxBytes: { type: 'integer', minimum: 16 * KIB, default: 64 * MIB },
        segmentBytes: { type: 'integer', minimum: 1 * KIB, maximum: 256 * MIB, default: 1 * MIB },
        whenFull: { type: 'string', enum: WHEN_FULL_POLICIES, default: 'drop-oldest-routine' },
        /** `batch`: fsync each batch before it is sent; `interval`: every fsyncIntervalMs; `off`: leave it to the OS. */
        fsync: { type: 'string', enum: FSYNC_POLICIES, default: 'batch' },
        fsyncIntervalMs: { type: 'integer', minimum: 10, maximum: 600_000, default: 1000 },
        readChunkBytes: { type: 'integer', minimum: 1 * KIB, maximum: 16 * MIB, default: 64 * KIB },
      },
    },
  },
} as const;

/** What a caller writes: defaulted properties may be left out. */
export type GatewayAgentConfigInput = FromSchema<typeof gatewayAgentConfigSchema, { keepDefaultedPropertiesOptional: true }>;
/** After validation: every default filled in, frozen. */
export type GatewayAgentConfig = FromSchema<typeof gatewayAgentConfigSchema>;

const checkSchema = compileSchemaCheck(gatewayAgentConfigSchema, { useDefaults: true });

/** Validates once, reporting every problem together; returns a frozen copy with defaults. */
export function parseGatewayAgentConfig(input: GatewayAgentConfigInput): GatewayAgentConfig {
  const copy = structuredClone(input) as unknown;
  const problems = checkSchema(copy);
  if (problems.length === 0) {
    const config = copy as GatewayAgentConfig;
    const { reconnectMinMs, reconnectMaxMs } = config.mqtt;
    if (reconnectMaxMs < reconnectMinMs) problems.push(`/mqtt/reconnectMaxMs (${reconnectMaxMs}) is below reconnectMinMs (${reconnectMinMs})`);
    const { maxBytes, segmentBytes } = config.journal;
    // The full-journal policy drops a segment at a time: fewer than 4 would drop a quarter of the data at once.
    if (maxBytes < 4 * segmentBytes) problems.push(`/journal/maxBytes (${maxBytes}) must be at least 4 x segmentBytes (${segmentBytes})`);
    const { tls } = config.mqtt;
    if ((tls?.cert === undefined) !== (tls?.key === undefined)) problems.push('/mqtt/tls cert and key go together');
  }
  if (problems.length > 0) throw agentErrors.AGENT_ERR_CONFIG(problems.join('; '));
  return deepFreeze(copy as GatewayAgentConfig);
}
