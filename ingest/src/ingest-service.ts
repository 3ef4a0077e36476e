import { join } from 'node:path';
import { createAddressGuard, topics, type AddressGuard, type TokenAuthenticator } from '@cityops/protocol';
import { createDeviceRegistry, createSensorSets, type DeviceRegistry, type SensorSets, type Warehouse } from '@cityops/warehouse';
import { pino, type Logger } from 'pino';
import { createBatchClaims } from './batch-claims.ts';
import { createClusterRouting, type ClusterRouting } from './cluster-routing.ts';
import { createDeviceConfigs, type DeviceConfigs } from './device-configs.ts';
import { ingestErrors } from './errors.ts';
import { buildHttpApi } from './http-api.ts';
import { parseIngestConfig, type IngestConfigInput } from './ingest-config.ts';
import { createIngestMetrics, type IngestMetrics } from './ingest-metrics.ts';
import { createMqttBroker, type MqttBroker } from './mqtt-broker.ts';
import { createWireGuard } from './mqtt-wire-guard.ts';
import { createInstanceLease, type InstanceLease } from './instance-lease.ts';
import { createPipelineStatusPublisher } from './pipeline-status-publisher.ts';
import { createTelemetryPipeline, type TelemetryPipeline } from './telemetry-pipeline.ts';
import { adoptInstanceWal, type WalAdoptionReport } from './wal-adoption.ts';
import { createWriteAheadLog } from './wal/write-ahead-log.ts';
import { registerWarehouseMemoryGauge } from './warehouse-memory-gauge.ts';

/**
 * Log fields that may hold a secret, censored whatever logger the caller injects. Ingest's own
 * lines never carry these; this catches a config, credentials or request object logged whole.
 */
export const REDACTED_LOG_PATHS: readonly string[] = [
  'password', 'secret', 'adminToken', 'token', 'key', 'authorization', 'redisUrl',
  '*.password', '*.secret', '*.adminToken', '*.token', '*.key', '*.authorization', '*.redisUrl',
  'req.headers.authorization', 'req.headers.cookie', 'headers.authorization',
  'config.http.adminToken', 'config.http.tls.key', 'config.mqtt.tls.key', 'config.cluster.redisUrl',
];

export interface IngestServiceDeps {
  readonly warehouse: Warehouse;
  readonly logger?: Logger;
  readonly now?: () => number;
  readonly metrics?: IngestMetrics;
  /** The live token set for the HTTP API (a TokenStore, revocable at runtime); absent: `http.tokens`, fixed. */
  readonly tokens?: TokenAuthenticator;
}

export interface IngestAddresses {
  /** Where MQTT clients connect: the plain listener, or with plain MQTT off (`mqtt.plain: false`) the TLS one. */
  readonly mqttUrl: string;
  readonly mqttPort: number;
  /** The TLS listener, when `mqtt.tls` is configured. */
  readonly mqttsUrl?: string;
  /** false when plain MQTT is off: `mqttUrl` is then `mqtts://`. */
  readonly plainMqtt: boolean;
  readonly httpUrl: string;
  readonly httpPort: number;
}

export interface IngestService {
  start(): Promise<IngestAddresses>;
  stop(): Promise<void>;
  readonly registry: DeviceRegistry;
  /** Each device's known sensors (issue 17). */
  readonly sensors: SensorSets;
  /** Gateways' desired and reported configuration (issue 18). */
  readonly configs: DeviceConfigs;
  readonly pipeline: TelemetryPipeline;
  readonly metrics: IngestMetrics;
  readonly broker: MqttBroker;
  /** The per-address limits shared by the broker and the HTTP API. */
  readonly guard: AddressGuard;
  /** Present when `cluster` is configured. */
  readonly cluster?: ClusterRouting;
  /**
   * Cluster mode, while started: replays the WAL of a dead instance (its data directory, its name)
   * into the warehouse and resolves its pending claims (issue 22; docs/OPERATIONS.md).
   */
  adoptWal(deadDataDir: string, instance: string): Promise<WalAdoptionReport>;
}

/** Broker, device registry, telemetry pipeline and HTTP API, composed; stopped in reverse order. */
export function createIngestService(input: IngestConfigInput, deps: IngestServiceDeps): IngestService {
  const config = parseIngestConfig(input);
  const logger = (deps.logger ?? pino({ name: 'ingest' })).child({}, { redact: { paths: [...REDACTED_LOG_PATHS], censor: '[redacted]' } });
  const now = deps.now ?? Date.now;
  const metrics = deps.metrics ?? createIngestMetrics();
  const guard = createAddressGuard(config.limits, { now, onEvict: () => metrics.addressEvictions.inc() });
  const { warehouse } = deps;
  registerWarehouseMemoryGauge(metrics.registry, warehouse);
  const walConfig = {
    segmentBytes: config.wal.segmentBytes,
    fsync: config.wal.fsync,
    retainSegments: config.wal.retainSegments,
    preallocate: config.wal.preallocate,
    maxRecordBytes: config.telemetry.maxPayloadBytes + 4096,
  };
  const wal = createWriteAheadLog({ ...walConfig, dir: join(config.dataDir, 'wal') });
  const registry = createDeviceRegistry(config.registry, { warehouse, now });
  const sensors = createSensorSets(
    { ...config.registry.sensors, refreshMs: config.registry.refreshMs },
    {
      warehouse,
      now,
      capOf: (device) => registry.get(device)?.maxSensors,
      onError: (err) => logger.warn({ err }, 'sensor sets not written or re-read; retrying on the next tick'),
    },
  );
  const clusterConfig = config.cluster;
  const cluster = clusterConfig === undefined ? undefined : createClusterRouting(clusterConfig, { metrics, logger });
  // Cluster mode: one deduplication key for every instance (issue 22); alone, the window in memory.
  const claims =
    cluster === undefined || clusterConfig === undefined || !clusterConfig.sharedClaims
      ? undefined
      : createBatchClaims(
          {
            instance: config.pipelineStatus.instance,
            keyPrefix: clusterConfig.keyPrefix,
            claimTtlMs: clusterConfig.claimTtlMs,
            maxPendingMarks: clusterConfig.maxPendingClaimMarks,
            retryMs: clusterConfig.reconnectMaxMs,
          },
          { redis: cluster.redis(), metrics, logger },
        );
  const pipelineConfig = {
    maxPayloadBytes: config.telemetry.maxPayloadBytes,
    maxReadingAgeMs: config.telemetry.maxReadingAgeMs,
    maxReadingAheadMs: config.telemetry.maxReadingAheadMs,
    dedupCapacity: config.telemetry.dedupCapacity,
    writer: config.writer,
  };
  const pipeline = createTelemetryPipeline(
    pipelineConfig,
    {
      warehouse,
      wal,
      metrics,
      sensors,
      now,
      onError: (err) => logger.error({ err }, 'warehouse write failed; retrying, nothing is dropped'),
      ...(claims === undefined ? {} : { claims }),
    },
  );
  // A single instance has no Redis: a constant 0 would read as "Redis down".
  if (cluster === undefined) metrics.registry.removeSingleMetric('cityops_ingest_cluster_redis_up');
  const lease: InstanceLease | undefined =
    cluster === undefined || clusterConfig === undefined
      ? undefined
      : createInstanceLease(
          {
            instance: config.pipelineStatus.instance,
            keyPrefix: clusterConfig.keyPrefix,
            leaseMs: clusterConfig.instanceLeaseMs,
            tokenFile: join(config.dataDir, 'instance-token'),
          },
          { redis: cluster.redis(), logger },
        );
  const wireConfig = config.mqtt.wire;
  const wire = createWireGuard(
    {
      packets: {
        connectBytes: wireConfig.maxConnectBytes,
        // Twice the payload limit, as the HTTP body limit: a payload a little over the limit is still
        // read, kept as a dead letter and answered on the device's errors topic; far over, it is not read.
        publishBytes: 2 * config.telemetry.maxPayloadBytes + wireConfig.publishOverheadBytes,
        subscribeBytes: wireConfig.maxSubscribeBytes,
        otherBytes: wireConfig.maxOtherBytes,
      },
      maxConnectionsPerAddress: wireConfig.maxConnectionsPerAddress,
      exemptAddresses: config.limits.exemptAddresses,
      maxUnauthenticated: wireConfig.maxUnauthenticated,
      logIntervalMs: wireConfig.logIntervalMs,
      connectTimeoutMs: wireConfig.connectTimeoutMs,
      accept: { perTurn: wireConfig.acceptPerTurn, maxQueued: wireConfig.maxAcceptQueue },
      turnBudgetMs: wireConfig.turnBudgetMs,
      penaltyMs: wireConfig.penaltyMs,
      maxPenalised: wireConfig.maxPenalisedAddresses,
    },
    { metrics, logger, now },
  );
  // Publishes through the broker made just below (called only once ingest has started).
  const configs = createDeviceConfigs({ warehouse, logger, now, metrics, publish: (topic, payload, options) => broker.publish(topic, payload, options) });
  const broker = createMqttBroker(config.mqtt, {
    registry,
    pipeline,
    recordConfigReport: (device, payload) => configs.record(device, payload),
    metrics,
    logger,
    guard,
    wire,
    ...(cluster === undefined || clusterConfig === undefined
      ? {}
      : { cluster: { ...cluster, heartbeatIntervalMs: clusterConfig.heartbeatIntervalMs } }),
  });
  let brokerUp = false;
  const pipelineStatus = createPipelineStatusPublisher(config.pipelineStatus, {
    publish: (topic, payload, options) => broker.publish(topic, payload, options),
    backlogRows: () => pipeline.writer().load(),
    oldestPendingAt: () => pipeline.writer().oldestPendingAt(),
    walBytes: () => wal.bytesOnDisk(),
    now,
    logger,
  });
  const http = buildHttpApi(
    {
      maxPayloadBytes: config.telemetry.maxPayloadBytes,
      ...(config.http.adminToken === undefined ? {} : { adminToken: config.http.adminToken }),
      tokens: config.http.tokens,
      ...(config.http.tls === undefined ? {} : { tls: config.http.tls }),
      limits: config.http.limits,
      exemptAddresses: config.limits.exemptAddresses,
    },
    {
      guard,
      now,
      registry,
      sensors,
      configs,
      pipeline,
      warehouse,
      metrics,
      logger,
      ...(deps.tokens === undefined ? {} : { tokens: deps.tokens }),
      refuseTelemetry: () => {
        if (cluster === undefined || cluster.available()) return undefined;
        metrics.clusterRefused.inc({ operation: 'publish' });
        return ingestErrors.INGEST_ERR_CLUSTER_UNAVAILABLE();
      },
      // Durable by now: subscribers see HTTP telemetry on the device's topic like MQTT telemetry.
      forwardTelemetry: (device, payload) => {
        broker.publish(topics.telemetry(device), payload, { qos: 1, retain: false }).catch((err: unknown) => {
          logger.warn({ err, device }, 'accepted HTTP telemetry not forwarded to subscribers');
        });
      },
      ready: async () => {
        if (!brokerUp || cluster?.available() === false) return false;
        try {
          await warehouse.ping();
          return true;
        } catch {
          return false;
        }
      },
    },
  );
  const walBytesTimer = setInterval(() => {
    metrics.walBytes.set(wal.bytesOnDisk());
    const known = sensors.stats();
    metrics.knownSensors.set(known.sensors);
    metrics.sensorRowsPending.set(known.pending);
  }, 5000);
  walBytesTimer.unref();
  let started: IngestAddresses | undefined;
  let stopping: Promise<void> | undefined;

  return {
    registry,
    sensors,
    configs,
    pipeline,
    metrics,
    broker,
    guard,
    ...(cluster === undefined ? {} : { cluster }),
    adoptWal(deadDataDir, instance) {
      if (cluster === undefined || clusterConfig === undefined) return Promise.reject(ingestErrors.INGEST_ERR_CONFIG('adopting a WAL needs cluster mode'));
      if (started === undefined || stopping !== undefined) return Promise.reject(ingestErrors.INGEST_ERR_STOPPED('start the instance before adopting a WAL'));
      if (instance === config.pipelineStatus.instance) return Promise.reject(ingestErrors.INGEST_ERR_CONFIG(`"${instance}" is this instance: its WAL replays at its own start`));
      return adoptInstanceWal(
        {
          instance,
          dataDir: deadDataDir,
          ownDataDir: config.dataDir,
          keyPrefix: clusterConfig.keyPrefix,
          leaseMs: clusterConfig.instanceLeaseMs,
          claimTtlMs: clusterConfig.claimTtlMs,
          maxPendingClaimMarks: clusterConfig.maxPendingClaimMarks,
          retryMs: clusterConfig.reconnectMaxMs,
          pipeline: pipelineConfig,
          wal: walConfig,
        },
        { redis: cluster.redis(), warehouse, sensors, metrics, logger, now },
      );
    },
    async start() {
      // Redis first: an instance that cannot share routing must not start alone on its port.
      if (cluster !== undefined) {
        if (claims === undefined) logger.warn('cluster.sharedClaims is off (benchmarks only): a batch resent to another instance may be stored twice');
        else if (clusterConfig !== undefined && clusterConfig.claimTtlMs < config.telemetry.maxReadingAgeMs) {
          logger.warn(
            { claimTtlMs: clusterConfig.claimTtlMs, maxReadingAgeMs: config.telemetry.maxReadingAgeMs },
            'cluster.claimTtlMs is shorter than telemetry.maxReadingAgeMs: a resend to another instance after the claim expired is stored twice (docs/RELIABILITY.md)',
          );
        }
        await cluster.start();
        try {
          await lease?.start();
        } catch (err) {
          await cluster.stop();
          throw err;
        }
      }
      await registry.start();
      await sensors.start();
      const recovered = await pipeline.start();
      if (Object.values(recovered).some((n) => n > 0)) {
        logger.info(recovered, 'write-ahead log replayed');
      }
      const { port, tlsPort } = await broker.start();
      brokerUp = true;
      await configs.start();
      pipelineStatus.start();
      const address = await http.listen({ host: config.http.host, port: config.http.port });
      const httpPort = new URL(address).port;
      const mqttsUrl = tlsPort === undefined ? undefined : `mqtts://${config.mqtt.tls?.host ?? config.mqtt.host}:${tlsPort}`;
      // parseIngestConfig made sure one of the two listeners exists.
      const primary = port === undefined ? { mqttUrl: mqttsUrl!, mqttPort: tlsPort! } : { mqttUrl: `mqtt://${config.mqtt.host}:${port}`, mqttPort: port };
      started = {
        ...primary,
        ...(mqttsUrl === undefined ? {} : { mqttsUrl }),
        plainMqtt: port !== undefined,
        httpUrl: `${config.http.tls === undefined ? 'http' : 'https'}://${config.http.host}:${httpPort}`,
        httpPort: Number(httpPort),
      };
      return started;
    },
    stop() {
      stopping ??= (async () => {
        clearInterval(walBytesTimer);
        brokerUp = false;
        await http.close();
        await pipelineStatus.stop();
        await broker.stop();
        // While Redis is still ours: the last "stored" marks (otherwise the next start resolves them).
        await claims?.stop();
        await lease?.stop();
        await cluster?.stop();
        await pipeline.stop();
        await sensors.stop();
        await registry.stop();
      })();
      return stopping;
    },
  };
}
