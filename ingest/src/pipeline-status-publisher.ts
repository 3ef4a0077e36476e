import { topics, type PipelineStatus } from '@cityops/protocol';
import type { Logger } from 'pino';

export interface PipelineStatusPublisherConfig {
  readonly instance: string;
  readonly intervalMs: number;
}

export interface PipelineStatusPublisherDeps {
  /** Publishes from the broker (retained, QoS 1). */
  readonly publish: (topic: string, payload: Buffer, options: { qos: 0 | 1; retain: boolean }) => Promise<void>;
  /** Rows accepted and not yet in the warehouse. */
  readonly backlogRows: () => number;
  /** When the oldest pending record was handed to the writer (deps.now's clock), if any. */
  readonly oldestPendingAt: () => number | undefined;
  readonly walBytes?: () => number;
  readonly now: () => number;
  readonly logger: Logger;
}

export interface PipelineStatusPublisher {
  start(): void;
  /** Publishes `online: false` (retained), then stops; idempotent. */
  stop(): Promise<void>;
  /** The status as it would be published now. */
  current(): PipelineStatus;
}

/**
 * Publishes the pipeline's health, retained, every intervalMs on `cityops/v1/pipeline/{instance}`,
 * so that consumers of the live stream (alert rules) can tell "the devices are silent" from "the
 * warehouse is behind" or "ingest is gone". A crash leaves the last message retained: readers
 * judge it stale by `at`.
 */
export function createPipelineStatusPublisher(
  config: PipelineStatusPublisherConfig,
  deps: PipelineStatusPublisherDeps,
): PipelineStatusPublisher {
  const topic = topics.pipeline(config.instance);
  let timer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;

  function current(online = true, reason?: string): PipelineStatus {
    const at = Math.floor(deps.now());
    const oldest = deps.oldestPendingAt();
    return {
      instance: config.instance,
      at,
      backlogRows: Math.max(0, deps.backlogRows()),
      oldestPendingMs: oldest === undefined ? 0 : Math.max(0, Math.floor(at - oldest)),
      ...(deps.walBytes === undefined ? {} : { walBytes: deps.walBytes() }),
      online,
      ...(reason === undefined ? {} : { reason }),
    };
  }

  function publish(status: PipelineStatus): Promise<void> {
    return deps.publish(topic, Buffer.from(JSON.stringify(status)), { qos: 1, retain: true }).catch((err: unknown) => {
      deps.logger.warn({ err }, 'pipeline status not published');
    });
  }

  return {
    current: () => current(),
    start() {
      if (timer !== undefined || stopping !== undefined) return;
      void publish(current());
      timer = setInterval(() => void publish(current()), config.intervalMs);
      timer.unref();
    },
    stop() {
      stopping ??= (async () => {
        if (timer !== undefined) clearInterval(timer);
        timer = undefined;
        await publish(current(false, 'stopped'));
      })();
      return stopping;
    },
  };
}
