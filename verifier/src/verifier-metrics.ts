import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { createHttpServerMetrics, createServiceRegistry } from '@cityops/protocol/service-metrics';
import { createCounterTally } from './counter-tally.ts';
import { createTallyHistogram } from './tally-histogram.ts';

/** What the gauges read at scrape time, attached by the service once its parts exist. */
export interface MetricsProbe {
  /** Seconds since each watched source was last known current; absent when not configured. */
  ages(): { trust?: number; revocation?: number; status?: number };
  trustKeys(): number;
  revokedEntries(): { codes: number; subjects: number };
  pool(): { queueSize: number; utilization: number; threads: number; openBatchItems: number } | undefined;
  cacheEntries(): number;
  auditBuffered(): number;
  /** Credentials throttled within the last flag window. */
  flaggedCredentials(): number;
}

/**
 * The verifier's metrics, on a registry of its own. Labels are closed sets (verdict, reason, kind,
 * transport, outcome); never a subject, a code, a device or a venue id.
 */
export function createVerifierMetrics(registry = new Registry()) {
  createServiceRegistry('cityops_verifier_', registry);
  let probe: MetricsProbe | undefined;
  // Per verdict: counted in plain numbers, handed to prom-client at scrape time (issue 20, cut 4).
  const verdictCounts = createCounterTally(['verdict', 'reason', 'kind', 'transport'] as const);
  const cacheLookupCounts = createCounterTally(['result'] as const);
  const gauge = (name: string, help: string, read: (p: MetricsProbe) => number | undefined) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const value = probe === undefined ? undefined : read(probe);
        if (value !== undefined) this.set(value);
      },
    });
  return {
    registry,
    attach(p: MetricsProbe) {
      probe = p;
    },
    /** The HTTP API's server limits (http.limits). */
    http: createHttpServerMetrics(registry, 'cityops_verifier_'),
    addressRefused: new Counter({
      name: 'cityops_verifier_address_refused_total',
      help: 'Audit-trail and verification requests refused with 429 because their address is locked out after failed logins.',
      registers: [registry],
    }),
    addressLockouts: new Counter({
      name: 'cityops_verifier_address_lockouts_total',
      help: 'Addresses locked out of the audit trail and verification after too many failed logins (answers of 401).',
      registers: [registry],
    }),
    addressEvictions: new Counter({
      name: 'cityops_verifier_address_evictions_total',
      help: 'Tracked addresses forgotten to keep the lockout within limits.maxAddresses.',
      registers: [registry],
    }),
    /** Count verdicts here (the hot path); `verdicts` shows them at the next read. */
    verdictCounts,
    verdicts: new Counter({
      name: 'cityops_verifier_verdicts_total',
      help: 'Verdicts given, by verdict, reason code, code kind and transport (http, batch, mqtt).',
      labelNames: ['verdict', 'reason', 'kind', 'transport'] as const,
      registers: [registry],
      collect() {
        verdictCounts.drainInto(this);
      },
    }),
    verifySeconds: createTallyHistogram({
      name: 'cityops_verifier_verify_seconds',
      help: 'Time from a request item arriving to its verdict, by transport and whether the cache answered.',
      labelNames: ['transport', 'cache'] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    batchItems: new Histogram({
      name: 'cityops_verifier_pool_batch_items',
      help: 'Items per micro-batch sent to a pool thread.',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers: [registry],
    }),
    overloaded: new Counter({
      name: 'cityops_verifier_overloaded_total',
      help: 'Items answered deny OVERLOADED because the pool queue was full.',
      registers: [registry],
    }),
    throttled: new Counter({
      name: 'cityops_verifier_throttled_total',
      help: 'Requests answered deny THROTTLED (their credential over rates.checksPerSecond), by transport; not verified, not in the audit.',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    throttleEvictions: new Counter({
      name: 'cityops_verifier_throttle_evictions_total',
      help: 'Credentials forgotten by the rate limiter to stay within rates.maxCredentials.',
      registers: [registry],
    }),
    flags: new Counter({
      name: 'cityops_verifier_credential_flags_total',
      help: 'Flags of throttled credentials (one per credential per rates.flagWindowMs), by outcome (written, dropped: queue full or stopped with the warehouse down).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    keysParsed: new Gauge({
      name: 'cityops_verifier_worker_keys_parsed',
      help: 'Keys parsed by pool threads since they started (grows with kids and trust versions, not with requests).',
      registers: [registry],
    }),
    /** Count lookups here (the hot path); `cacheLookups` shows them at the next read. */
    cacheLookupCounts,
    cacheLookups: new Counter({
      name: 'cityops_verifier_cache_lookups_total',
      help: 'Verdict cache lookups, by result (hit, miss).',
      labelNames: ['result'] as const,
      registers: [registry],
      collect() {
        cacheLookupCounts.drainInto(this);
      },
    }),
    cacheEvictions: new Counter({
      name: 'cityops_verifier_cache_evictions_total',
      help: 'Verdicts evicted from the full cache (least recently used first).',
      registers: [registry],
    }),
    reloads: new Counter({
      name: 'cityops_verifier_reference_reloads_total',
      help: 'Reads of reference data sources, by source (trust, revocation, status, policies) and outcome (changed, unchanged, failed).',
      labelNames: ['source', 'outcome'] as const,
      registers: [registry],
    }),
    referencePushes: new Counter({
      name: 'cityops_verifier_reference_pushes_total',
      help: 'Reference data pushed to scanners over MQTT, by kind (trust, revocation) and outcome (published, too_large, failed).',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    auditEvents: new Counter({
      name: 'cityops_verifier_audit_events_total',
      help: 'Audit events, by outcome (written, dropped: buffer full or stopped with the warehouse down).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    auditWriteErrors: new Counter({
      name: 'cityops_verifier_audit_write_errors_total',
      help: 'Failed audit inserts (retried with backoff while the events fit the buffer).',
      registers: [registry],
    }),
    requestsRefused: new Counter({
      name: 'cityops_verifier_requests_refused_total',
      help: 'Verification requests refused for who asks (issue 16), by transport (http, mqtt, offline) and code: unauthenticated, unknown scanner, venue mismatch, role.',
      labelNames: ['transport', 'code'] as const,
      registers: [registry],
    }),
    mqttRequests: new Counter({
      name: 'cityops_verifier_mqtt_requests_total',
      help: 'MQTT messages from scanners, by outcome (answered, malformed, overloaded, offline_upload, refused: an unregistered scanner or another venue, dropped: no id to answer to).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    offlineEvents: new Counter({
      name: 'cityops_verifier_offline_events_total',
      help: 'Events of offline uploads, by outcome (stored; duplicate: already stored, a resend; refused: not the schema; failed: the warehouse did not take them, the scanner sends them again).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    groupMembers: new Gauge({
      name: 'cityops_verifier_group_members',
      help: 'Live verifiers of this group sharing the scanners, this one included (1 when partitioning is off).',
      registers: [registry],
    }),
    groupChanges: new Counter({
      name: 'cityops_verifier_group_changes_total',
      help: 'Changes of the live verifier set seen (joins, leaves, wills).',
      registers: [registry],
    }),
    trustAge: gauge('cityops_verifier_trust_age_seconds', 'Seconds since the trust list was last known current.', (p) => p.ages().trust),
    revocationAge: gauge(
      'cityops_verifier_revocation_age_seconds',
      'Seconds since the revocation lists were last known current (absent when not configured).',
      (p) => p.ages().revocation,
    ),
    statusAge: gauge(
      'cityops_verifier_status_age_seconds',
      'Seconds since the status feed was last known current (absent when not configured).',
      (p) => p.ages().status,
    ),
    trustKeys: gauge('cityops_verifier_trust_keys', 'Keys in the trust list in use.', (p) => p.trustKeys()),
    revokedCodes: gauge('cityops_verifier_revoked_codes', 'Code id hashes on the revocation list in use.', (p) => p.revokedEntries().codes),
    revokedSubjects: gauge('cityops_verifier_revoked_subjects', 'Subject hashes on the revocation list in use.', (p) => p.revokedEntries().subjects),
    poolQueue: gauge('cityops_verifier_pool_queue_batches', 'Batches waiting for a pool thread.', (p) => p.pool()?.queueSize),
    poolUtilization: gauge('cityops_verifier_pool_utilization', 'Share of pool thread time spent running batches (piscina).', (p) => p.pool()?.utilization),
    poolThreads: gauge('cityops_verifier_pool_threads', 'Pool threads running.', (p) => p.pool()?.threads),
    poolOpenBatch: gauge('cityops_verifier_pool_open_batch_items', 'Items in the batch being gathered.', (p) => p.pool()?.openBatchItems),
    cacheEntries: gauge('cityops_verifier_cache_entries', 'Verdicts in the cache.', (p) => p.cacheEntries()),
    auditBuffered: gauge('cityops_verifier_audit_buffered_events', 'Audit events waiting for (or in) a warehouse insert.', (p) => p.auditBuffered()),
    flaggedCredentials: gauge(
      'cityops_verifier_flagged_credentials',
      'Credentials throttled within the last rates.flagWindowMs (sending more checks than a door can see).',
      (p) => p.flaggedCredentials(),
    ),
  };
}

export type VerifierMetrics = ReturnType<typeof createVerifierMetrics>;
