import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { createHttpServerMetrics, createServiceRegistry } from '@cityops/protocol/service-metrics';

/** The ingest service's metrics, on a registry of its own (never the global one). */
export function createIngestMetrics(registry = new Registry()) {
  createServiceRegistry('cityops_ingest_', registry);
  return {
    registry,
    /** The HTTP API's server limits (http.limits). */
    http: createHttpServerMetrics(registry, 'cityops_ingest_'),
    batches: new Counter({
      name: 'cityops_ingest_batches_total',
      help: 'Telemetry batches received, by outcome (accepted, duplicate, dead_letter).',
      labelNames: ['outcome', 'transport'] as const,
      registers: [registry],
    }),
    readings: new Counter({
      name: 'cityops_ingest_readings_total',
      help: 'Readings accepted (durable in the write-ahead log).',
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'cityops_ingest_dead_letters_total',
      help: 'Payloads refused and kept in dead_letters, by reason code.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    sensorRefusals: new Counter({
      name: 'cityops_ingest_sensor_refusals_total',
      help: "Readings refused by the device's sensor set (issue 17), by reason: sensor_limit, metric_limit, decommissioned.",
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    knownSensors: new Gauge({
      name: 'cityops_ingest_known_sensors',
      help: "Sensors in the devices' sensor sets held in memory (declared, learned, decommissioned).",
      registers: [registry],
    }),
    sensorRowsPending: new Gauge({
      name: 'cityops_ingest_sensor_rows_pending',
      help: 'Sensors learned and not yet written to the warehouse.',
      registers: [registry],
    }),
    rowsWritten: new Counter({
      name: 'cityops_ingest_warehouse_rows_written_total',
      help: 'Reading rows inserted into the warehouse.',
      registers: [registry],
    }),
    flushSeconds: new Histogram({
      name: 'cityops_ingest_flush_duration_seconds',
      help: 'Time to insert one flush of rows into the warehouse.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    walSyncSeconds: new Histogram({
      name: 'cityops_ingest_wal_append_duration_seconds',
      help: 'Time from receiving a batch to its write-ahead-log record being on disk.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    warehouseErrors: new Counter({
      name: 'cityops_ingest_warehouse_errors_total',
      help: 'Failed warehouse inserts (each is retried; nothing is dropped).',
      registers: [registry],
    }),
    backpressureWaits: new Counter({
      name: 'cityops_ingest_backpressure_waits_total',
      help: 'Batches held before acknowledgement because the write buffer was full.',
      registers: [registry],
    }),
    bufferedRows: new Gauge({
      name: 'cityops_ingest_buffered_rows',
      help: 'Rows durable in the write-ahead log and waiting for (or in) a warehouse insert.',
      registers: [registry],
    }),
    lagSeconds: new Gauge({
      name: 'cityops_ingest_lag_seconds',
      help: 'Age of the oldest accepted row not yet in the warehouse.',
      registers: [registry],
    }),
    walBytes: new Gauge({
      name: 'cityops_ingest_wal_bytes',
      help: 'Bytes of write-ahead log on disk.',
      registers: [registry],
    }),
    clients: new Gauge({
      name: 'cityops_broker_clients',
      help: 'MQTT clients connected to this broker.',
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'cityops_broker_auth_failures_total',
      help: 'Refused MQTT connections and HTTP device authentications, by reason code.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    clusterUp: new Gauge({
      name: 'cityops_ingest_cluster_redis_up',
      help: 'Whether every Redis connection of the cluster routing is ready (1) or not (0); absent when not clustered.',
      registers: [registry],
    }),
    clusterRefused: new Counter({
      name: 'cityops_ingest_cluster_refused_total',
      help: 'MQTT connections, publishes and subscriptions refused because Redis was unavailable, by operation.',
      labelNames: ['operation'] as const,
      registers: [registry],
    }),
    clusterErrors: new Counter({
      name: 'cityops_ingest_cluster_errors_total',
      help: 'Redis failures after a message was accepted (routing to other instances, offline queues, retained), by operation.',
      labelNames: ['operation'] as const,
      registers: [registry],
    }),
    claims: new Counter({
      name: 'cityops_ingest_batch_claims_total',
      help: 'Shared batch claims in Redis (cluster mode), by outcome: claimed, ours-pending, stored (a duplicate), held (refused until its holder resolves it), unavailable.',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    claimMarksDropped: new Counter({
      name: 'cityops_ingest_batch_claim_marks_dropped_total',
      help: 'Claims whose "stored" mark did not fit cluster.maxPendingClaimMarks: left pending until the next recovery resolves them.',
      registers: [registry],
    }),
    tlsHandshakes: new Counter({
      name: 'cityops_broker_tls_handshakes_total',
      help: 'TLS handshakes on the MQTT over TLS listener, by outcome (completed, failed). Connections refused by the per-address rate never start one.',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    addressRefused: new Counter({
      name: 'cityops_ingest_address_refused_total',
      help: 'Connections (MQTT) and requests (HTTP) refused by the per-address limits, by transport and reason (connection_rate, locked_out).',
      labelNames: ['transport', 'reason'] as const,
      registers: [registry],
    }),
    addressLockouts: new Counter({
      name: 'cityops_ingest_address_lockouts_total',
      help: 'Addresses locked out after too many failed logins, by the transport of the last failure.',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    addressEvictions: new Counter({
      name: 'cityops_ingest_address_evictions_total',
      help: 'Tracked addresses forgotten to keep the per-address limits within limits.maxAddresses.',
      registers: [registry],
    }),
    revokedDisconnects: new Counter({
      name: 'cityops_broker_revoked_disconnects_total',
      help: 'MQTT connections closed because their device was revoked or its secret rotated, by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    refusedPackets: new Counter({
      name: 'cityops_broker_refused_packets_total',
      help: 'MQTT connections closed at a packet fixed header, by reason (too_large, malformed) and packet type, before the body was buffered.',
      labelNames: ['reason', 'type'] as const,
      registers: [registry],
    }),
    refusedSockets: new Counter({
      name: 'cityops_broker_refused_sockets_total',
      help: 'MQTT connections closed before CONNECT completed, by reason (address_penalty, address_connections, unauthenticated_sockets, accept_queue at accept, before they are sockets; connect_timeout at the CONNECT deadline).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    unauthenticatedSockets: new Gauge({
      name: 'cityops_broker_unauthenticated_sockets',
      help: 'MQTT sockets accepted and not yet past CONNECT (capped by mqtt.wire.maxUnauthenticated).',
      registers: [registry],
    }),
    denied: new Counter({
      name: 'cityops_broker_denied_total',
      help: 'Refused publishes and subscriptions, by operation.',
      labelNames: ['operation'] as const,
      registers: [registry],
    }),
    configVersions: new Counter({
      name: 'cityops_ingest_config_versions_total',
      help: 'Gateway configuration versions set (PUT /v1/devices/{id}/config), each kept and published retained.',
      registers: [registry],
    }),
    configReports: new Counter({
      name: 'cityops_ingest_config_reports_total',
      help: 'Configuration state reports recorded from gateways, by state (applied, rejected); repeats are not counted.',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
  };
}

export type IngestMetrics = ReturnType<typeof createIngestMetrics>;
