import type { FromSchema } from 'json-schema-to-ts';
import { accessTokenProblems, accessTokensSchema, addressLimitsSchema, httpServerLimitsProblems, httpServerLimitsSchema, parseConfig } from '@cityops/protocol';
import { deviceRegistryConfigSchema } from '@cityops/warehouse';
import { ingestErrors } from './errors.ts';

/** The ingest service's configuration: validated once at start, all problems reported together. */
export const ingestConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['dataDir'],
  properties: {
    /** Where the write-ahead log lives (`<dataDir>/wal`). */
    dataDir: { type: 'string', minLength: 1 },
    mqtt: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 1883 },
        /** false: no plain MQTT listener (`port` unused), only `tls`, which must then be configured. */
        plain: { type: 'boolean', default: true },
        tls: {
          type: 'object',
          additionalProperties: false,
          required: ['key', 'cert'],
          properties: {
            host: { type: 'string', default: '127.0.0.1' },
            port: { type: 'integer', minimum: 0, maximum: 65535, default: 8883 },
            /** PEM text of the server key, certificate and (optional) client CA. */
            key: { type: 'string', minLength: 1 },
            cert: { type: 'string', minLength: 1 },
            ca: { type: 'string', minLength: 1 },
            /**
             * Device certificates signed by `ca`: `optional` asks for one and checks it when sent,
             * `required` refuses the handshake without one. A certificate's CN must be the device id.
             */
            clientCert: { type: 'string', enum: ['off', 'optional', 'required'], default: 'off' },
          },
        },
        /**
         * The packets written to a connection in one turn of the event loop are held (corked) and sent
         * as one writev, up to this many bytes (write-coalescer.ts); 0: one write per packet.
         */
        writeCoalesceBytes: { type: 'integer', minimum: 0, maximum: 16777216, default: 65536 },
        /**
         * Limits before authentication and at the wire (mqtt-wire-guard.ts): packet sizes are checked
         * at each fixed header, before a body is buffered; a PUBLISH may carry 2 × telemetry.maxPayloadBytes
         * (up to there an oversized payload becomes a dead letter, as over HTTP) plus publishOverheadBytes
         * (topic, packet id, properties).
         */
        wire: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            /**
             * A CONNECT is held until whole (sockets not yet past it: maxUnauthenticated), so this times
             * maxUnauthenticated is what half-sent CONNECTs can cost: 8 KiB × 2,048 = 16 MiB (64 KiB:
             * 128 MiB). Our devices' CONNECTs are under 1 KiB (id, secret, a status will); 8 KiB leaves
             * room for an MQTT 5 token in the authentication data.
             */
            maxConnectBytes: { type: 'integer', minimum: 256, maximum: 268435455, default: 8192 },
            publishOverheadBytes: { type: 'integer', minimum: 64, maximum: 65600, default: 4096 },
            maxSubscribeBytes: { type: 'integer', minimum: 256, maximum: 268435455, default: 65536 },
            maxOtherBytes: { type: 'integer', minimum: 16, maximum: 268435455, default: 4096 },
            /**
             * A socket not past CONNACK by then is closed by the wire guard's sweep (oldest first, at most 64
             * or turnBudgetMs per turn of the loop); aedes' connectTimeout, at twice this, is only the backstop.
             */
            connectTimeoutMs: { type: 'integer', minimum: 100, maximum: 600000, default: 5000 },
            maxConnectionsPerAddress: { type: 'integer', minimum: 1, default: 256 },
            maxUnauthenticated: { type: 'integer', minimum: 1, default: 2048 },
            /**
             * The accept gate (accept-gate.ts): accepted connections let through per turn of the event
             * loop (a refused one costs no socket), and how many may wait; beyond that, closed at once.
             */
            acceptPerTurn: { type: 'integer', minimum: 1, default: 64 },
            /**
             * A turn of the accept gate, of the hand-overs to aedes and of the CONNECT-deadline sweep also
             * ends after this many milliseconds: closing an idle socket cost 30–80 µs on 2 busy cores, so
             * 64 of them were 2–5 ms that every device's PUBACK behind them waited (bench hostile).
             */
            turnBudgetMs: { type: 'number', minimum: 0.05, maximum: 100, default: 0.5 },
            /**
             * An address that sent an oversized or malformed packet before authenticating is refused at
             * accept this long (0: never), at most maxPenalisedAddresses of them (the oldest forgotten).
             */
            penaltyMs: { type: 'integer', minimum: 0, maximum: 3600000, default: 10000 },
            maxPenalisedAddresses: { type: 'integer', minimum: 1, default: 10000 },
            maxAcceptQueue: { type: 'integer', minimum: 1, default: 4096 },
            logIntervalMs: { type: 'integer', minimum: 0, default: 60000 },
          },
        },
      },
    },
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
        /** Bearer token for the admin routes (device provisioning). Absent: admin routes are off. */
        adminToken: { type: 'string', minLength: 16 },
        /**
         * Role tokens (protocol/src/access-tokens.ts): `[{ name, role, tokenSha256 }]`. Some: GET
         * /v1/readings needs analyst, operator or admin; role admin may also provision devices.
         */
        tokens: accessTokensSchema,
        /** Present: the API speaks HTTPS only, on the same port. PEM text, as for `mqtt.tls`. */
        tls: {
          type: 'object',
          additionalProperties: false,
          required: ['key', 'cert'],
          properties: {
            key: { type: 'string', minLength: 1 },
            cert: { type: 'string', minLength: 1 },
            ca: { type: 'string', minLength: 1 },
          },
        },
        /**
         * Timeouts, header size and open connections per address and in total, before any route
         * (protocol's http-server-limits.ts). POST /v1/telemetry takes 2 × telemetry.maxPayloadBytes,
         * the other routes 64 KiB (GET and DELETE none).
         */
        limits: httpServerLimitsSchema,
      },
    },
    /**
     * Per client address: connection rate (MQTT, token bucket) and failed-login lockout (MQTT and
     * every HTTP route). See protocol's address-guard.ts.
     */
    limits: addressLimitsSchema,
    telemetry: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxPayloadBytes: { type: 'integer', minimum: 1024, maximum: 268435455, default: 1048576 },
        maxReadingAgeMs: { type: 'integer', minimum: 1000, default: 2592000000 },
        maxReadingAheadMs: { type: 'integer', minimum: 0, default: 300000 },
        dedupCapacity: { type: 'integer', minimum: 1000, default: 200000 },
      },
    },
    wal: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        segmentBytes: { type: 'integer', minimum: 65536, default: 67108864 },
        fsync: { type: 'boolean', default: true },
        retainSegments: { type: 'integer', minimum: 1, default: 4 },
        /** Zero-fill the next segment ahead so appends never grow the file (write-ahead-log.ts: why, measured). */
        preallocate: { type: 'boolean', default: false },
      },
    },
    writer: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        flushRows: { type: 'integer', minimum: 1, default: 50000 },
        /**
         * Rows of one warehouse insert at most: a backlog (after a slow or failed warehouse) goes in
         * as several inserts of this size, so the store's memory for one insert stays bounded.
         */
        maxInsertRows: { type: 'integer', minimum: 1, default: 100000 },
        flushIntervalMs: { type: 'integer', minimum: 1, default: 500 },
        maxBufferedRows: { type: 'integer', minimum: 1, default: 500000 },
        retryMinMs: { type: 'integer', minimum: 1, default: 200 },
        retryMaxMs: { type: 'integer', minimum: 1, default: 10000 },
      },
    },
    pipelineStatus: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** This instance's name on `cityops/v1/pipeline/{instance}` (the device id pattern). */
        instance: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', default: 'ingest' },
        /** How often the retained pipeline status is published. */
        intervalMs: { type: 'integer', minimum: 100, maximum: 60000, default: 1000 },
      },
    },
    /**
     * Several broker/ingest instances sharing routing through Redis (mqemitter-redis) and a Redis
     * persistence (retained messages, persistent sessions, queued QoS 1 messages). Absent: one
     * instance, everything in memory. Each instance keeps its own WAL and writer either way.
     */
    cluster: {
      type: 'object',
      additionalProperties: false,
      required: ['redisUrl'],
      properties: {
        /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
        redisUrl: { type: 'string', pattern: '^rediss?://[^\\s]+$' },
        /** Key prefix for this deployment's instance leases (routing and persistence use aedes' keys). */
        keyPrefix: { type: 'string', pattern: '^[A-Za-z0-9:._-]{1,64}$', default: 'cityops:' },
        /** How long connecting (at start, and each reconnect attempt) may take. */
        connectTimeoutMs: { type: 'integer', minimum: 100, maximum: 60000, default: 5000 },
        /** How long one Redis command may take before it fails (never an unbounded wait). */
        commandTimeoutMs: { type: 'integer', minimum: 100, maximum: 60000, default: 5000 },
        /** Reconnect backoff ceiling; reconnecting never stops. */
        reconnectMaxMs: { type: 'integer', minimum: 10, maximum: 60000, default: 2000 },
        /** Queued messages delivered to a persistent session when it connects (aedes-persistence-redis). */
        maxSessionDelivery: { type: 'integer', minimum: 1, maximum: 100000, default: 1000 },
        /** How long a QoS 1 message waits for an offline persistent subscriber in Redis (0: forever). */
        offlineMessageTtlSeconds: { type: 'integer', minimum: 0, default: 604800 },
        /**
         * aedes' broker heartbeat (a Redis publish per instance). The wills of a dead instance's
         * clients are published by another within 3 to 7 heartbeats (aedes' default, 60 s, would
         * leave a gateway looking online for minutes).
         */
        heartbeatIntervalMs: { type: 'integer', minimum: 100, maximum: 600000, default: 5000 },
        /** The lease that keeps two live instances from using the same `pipelineStatus.instance`. */
        instanceLeaseMs: { type: 'integer', minimum: 1000, maximum: 600000, default: 15000 },
        /**
         * How long a batch's shared claim `(device, boot, seq)` lives in Redis (issue 22): a resend to
         * another instance within it is recognised. It must outlast a gateway's resend horizon: a
         * connected gateway resends within its ackTimeoutMs (at most 1 h) and a reconnecting one
         * within its reconnectMaxMs (at most 1 h), hence at least 2 h; 24 h also covers a gateway a
         * day offline, at ~120 bytes of Redis per batch (docs/RELIABILITY.md).
         */
        claimTtlMs: { type: 'integer', minimum: 7200000, maximum: 2592000000, default: 86400000 },
        /**
         * Off only for benchmarks (the cost of the claim, `npm run bench -- scaling`): each instance then
         * deduplicates alone and a batch resent to another instance may be stored twice.
         */
        sharedClaims: { type: 'boolean', default: true },
        /** Claims waiting to be marked "in the WAL" in Redis (sent each turn; kept while Redis fails). */
        maxPendingClaimMarks: { type: 'integer', minimum: 100, maximum: 10000000, default: 100000 },
      },
    },
    /** The device registry (warehouse `devices`): refresh, and how many secret checks at once. */
    registry: deviceRegistryConfigSchema,
  },
} as const;

/** The configuration with every default filled in. */
export type IngestConfig = FromSchema<typeof ingestConfigSchema>;
/** What a caller may pass: defaulted properties optional. */
export type IngestConfigInput = FromSchema<typeof ingestConfigSchema, { keepDefaultedPropertiesOptional: true }>;

export function parseIngestConfig(input: unknown): IngestConfig {
  const config = parseConfig<IngestConfig>(ingestConfigSchema, input, ingestErrors.INGEST_ERR_CONFIG);
  const problems = [...accessTokenProblems(config.http.tokens, '/http/tokens'), ...httpServerLimitsProblems(config.http.limits, '/http/limits')];
  if (!config.mqtt.plain && config.mqtt.tls === undefined) problems.push('/mqtt/plain: false needs /mqtt/tls (otherwise no MQTT listener is left)');
  const tls = config.mqtt.tls;
  if (tls !== undefined && tls.clientCert !== 'off' && tls.ca === undefined) problems.push(`/mqtt/tls/clientCert: ${tls.clientCert} needs /mqtt/tls/ca (the CA that signs device certificates)`);
  if (problems.length > 0) throw ingestErrors.INGEST_ERR_CONFIG(problems.join('; '));
  return config;
}
