import { createAddressGuard, createCodeDecoder, createTokenAuthenticator, type TokenAuthenticator } from '@cityops/protocol';
import { createDeviceRegistry, type DeviceRegistry, type Warehouse } from '@cityops/warehouse';
import { pino, type Logger } from 'pino';
import { applyAuditRetention } from './audit-retention.ts';
import { createAuditTrailReader } from './audit-trail-reader.ts';
import { createAuditWriter, type AuditWriter } from './audit-writer.ts';
import { createCredentialFlags, type CredentialFlags } from './credential-flags.ts';
import { createOfflineEventBudget } from './offline-event-budget.ts';
import { createCredentialThrottle } from './credential-throttle.ts';
import { verifierErrors } from './errors.ts';
import { buildHttpApi } from './http-api.ts';
import { createMqttResponder, type MqttResponder } from './mqtt-responder.ts';
import { createOfflineEventStore } from './offline-event-store.ts';
import { createReferencePublisher } from './reference-publisher.ts';
import { createReferenceStore, type ReferenceStore } from './reference-store.ts';
import { createRequesterDirectory } from './requester.ts';
import { createVerdictCache } from './verdict-cache.ts';
import type { Verdict } from './verdict.ts';
import { createVerificationEngine, type VerifyRequest } from './verification-engine.ts';
import { parseVerifierConfig, poolThreads, type VerifierConfigInput } from './verifier-config.ts';
import { createVerifierMetrics, type VerifierMetrics } from './verifier-metrics.ts';
import { createVerifyPool, type VerifyPool } from './verify-pool.ts';

export interface VerifierServiceDeps {
  /** Where audit events go; the caller opens and closes it. Absent: no audit trail. */
  readonly warehouse?: Warehouse;
  readonly logger?: Logger;
  readonly now?: () => number;
  readonly metrics?: VerifierMetrics;
  /** For HTTP(S) reference feeds. */
  readonly fetch?: typeof fetch;
  /** The live token set for GET /v1/audit and venue tokens (a TokenStore, revocable at runtime); absent: `http.tokens`, fixed. */
  readonly tokens?: TokenAuthenticator;
  /**
   * The device registry scanners are authenticated and placed with, when the caller has one (one
   * process with ingest: `cityops up`); it starts and stops it. Absent: one over `warehouse`, started
   * here; no warehouse either: no scanner is known (venue tokens only, or open mode).
   */
  readonly registry?: DeviceRegistry;
}

export interface VerifierAddresses {
  readonly httpUrl: string;
  readonly httpPort: number;
}

export interface VerifierService {
  start(): Promise<VerifierAddresses>;
  /** Idempotent; stops in reverse order: MQTT, HTTP (waiting for requests in flight), pool, audit, sources. */
  stop(): Promise<void>;
  /** A verification in-process, as the APIs do it. */
  verify(request: Omit<VerifyRequest, 'transport'> & { transport?: VerifyRequest['transport'] }): Promise<Verdict>;
  readonly reference: ReferenceStore;
  readonly metrics: VerifierMetrics;
  readonly audit: AuditWriter | undefined;
  /** Flags of throttled credentials waiting for the warehouse (absent without a warehouse or without rates). */
  readonly flags: CredentialFlags | undefined;
  /** With MQTT: this verifier's id and the live verifiers sharing the scanners with it (itself included). */
  readonly mqtt: { readonly verifierId: string; members(): string[] } | undefined;
}

/** Reference data, pool, cache, audit, HTTP and MQTT, composed. */
export function createVerifierService(input: VerifierConfigInput, deps: VerifierServiceDeps = {}): VerifierService {
  const config = parseVerifierConfig(input);
  const { warehouse } = deps;
  const pseudonymKey = config.audit.pseudonymKey;
  if (warehouse !== undefined && pseudonymKey === undefined) {
    throw verifierErrors.VERIFIER_ERR_CONFIG('/audit/pseudonymKey is required when a warehouse is given (the audit never stores a subject)');
  }
  const logger = deps.logger ?? pino({ name: 'verifier' });
  const now = deps.now ?? Date.now;
  const metrics = deps.metrics ?? createVerifierMetrics();

  const reference = createReferenceStore(
    {
      trust: config.trust,
      ...(config.revocation === undefined ? {} : { revocation: config.revocation }),
      ...(config.status === undefined ? {} : { status: config.status }),
      ...(config.policies === undefined ? {} : { policies: config.policies }),
      maxSourceBytes: config.maxSourceBytes,
      sourceTimeoutMs: config.sourceTimeoutMs,
    },
    {
      now,
      logger,
      ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }),
      onReload: (source, outcome) => metrics.reloads.inc({ source, outcome }),
    },
  );
  const cache = createVerdictCache({ maxEntries: config.cache.maxEntries, internedStrings: config.cache.internedStrings }, { onEvict: () => metrics.cacheEvictions.inc() });
  reference.onChange(() => cache.clear());
  const decoder = createCodeDecoder(config.decoder);
  const pool: VerifyPool | undefined = config.pool.enabled
    ? createVerifyPool(
        {
          threads: poolThreads(config),
          maxQueue: config.pool.maxQueue,
          batchMaxItems: config.pool.batchMaxItems,
          batchMaxDelayMs: config.pool.batchMaxDelayMs,
          concurrentTasksPerWorker: config.pool.concurrentTasksPerWorker,
          ...(config.pool.youngGenerationMb === 0 ? {} : { youngGenerationMb: config.pool.youngGenerationMb }),
          decoder: config.decoder,
          ...(pseudonymKey === undefined ? {} : { pseudonymKey }),
        },
        { metrics },
      )
    : undefined;
  const audit = warehouse === undefined ? undefined : createAuditWriter(config.audit, { warehouse, metrics, logger });
  const throttle = config.rates.enabled ? createCredentialThrottle(config.rates, { now, onEvict: () => metrics.throttleEvictions.inc() }) : undefined;
  const flags =
    warehouse === undefined || throttle === undefined
      ? undefined
      : createCredentialFlags({ maxPending: config.rates.maxPendingFlags, retryMs: config.audit.retryMaxMs }, { warehouse, metrics, logger });
  const engine = createVerificationEngine(
    {
      clockSkewMs: config.clockSkewMs,
      staleAction: config.staleAction,
      homeRegion: config.homeRegion,
      cacheTtlMs: config.cache.maxEntries === 0 ? 0 : config.cache.ttlMs,
      pseudonymKey,
    },
    { reference, pool, decoder, cache, audit, metrics, now, throttle, flags, logger },
  );
  // Who may ask, and at which venue (issue 16): scanners from the registry, venues by token.
  const ownRegistry = deps.registry === undefined && warehouse !== undefined ? createDeviceRegistry(config.registry, { warehouse, now }) : undefined;
  const tokens = deps.tokens ?? createTokenAuthenticator(config.http.tokens);
  const requesters = createRequesterDirectory(config.http.verifyAccess, { registry: deps.registry ?? ownRegistry, tokens });
  let started: VerifierAddresses | undefined;
  const mqtt: MqttResponder | undefined =
    config.mqtt === undefined
      ? undefined
      : createMqttResponder(
          { ...config.mqtt, maxQrChars: config.decoder.maxQrChars, pseudonymKey },
          {
            engine,
            requesters,
            offlineStore:
              warehouse === undefined ? undefined : createOfflineEventStore({ recentIds: config.audit.recentEventIds }, { warehouse, metrics, logger }),
            offlineBudget:
              throttle === undefined
                ? undefined
                : createOfflineEventBudget(
                    { checksPerSecond: config.rates.checksPerSecond, burst: config.rates.burst, maxKeys: config.rates.maxCredentials, flagWindowMs: config.rates.flagWindowMs },
                    { onEvict: () => metrics.throttleEvictions.inc() },
                  ),
            flags,
            metrics,
            logger,
            now,
          },
        );
  // Trust list and revocation filter pushed to scanners, retained (issue 18); config checked it has mqtt.
  const push =
    config.referencePush === undefined || config.mqtt === undefined
      ? undefined
      : createReferencePublisher(
          { ...config.mqtt, ...config.referencePush },
          { reference, logger, now, onPublish: (kind, outcome) => metrics.referencePushes.inc({ kind, outcome }) },
        );
  if (config.http.tokens.length === 0 && deps.tokens === undefined) logger.warn('no http.tokens: GET /v1/audit (the verification audit trail) refuses everyone');
  if (config.http.verifyAccess === 'open') {
    logger.warn(
      { verifyAccess: 'open' },
      'OPEN VERIFICATION (http.verifyAccess: open): anyone who reaches this verifier gets verdicts without credentials; they are recorded for no venue and no scanner. A development city only.',
    );
  }
  const http = buildHttpApi(
    {
      maxBatchItems: config.http.maxBatchItems,
      maxQrChars: config.decoder.maxQrChars,
      tokens: config.http.tokens,
      limits: config.http.limits,
      exemptAddresses: config.limits.exemptAddresses,
    },
    {
      engine,
      reference,
      metrics,
      logger,
      ready: () => started !== undefined && (mqtt?.connected() ?? true),
      guard: createAddressGuard(config.limits, { now, onEvict: () => metrics.addressEvictions.inc() }),
      requesters,
      tokens,
      ...(warehouse === undefined ? {} : { auditTrail: createAuditTrailReader({ warehouse, now }) }),
    },
  );

  metrics.attach({
    ages() {
      const f = reference.current().freshness;
      const t = now();
      const age = (x: { freshAt: number } | undefined) => (x === undefined ? undefined : Math.max(0, t - x.freshAt) / 1000);
      return { trust: age(f.trust), revocation: age(f.revocation), status: age(f.status) };
    },
    trustKeys: () => reference.current().trust.size,
    revokedEntries: () => reference.current().revocation,
    pool: () => pool?.stats(),
    cacheEntries: () => cache.size,
    auditBuffered: () => audit?.buffered ?? 0,
    flaggedCredentials: () => throttle?.flagged() ?? 0,
  });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      started = undefined;
      await push?.stop();
      await mqtt?.stop();
      await http.close();
      await pool?.stop();
      await audit?.stop();
      await flags?.stop();
      await ownRegistry?.stop();
      await reference.stop();
    })();
    return stopping;
  };

  return {
    reference,
    metrics,
    audit,
    flags,
    mqtt: mqtt === undefined ? undefined : { verifierId: mqtt.verifierId, members: () => mqtt.members() },
    verify: (request) => engine.verify({ ...request, transport: request.transport ?? 'http' }),
    async start() {
      if (started !== undefined) return started;
      try {
        await reference.start();
        await ownRegistry?.start();
        await pool?.start();
        if (warehouse !== undefined && audit !== undefined) {
          const from = await applyAuditRetention(warehouse, config.audit.retentionDays, now());
          if (from !== undefined) logger.info({ from, to: config.audit.retentionDays }, 'audit retention changed');
          audit.start();
        }
        const address = await http.listen({ host: config.http.host, port: config.http.port });
        const httpPort = Number(new URL(address).port);
        await mqtt?.start();
        await push?.start();
        started = { httpUrl: `http://${config.http.host}:${httpPort}`, httpPort };
        return started;
      } catch (err) {
        await stop().catch(() => undefined);
        throw err;
      }
    },
    stop,
  };
}
