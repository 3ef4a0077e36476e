import { DEVICE_ID_PATTERN, LICENCE_REGION_PATTERN, parseConfig } from '@cityops/protocol';
import { compileTrustChecks, parseReferencePublisherKey, trustCheckProperties, VENUE_ID_PATTERN } from '@cityops/verifier';
import type { FromSchema } from 'json-schema-to-ts';
import { FSYNC_POLICIES } from '../journal/journal.ts';
import { mqttConnectionProperties } from '../mqtt-connection-schema.ts';
import { scannerErrors } from './scanner-errors.ts';

const KIB = 1024;
const MIB = 1024 * KIB;

/** A file path, or an http(s) URL polled with If-None-Match. */
const source = { type: 'string', minLength: 1 } as const;

/** The scanner agent's configuration. Defaults suit a door on a weak link. */
export const scannerAgentConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['scannerId', 'dataDir', 'mqtt', 'reference'],
  properties: {
    /** MQTT client id and username; the last level of the scanner's topics. */
    scannerId: { type: 'string', pattern: DEVICE_ID_PATTERN.source },
    /**
     * The venue this scanner guards: its registered place (`cityops device add --kind scanner --at`),
     * sent with every request and offline event. Absent: none is sent, and the verifier records the
     * registered place. A scan naming another is refused (issue 16).
     */
    venue: { type: 'string', pattern: VENUE_ID_PATTERN.source },
    /** Offline event spool (`spool/`) and the cached reference data (`reference/`). One scanner per directory. */
    dataDir: { type: 'string', minLength: 1 },
    mqtt: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        ...mqttConnectionProperties,
        reconnectMaxMs: { type: 'integer', minimum: 1, maximum: 3_600_000, default: 30_000 },
      },
    },
    verify: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** No answer from the verifier within this: the code is verified offline and the scanner goes offline. */
        timeoutMs: { type: 'integer', minimum: 10, maximum: 60_000, default: 1500 },
        /** Requests awaiting an answer; beyond, a code is verified offline at once (counted as `busy`). */
        maxInFlight: { type: 'integer', minimum: 1, maximum: 65_536, default: 256 },
        /** While offline and connected: how often the verifier is probed (with an upload of spooled events). */
        probeIntervalMs: { type: 'integer', minimum: 10, maximum: 3_600_000, default: 5000 },
      },
    },
    /** The cached copies for offline verification, refreshed while they can be and persisted in `dataDir/reference`. */
    reference: {
      type: 'object',
      additionalProperties: false,
      required: ['trust'],
      properties: {
        /** The trust list in any format the verifier reads (its trust file, an EU DCC Gateway list, a signed national list), from a file or a feed. */
        trust: {
          type: 'object',
          additionalProperties: false,
          required: ['source'],
          properties: {
            source,
            refreshMs: { type: 'integer', minimum: 10, default: 300_000 },
            maxAgeMs: { type: 'integer', minimum: 1000, default: 86_400_000 },
            ...trustCheckProperties,
          },
        },
        /** The revocation filter (the verifier's `GET /v1/revocation/filter`, CBF2; CBF1 still read). Absent: nothing is revoked offline. */
        revocation: {
          type: 'object',
          additionalProperties: false,
          required: ['source'],
          properties: {
            source,
            refreshMs: { type: 'integer', minimum: 10, default: 60_000 },
            maxAgeMs: { type: 'integer', minimum: 1000, default: 86_400_000 },
          },
        },
        /** Venue policies (the verifier's format). Absent: the city default, as the verifier without policies. */
        policies: {
          type: 'object',
          additionalProperties: false,
          required: ['source'],
          properties: { source, refreshMs: { type: 'integer', minimum: 10, default: 300_000 } },
        },
        /**
         * Trust list and revocation filter pushed by the verifier over retained MQTT (issue 18), applied
         * at once when signed by this key and newer than the copy held; the polls above stay as the
         * fallback. Absent: polls only.
         */
        push: {
          type: 'object',
          additionalProperties: false,
          required: ['publisherKey'],
          properties: {
            /** The verifier's referencePush key, its public half: PEM, or base64 SPKI DER. */
            publisherKey: { type: 'string', minLength: 16, maxLength: 65_536 },
          },
        },
        maxSourceBytes: { type: 'integer', minimum: 1024, default: 64 * MIB },
        sourceTimeoutMs: { type: 'integer', minimum: 100, default: 10_000 },
      },
    },
    /** Offline verification: the same checks as the verifier's core. */
    local: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        clockSkewMs: { type: 'integer', minimum: 0, maximum: 600_000, default: 30_000 },
        /** Past a source's maxAgeMs: `warn` marks verdicts stale; `deny` turns an allow into deny STALE_DATA. */
        staleAction: { enum: ['warn', 'deny'], default: 'warn' },
        /** As the verifier's homeRegion: licences of another region count only with their authority's crossRegion. */
        homeRegion: { type: 'string', pattern: LICENCE_REGION_PATTERN.source, default: 'CN-SH' },
        maxQrChars: { type: 'integer', minimum: 16, maximum: 65_536, default: 4296 },
        maxInflatedBytes: { type: 'integer', minimum: 1024, maximum: 16_777_216, default: 65_536 },
      },
    },
    /** Events of offline verdicts, on disk until the verifier has them. */
    spool: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxBytes: { type: 'integer', minimum: 16 * KIB, default: 16 * MIB },
        segmentBytes: { type: 'integer', minimum: 1 * KIB, maximum: 64 * MIB, default: 256 * KIB },
        /** When full: drop the oldest segment of events, or refuse the new event. Counted either way. */
        whenFull: { enum: ['drop-oldest', 'drop-newest'], default: 'drop-oldest' },
        fsync: { type: 'string', enum: FSYNC_POLICIES, default: 'interval' },
        fsyncIntervalMs: { type: 'integer', minimum: 10, maximum: 600_000, default: 1000 },
        /** Events waiting to be written; beyond, an event is dropped (counted as `backlog`). */
        maxPendingAppends: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 4096 },
        /** Events per upload (the verifier takes at most 1000). */
        uploadBatch: { type: 'integer', minimum: 1, maximum: 1000, default: 200 },
        /** No answer to an upload within this: the verifier is taken as unreachable; the events stay. */
        uploadTimeoutMs: { type: 'integer', minimum: 10, maximum: 600_000, default: 5000 },
      },
    },
  },
} as const;

export type ScannerAgentConfigInput = FromSchema<typeof scannerAgentConfigSchema, { keepDefaultedPropertiesOptional: true }>;
export type ScannerAgentConfig = FromSchema<typeof scannerAgentConfigSchema>;

/** Validates once, reporting every problem together; returns a frozen copy with defaults. */
export function parseScannerAgentConfig(input: ScannerAgentConfigInput): ScannerAgentConfig {
  const config = parseConfig<ScannerAgentConfig>(scannerAgentConfigSchema, input, scannerErrors.SCANNER_ERR_CONFIG);
  const problems: string[] = [...compileTrustChecks(config.reference.trust, '/reference/trust').problems];
  if (config.reference.push !== undefined) {
    try {
      parseReferencePublisherKey(config.reference.push.publisherKey);
    } catch (err) {
      problems.push(`/reference/push/publisherKey: ${(err as Error).message}`);
    }
  }
  const { reconnectMinMs, reconnectMaxMs, tls } = config.mqtt;
  if (reconnectMaxMs < reconnectMinMs) problems.push(`/mqtt/reconnectMaxMs (${reconnectMaxMs}) is below reconnectMinMs (${reconnectMinMs})`);
  if ((tls?.cert === undefined) !== (tls?.key === undefined)) problems.push('/mqtt/tls cert and key go together');
  // The full-spool policy drops a segment at a time: fewer than 4 would drop a quarter of the events at once.
  if (config.spool.maxBytes < 4 * config.spool.segmentBytes) {
    problems.push(`/spool/maxBytes (${config.spool.maxBytes}) must be at least 4 x segmentBytes (${config.spool.segmentBytes})`);
  }
  if (problems.length > 0) throw scannerErrors.SCANNER_ERR_CONFIG(problems.join('; '));
  return config;
}
