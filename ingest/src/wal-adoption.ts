import { join } from 'node:path';
import type { SensorSets, Warehouse } from '@cityops/warehouse';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createBatchClaims } from './batch-claims.ts';
import { ingestErrors } from './errors.ts';
import type { IngestMetrics } from './ingest-metrics.ts';
import { createInstanceLease } from './instance-lease.ts';
import { createTelemetryPipeline, type PipelineConfig } from './telemetry-pipeline.ts';
import { createWriteAheadLog, type WriteAheadLogConfig } from './wal/write-ahead-log.ts';

export interface WalAdoptionConfig {
  /** The dead instance's name (its `pipelineStatus.instance`). */
  readonly instance: string;
  /** The dead instance's data directory (its WAL is `<dataDir>/wal`), e.g. its disk mounted here. */
  readonly dataDir: string;
  /** The adopting instance's own data directory: the adoption's lease token is kept there. */
  readonly ownDataDir: string;
  readonly keyPrefix: string;
  readonly leaseMs: number;
  readonly claimTtlMs: number;
  readonly maxPendingClaimMarks: number;
  readonly retryMs: number;
  readonly pipeline: PipelineConfig;
  readonly wal: Omit<WriteAheadLogConfig, 'dir'>;
}

export interface WalAdoptionDeps {
  readonly redis: Redis;
  readonly warehouse: Warehouse;
  readonly sensors: SensorSets;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
  readonly now: () => number;
}

export interface WalAdoptionReport {
  readonly instance: string;
  readonly replayedBatches: number;
  readonly alreadyStored: number;
  readonly truncatedBytes: number;
  /** The dead instance's pending claims found in its WAL (now marked stored) and not (given back). */
  readonly claimsStored: number;
  readonly claimsReleased: number;
}

/**
 * Replays a dead instance's WAL into the warehouse from a surviving one (issue 22), so a machine
 * that does not come back loses nothing it acknowledged and its devices' resends, refused while its
 * claims were pending, are recognised or stored. It is the dead instance's own start-up replay
 * (keys the warehouse already has are skipped), run under that instance's name: its lease is taken
 * first, so a live instance is never adopted (INGEST_ERR_INSTANCE_TAKEN) and it cannot come back
 * while its WAL is being replayed. Run again after a failure: the WAL is checkpointed only once its
 * rows are in the warehouse.
 */
export async function adoptInstanceWal(config: WalAdoptionConfig, deps: WalAdoptionDeps): Promise<WalAdoptionReport> {
  const logger = deps.logger.child({ adopting: config.instance });
  const lease = createInstanceLease(
    {
      instance: config.instance,
      keyPrefix: config.keyPrefix,
      leaseMs: config.leaseMs,
      // Not the dead instance's own token (that one would take the lease even from a live instance).
      tokenFile: join(config.ownDataDir, 'adopted', config.instance, 'token'),
    },
    { redis: deps.redis, logger },
  );
  await lease.start();
  try {
    const wal = createWriteAheadLog({ ...config.wal, dir: join(config.dataDir, 'wal') });
    const claims = createBatchClaims(
      { instance: config.instance, keyPrefix: config.keyPrefix, claimTtlMs: config.claimTtlMs, maxPendingMarks: config.maxPendingClaimMarks, retryMs: config.retryMs },
      { redis: deps.redis, metrics: deps.metrics, logger },
    );
    const pipeline = createTelemetryPipeline(config.pipeline, {
      warehouse: deps.warehouse,
      wal,
      metrics: deps.metrics,
      sensors: deps.sensors,
      now: deps.now,
      claims,
      onError: (err) => logger.error({ err }, 'adopted WAL: warehouse write failed'),
    });
    const recovered = await pipeline.start();
    await pipeline.stop();
    const unwritten = pipeline.writer().load();
    if (unwritten > 0) {
      throw ingestErrors.INGEST_ERR_WAL_ADOPTION(`${unwritten} rows of ${config.instance}'s WAL could not be written to the warehouse; run the adoption again`);
    }
    logger.info(recovered, 'dead instance WAL adopted');
    return { instance: config.instance, ...recovered };
  } finally {
    await lease.stop();
  }
}
