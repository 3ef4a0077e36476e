import { availableParallelism } from 'node:os';
import type { FromSchema } from 'json-schema-to-ts';
import {
  accessTokenProblems,
  accessTokensSchema,
  failedLoginLimitsSchema,
  httpServerLimitsProblems,
  httpServerLimitsSchema,
  LICENCE_REGION_PATTERN,
  parseConfig,
} from '@cityops/protocol';
import { deviceRegistryConfigSchema } from '@cityops/warehouse';
import { verifierErrors } from './errors.ts';
import { parseReferenceSigningKey } from './reference-envelope.ts';
import { compileTrustChecks, trustCheckProperties } from './trust-formats/trust-material.ts';

const source = {
  /** A file path, or an http(s) URL polled with If-None-Match. */
  source: { type: 'string', minLength: 1 },
  /** How often the source is checked for a new version. */
  refreshMs: { type: 'integer', minimum: 100, default: 60_000 },
} as const;

const maxAgeMs = { type: 'integer', minimum: 1000, default: 86_400_000 } as const;

/** The verifier's configuration: validated once at start, all problems reported together, frozen. */
export const verifierConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['trust'],
  properties: {
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8081 },
        /** Items per POST /v1/verify/batch. */
        maxBatchItems: { type: 'integer', minimum: 1, maximum: 10_000, default: 256 },
        /**
         * Role tokens (protocol/src/access-tokens.ts): GET /v1/audit takes roles auditor and admin,
         * POST /v1/verify(/batch) role venue (bound to its venue). None: the audit route refuses everyone.
         */
        tokens: accessTokensSchema,
        /**
         * Timeouts, header size and open connections per address and in total, before any route
         * (protocol's http-server-limits.ts). Bodies: POST /v1/verify 12 × decoder.maxQrChars + 4 KiB,
         * /v1/verify/batch its items' worth, GET routes none.
         */
        limits: httpServerLimitsSchema,
        /**
         * Who may ask for verdicts (issue 16). `credentials`: a scanner's device credentials (HTTP Basic,
         * id:secret, as POST /v1/telemetry) or a `venue` token; anything else 401. `open`, for a
         * development city only: requests without credentials are answered too, judged at the venue
         * they name and recorded for no venue and no scanner (logged loudly at start).
         */
        verifyAccess: { enum: ['credentials', 'open'], default: 'credentials' },
      },
    },
    /** The device registry (warehouse `devices`), where scanners' venues come from. */
    registry: deviceRegistryConfigSchema,
    /**
     * Failed-login lockout per client address on GET /v1/audit and POST /v1/verify(/batch)
     * (protocol's address-guard.ts): after failedLoginsPerWindow answers of 401 within
     * failedLoginWindowMs, the address gets 429 VERIFIER_ERR_LOCKED_OUT there for lockoutMs.
     * Loopback is exempt by default.
     */
    limits: failedLoginLimitsSchema,
    /**
     * Checks per credential (a scanner, a venue token), over HTTP and MQTT alike: a door sees a few
     * people a second, so a credential far beyond that is a stolen or broken one. Over the rate a
     * request is answered deny THROTTLED (HTTP 429 with Retry-After), neither verified nor recorded,
     * and the credential is flagged (one row in credential_flags per flagWindowMs, for analytics'
     * scanner_flood alert). Requests without a credential (the open development mode) are not limited.
     */
    rates: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** False: no limit (a benchmark driving one credential as fast as it can). */
        enabled: { type: 'boolean', default: true },
        checksPerSecond: { type: 'number', exclusiveMinimum: 0, maximum: 1_000_000, default: 5 },
        /** Checks at once after a quiet spell (a queue at the door). */
        burst: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 30 },
        /** Credentials tracked; the least recently seen is forgotten first (counted). */
        maxCredentials: { type: 'integer', minimum: 1, default: 100_000 },
        /** One flag per throttled credential per this long, however long its flood. */
        flagWindowMs: { type: 'integer', minimum: 1000, maximum: 86_400_000, default: 60_000 },
        /** Flags waiting for the warehouse; beyond, dropped and counted. */
        maxPendingFlags: { type: 'integer', minimum: 1, default: 10_000 },
      },
    },
    /** Scanners' request/response over MQTT. Absent: MQTT off. */
    mqtt: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', pattern: '^(mqtts?|wss?|tcp)://' },
        username: { type: 'string', minLength: 1 },
        password: { type: 'string' },
        clientId: { type: 'string', minLength: 1, maxLength: 64, default: 'cityops-verifier' },
        /** QoS of the subscription to requests and of the responses. */
        qos: { enum: [0, 1], default: 1 },
        /** Requests being verified at once; more wait in the client (pressure goes back to the broker). */
        maxInFlight: { type: 'integer', minimum: 1, default: 4096 },
        /**
         * Verifiers with the same group on one broker share the scanners (rendezvous hashing over the
         * live members, discovered from their retained statuses, never configured).
         */
        group: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', default: 'verifiers' },
        /** False: this verifier answers every scanner and takes no share (the others ignore it). */
        partition: { type: 'boolean', default: true },
        /** Keepalive; a verifier gone silent is announced offline by its will 1.5 keepalives later. */
        keepaliveSec: { type: 'integer', minimum: 1, maximum: 600, default: 10 },
        /** At stop, how long to wait at most for the broker to echo our offline status. */
        leaveTimeoutMs: { type: 'integer', minimum: 0, maximum: 60_000, default: 2000 },
      },
    },
    /**
     * The trust list: the project's trust file (kid -> key or certificate, issuer, region, kinds), an
     * EU DCC Gateway trust list, or a national backend's signed DSC list, told apart by content; with
     * what they are checked with (signer, anchors, cscas: PEM or base64 DER).
     */
    trust: {
      type: 'object',
      additionalProperties: false,
      required: ['source'],
      properties: { ...source, maxAgeMs, ...trustCheckProperties },
    },
    /** Revoked code ids and subjects (SHA-256 hex). Absent: nothing is revoked, never stale. */
    revocation: {
      type: 'object',
      additionalProperties: false,
      required: ['source'],
      properties: {
        ...source,
        maxAgeMs,
        /** False-positive rate of the scanners' offline filter. */
        filterFalsePositiveRate: { type: 'number', exclusiveMinimum: 0, maximum: 0.1, default: 0.000001 },
      },
    },
    /** Subject colour downgrades since a time. Absent: no downgrades, never stale. */
    status: {
      type: 'object',
      additionalProperties: false,
      required: ['source'],
      properties: { ...source, maxAgeMs },
    },
    /** Venue policies. Absent: the city default for every venue. */
    policies: {
      type: 'object',
      additionalProperties: false,
      required: ['source'],
      properties: { ...source },
    },
    /**
     * Pushing the trust list and the revocation filter to scanners over MQTT (issue 18): retained and
     * signed on cityops/v1/reference/{trust,revocation} (reference-envelope.ts), published at start,
     * after every change and after every reconnect. Needs `mqtt`. Absent: scanners poll only.
     */
    referencePush: {
      type: 'object',
      additionalProperties: false,
      required: ['signingKey'],
      properties: {
        /** Ed25519 or EC private key (PEM, or base64 PKCS#8 DER); scanners hold its public half. */
        signingKey: { type: 'string', minLength: 16, maxLength: 65_536 },
        /**
         * Larger envelopes are not published (counted, logged): the ingest broker refuses a PUBLISH
         * over 2 x telemetry.maxPayloadBytes + publishOverheadBytes (2 MiB + 4 KiB by default).
         */
        maxPayloadBytes: { type: 'integer', minimum: 1024, maximum: 268_435_455, default: 2_097_152 },
      },
    },
    /** Feeds and files larger than this are refused. */
    maxSourceBytes: { type: 'integer', minimum: 1024, default: 268_435_456 },
    sourceTimeoutMs: { type: 'integer', minimum: 100, default: 10_000 },
    /**
     * What a verdict says when trust, revocation or status data is past its maxAgeMs:
     * `warn` keeps the verdict and marks it `stale: true`; `deny` turns an allow into deny STALE_DATA.
     */
    staleAction: { enum: ['warn', 'deny'], default: 'warn' },
    /** Tolerance on iat/exp for scanners' and issuers' clocks. */
    clockSkewMs: { type: 'integer', minimum: 0, maximum: 600_000, default: 30_000 },
    /** Licences for another region count only when their authority's trust entry says crossRegion (ISO 3166-2). */
    homeRegion: { type: 'string', pattern: LICENCE_REGION_PATTERN.source, default: 'CN-SH' },
    decoder: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxQrChars: { type: 'integer', minimum: 16, maximum: 65_536, default: 4296 },
        maxInflatedBytes: { type: 'integer', minimum: 1024, maximum: 16_777_216, default: 65_536 },
      },
    },
    pool: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** False: verify on the main thread (small nodes, tests). */
        enabled: { type: 'boolean', default: true },
        /** 0: one per available core. */
        threads: { type: 'integer', minimum: 0, maximum: 256, default: 0 },
        /** Batches waiting for a thread; beyond, items are answered deny OVERLOADED. */
        maxQueue: { type: 'integer', minimum: 1, default: 256 },
        /** A batch goes to a worker at this many items ... */
        batchMaxItems: { type: 'integer', minimum: 1, maximum: 4096, default: 64 },
        /** ... or this long after its first item (0: at the end of the current event-loop turn). */
        batchMaxDelayMs: { type: 'number', minimum: 0, maximum: 100, default: 0 },
        /**
         * Batches a thread holds at once: 2 lets it start the next batch while the main thread takes
         * the previous result (measured: 2 threads at 1 reached about the rate of 1 thread).
         */
        concurrentTasksPerWorker: { type: 'integer', minimum: 1, maximum: 16, default: 2 },
        /**
         * Each thread's young generation in MiB (V8 resourceLimits.maxYoungGenerationSizeMb); 0: V8's
         * default. A thread's garbage dies with its batch: measured on 2 threads under load, peak RSS
         * +63 MiB at 4 against +89-115 at the default, CPU per verification unchanged (issue 20).
         */
        youngGenerationMb: { type: 'integer', minimum: 0, maximum: 1024, default: 4 },
      },
    },
    cache: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** Recent verdicts kept (LRU); 0 turns the cache off. */
        maxEntries: { type: 'integer', minimum: 0, default: 100_000 },
        ttlMs: { type: 'integer', minimum: 0, default: 30_000 },
        /** Distinct strings the cached verdicts share one copy of (kinds, issuers, colours); past it the table starts afresh. */
        internedStrings: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 4096 },
      },
    },
    audit: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** HMAC-SHA256 key of the subject pseudonyms. Required when a warehouse is given. */
        pseudonymKey: { type: 'string', minLength: 32 },
        flushEvents: { type: 'integer', minimum: 1, default: 5000 },
        flushIntervalMs: { type: 'integer', minimum: 1, default: 1000 },
        /** Events waiting for the warehouse; beyond, new events are dropped and counted. */
        maxBufferedEvents: { type: 'integer', minimum: 1, default: 200_000 },
        retryMinMs: { type: 'integer', minimum: 1, default: 200 },
        retryMaxMs: { type: 'integer', minimum: 1, default: 10_000 },
        /** Offline event ids remembered as stored (a resend costs no warehouse lookup); the warehouse knows the rest. */
        recentEventIds: { type: 'integer', minimum: 0, default: 100_000 },
        /** verification_events TTL, applied at start with MODIFY TTL when it differs. */
        retentionDays: { type: 'integer', minimum: 1, maximum: 3650, default: 30 },
      },
    },
  },
} as const;

export type VerifierConfig = FromSchema<typeof verifierConfigSchema>;
export type VerifierConfigInput = FromSchema<typeof verifierConfigSchema, { keepDefaultedPropertiesOptional: true }>;

export function parseVerifierConfig(input: unknown): VerifierConfig {
  const config = parseConfig<VerifierConfig>(verifierConfigSchema, input, verifierErrors.VERIFIER_ERR_CONFIG);
  const problems = [
    ...accessTokenProblems(config.http.tokens, '/http/tokens'),
    ...httpServerLimitsProblems(config.http.limits, '/http/limits'),
    ...compileTrustChecks(config.trust, '/trust').problems,
  ];
  if (config.referencePush !== undefined) {
    if (config.mqtt === undefined) problems.push('/referencePush needs /mqtt (the reference data is pushed through the broker)');
    try {
      parseReferenceSigningKey(config.referencePush.signingKey);
    } catch (err) {
      problems.push(`/referencePush/signingKey: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw verifierErrors.VERIFIER_ERR_CONFIG(problems.join('; '));
  return config;
}

export function poolThreads(config: VerifierConfig): number {
  return config.pool.threads === 0 ? availableParallelism() : config.pool.threads;
}
