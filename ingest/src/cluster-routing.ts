import { Redis, type RedisOptions } from 'ioredis';
import aedesPersistenceRedis from 'aedes-persistence-redis';
import mqemitterRedis from 'mqemitter-redis';
import type { Logger } from 'pino';
import { ingestErrors } from './errors.ts';
import type { IngestMetrics } from './ingest-metrics.ts';

export interface ClusterRoutingConfig {
  readonly redisUrl: string;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  readonly reconnectMaxMs: number;
  readonly maxSessionDelivery: number;
  readonly offlineMessageTtlSeconds: number;
}

export interface ClusterRoutingDeps {
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
}

/** What aedes gets as `mq` and `persistence`, and what ingest needs to fail closed. */
export interface ClusterRouting {
  /** Connects the three Redis connections; rejects with INGEST_ERR_CLUSTER_UNAVAILABLE if it cannot. */
  start(): Promise<void>;
  /** aedes' `mq` (mqemitter-redis): every publish goes through Redis pub/sub, to every instance once. */
  mq(): unknown;
  /** aedes' `persistence` (aedes-persistence-redis): retained messages, sessions, offline queues. */
  persistence(): unknown;
  /** The command connection (the instance lease uses it too). */
  redis(): Redis;
  /** True while every connection is ready; while false, ingest accepts nothing over MQTT. */
  available(): boolean;
  /** Closes whatever aedes has not closed; bounded by commandTimeoutMs even when Redis is gone. */
  stop(): Promise<void>;
}

type Role = 'publish' | 'subscribe' | 'store';

/**
 * The Redis side of a clustered broker: mqemitter-redis for routing between instances and
 * aedes-persistence-redis for state that must outlive an instance. The connections are ours, not
 * the libraries', so that every one is bounded: commands fail after commandTimeoutMs, publishing
 * and storing fail at once while disconnected (no offline queue growing in memory), reconnecting
 * backs off up to reconnectMaxMs and never stops.
 */
export function createClusterRouting(config: ClusterRoutingConfig, deps: ClusterRoutingDeps): ClusterRouting {
  const { metrics, logger } = deps;
  const base: RedisOptions = {
    lazyConnect: true,
    connectTimeout: config.connectTimeoutMs,
    commandTimeout: config.commandTimeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), config.reconnectMaxMs),
  };
  const connections: Record<Role, Redis> = {
    publish: new Redis(config.redisUrl, { ...base, enableOfflineQueue: false, connectionName: 'cityops-ingest-publish' }),
    // Subscribes issued while disconnected wait for the reconnect instead of failing: mqemitter-redis
    // ignores a failed SUBSCRIBE, which would leave a subscriber deaf without anyone knowing.
    // Subscriptions are refused while Redis is down, so this queue stays small.
    subscribe: new Redis(config.redisUrl, { ...base, enableOfflineQueue: true, connectionName: 'cityops-ingest-subscribe' }),
    store: new Redis(config.redisUrl, { ...base, enableOfflineQueue: false, connectionName: 'cityops-ingest-store' }),
  };
  let up = false;
  let mq: ReturnType<typeof mqemitterRedis> | undefined;
  let persistence: unknown;
  let stopping: Promise<void> | undefined;

  function update(): void {
    const now = Object.values(connections).every((c) => c.status === 'ready');
    if (now === up) return;
    up = now;
    metrics.clusterUp.set(up ? 1 : 0);
    if (up) logger.info('cluster routing: Redis connections ready');
    else logger.error('cluster routing: Redis unavailable; refusing connections, publishes and subscriptions until it is back');
  }

  for (const [role, conn] of Object.entries(connections)) {
    conn.on('ready', update);
    conn.on('close', update);
    conn.on('end', update);
    // Without a listener an ioredis 'error' would crash the process; reconnecting is automatic.
    conn.on('error', (err: Error) => logger.debug({ role, err: err.message }, 'cluster routing: Redis connection error'));
  }

  async function disconnectAll(): Promise<void> {
    await Promise.all(
      Object.values(connections).map(async (conn) => {
        if (conn.status === 'end') return;
        if (conn.status === 'ready') {
          const timer = setTimeout(() => conn.disconnect(), config.commandTimeoutMs);
          await conn.quit().catch(() => undefined);
          clearTimeout(timer);
        }
        conn.disconnect();
      }),
    );
    update();
  }

  return {
    async start() {
      try {
        await Promise.all(Object.values(connections).map((c) => c.connect()));
      } catch (err) {
        await disconnectAll();
        throw ingestErrors.INGEST_ERR_CLUSTER_UNAVAILABLE(`cannot connect to ${redactedUrl(config.redisUrl)}`, err);
      }
      update();
      const emitter = mqemitterRedis({
        pubConn: connections.publish,
        subConn: connections.subscribe,
        // aedes' own default mq: '#' also matches the parent level [MQTT-4.7.1-3].
        matchEmptyLevels: true,
      });
      // mqemitter-redis re-emits connection errors here; unheard, they would crash the process.
      (emitter as unknown as { state: NodeJS.EventEmitter }).state.on('error', (err: Error) =>
        logger.debug({ err: err.message }, 'cluster routing: mqemitter-redis error'),
      );
      const emit = emitter.emit.bind(emitter);
      // A publish that cannot reach Redis reaches no subscriber on any instance: counted and
      // reported to the publisher (aedes closes a client's connection; ingest's own publishes reject).
      emitter.emit = (message, cb) => {
        emit(message, (err) => {
          if (err) {
            metrics.clusterErrors.inc({ operation: 'route' });
            logger.warn({ err: err.message, topic: message.topic }, 'cluster routing: publish not routed');
          }
          cb?.(err);
        });
      };
      const close = emitter.close.bind(emitter);
      // mqemitter-redis' close() calls quit() and drops the promise: while Redis is down that is an
      // unhandled rejection.
      for (const conn of [connections.publish, connections.subscribe]) {
        const quit = conn.quit.bind(conn);
        conn.quit = (() => quit().catch(() => 'OK')) as unknown as typeof conn.quit;
      }
      // aedes.close() waits for mq.close(), which waits for both connections to end: bounded here,
      // so that an instance stops even while Redis is unreachable.
      emitter.close = (cb: () => void) => {
        const healthy = connections.publish.status === 'ready' && connections.subscribe.status === 'ready';
        let finished = false;
        const finish = () => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          cb();
        };
        const timer = setTimeout(() => {
          connections.publish.disconnect();
          connections.subscribe.disconnect();
          finish();
        }, healthy ? config.commandTimeoutMs : 0);
        close(finish);
      };
      mq = emitter;
      persistence = aedesPersistenceRedis({
        conn: connections.store,
        maxSessionDelivery: config.maxSessionDelivery,
        packetTTL: () => config.offlineMessageTtlSeconds,
      });
    },
    mq() {
      if (mq === undefined) throw new Error('cluster routing not started');
      return mq;
    },
    persistence() {
      if (persistence === undefined) throw new Error('cluster routing not started');
      return persistence;
    },
    redis: () => connections.store,
    available: () => up,
    stop() {
      stopping ??= disconnectAll();
      return stopping;
    },
  };
}

function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured Redis URL';
  }
}
