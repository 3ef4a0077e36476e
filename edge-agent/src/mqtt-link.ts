import { createDeviceErrorReportParser, topics, type DeviceErrorReport } from '@cityops/protocol';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Timers } from './agent-deps.ts';
import { createBackoff } from './backoff.ts';
import { agentErrors } from './errors.ts';
import type { Random } from './seeded-random.ts';

export interface MqttLinkConfig {
  readonly deviceId: string;
  readonly boot: number;
  readonly url: string;
  readonly password?: string;
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly rejectUnauthorized?: boolean };
  readonly keepaliveSec: number;
  readonly connectTimeoutMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly stopTimeoutMs: number;
}

export interface MqttLinkDeps {
  readonly logger: Logger;
  readonly timers: Timers;
  readonly random: Random;
  readonly now: () => number;
  /** mqtt.js `connect`, replaceable to observe the options or to wrap the client. */
  readonly connect?: (url: string, options: IClientOptions) => MqttClient;
  readonly onConnected: (generation: number) => void;
  readonly onDisconnected: (generation: number) => void;
  readonly onIngestError: (report: DeviceErrorReport) => void;
  /** Every backoff delay chosen, for tests and metrics. */
  readonly onReconnectScheduled?: (delayMs: number) => void;
  /** Subscribed (QoS 1) on every connection; their messages go to `onMessage` (a retained one arrives at each). */
  readonly subscriptions?: readonly string[];
  readonly onMessage?: (topic: string, payload: Buffer) => void;
}

export interface MqttLinkStats {
  connected: boolean;
  /** Connection attempts after the first one. */
  reconnects: number;
  connections: number;
  ingestErrors: number;
}

export interface MqttLink {
  start(): void;
  stop(): Promise<void>;
  readonly connected: boolean;
  /** Changes with every connection: an acknowledgement from an older one is not trusted. */
  readonly generation: number;
  /** QoS 1 publish on the current connection; `done` runs on PUBACK, or with an error when it cannot come. */
  publish(topic: string, payload: Buffer, done: (err?: Error) => void): void;
  /** Drops the connection (e.g. PUBACKs stopped coming) and reconnects after the backoff. */
  recycle(reason: Error): void;
  stats(): MqttLinkStats;
}

/**
 * One MQTT 3.1.1 connection to the broker, re-made after every loss with jittered exponential
 * backoff. Each attempt uses a fresh mqtt.js client with `reconnectPeriod: 0` and a clean session:
 * the journal, not mqtt.js, holds what is unacknowledged, so nothing of a dead connection (its
 * outgoing store, its pending callbacks) is kept. After a reconnect the sender replays from the
 * journal; MQTT 3.1.1 §4.4 gives no redelivery to rely on with CleanSession = 1 anyway.
 */
export function createMqttLink(config: MqttLinkConfig, deps: MqttLinkDeps): MqttLink {
  const { logger, timers } = deps;
  const connectFn = deps.connect ?? connect;
  const backoff = createBackoff({ minMs: config.reconnectMinMs, maxMs: config.reconnectMaxMs }, deps.random);
  const statusTopic = topics.status(config.deviceId);
  const errorsTopic = topics.errors(config.deviceId);
  const parseDeviceErrorReport = createDeviceErrorReportParser();
  const stats: MqttLinkStats = { connected: false, reconnects: 0, connections: 0, ingestErrors: 0 };
  let client: MqttClient | undefined;
  let generation = 0;
  let reconnectTimer: unknown;
  let state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';

  const status = (online: boolean, reason?: string) =>
    JSON.stringify({ online, boot: config.boot, ts: Math.floor(deps.now()), ...(reason === undefined ? {} : { reason }) });

  function options(): IClientOptions {
    const { tls } = config;
    return {
      clientId: config.deviceId,
      username: config.deviceId,
      ...(config.password === undefined ? {} : { password: config.password }),
      protocolVersion: 4, // MQTT 3.1.1: aedes 1.2 refuses 5
      clean: true,
      reconnectPeriod: 0, // we reconnect ourselves, with jitter
      connectTimeout: config.connectTimeoutMs,
      keepalive: config.keepaliveSec,
      resubscribe: false,
      queueQoSZero: false, // nothing queues in mqtt.js while offline
      // mqtt-packet would otherwise build a cache of 65,536 two-byte Buffers (6 MiB of heap, measured)
      // on the first packet, to save a 2-byte allocation per packet id; not worth it on a gateway.
      writeCache: false,
      // MQTT 3.1.1 §3.1.2.5: the broker publishes the will when we vanish without a DISCONNECT.
      will: { topic: statusTopic, payload: Buffer.from(status(false, 'connection-lost')), qos: 1, retain: true },
      ...(tls?.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls?.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls?.key === undefined ? {} : { key: tls.key }),
      ...(tls?.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
    };
  }

  function attempt(): void {
    generation++;
    const gen = generation;
    const c = connectFn(config.url, options());
    client = c;
    c.on('connect', () => {
      if (c !== client || state !== 'running') return;
      stats.connected = true;
      stats.connections++;
      backoff.reset();
      logger.info({ url: config.url, generation: gen }, 'connected to broker');
      c.subscribe(errorsTopic, { qos: 1 }, (err) => {
        if (err) logger.warn({ err: agentErrors.AGENT_ERR_MQTT(`subscribe ${errorsTopic}`, err) }, 'cannot hear ingest errors');
      });
      for (const topic of deps.subscriptions ?? []) {
        c.subscribe(topic, { qos: 1 }, (err) => {
          if (err) logger.warn({ err: agentErrors.AGENT_ERR_MQTT(`subscribe ${topic}`, err) }, 'subscription refused');
        });
      }
      c.publish(statusTopic, status(true), { qos: 1, retain: true }, (err) => {
        if (err && c === client) logger.warn({ err: agentErrors.AGENT_ERR_MQTT('online status', err) }, 'status not published');
      });
      deps.onConnected(gen);
    });
    c.on('message', (topic, payload) => {
      if (topic !== errorsTopic) return void deps.onMessage?.(topic, payload);
      const report = parseDeviceErrorReport(payload);
      stats.ingestErrors++;
      logger.warn({ err: agentErrors.AGENT_ERR_INGEST_REPORTED(`${report.code}: ${report.message}`), report }, 'ingest reported an error');
      deps.onIngestError(report);
    });
    c.on('error', (err) => {
      logger.warn({ err: agentErrors.AGENT_ERR_MQTT(err.message, err), url: config.url }, 'mqtt error');
    });
    c.on('close', () => lost(c, gen));
  }

  function lost(c: MqttClient, gen: number): void {
    if (c !== client) return;
    client = undefined;
    const wasConnected = stats.connected;
    stats.connected = false;
    // Tell the sender first, so that the callbacks failed below are known to be from a dead connection.
    if (wasConnected) {
      // Our own stop closes the connection too: that is no loss worth a warning (issue 19: a quiet Ctrl-C).
      if (state === 'running') logger.warn({ generation: gen }, 'connection to broker lost');
      else logger.info({ generation: gen }, 'disconnected from broker (stopping)');
      deps.onDisconnected(gen);
    }
    // Runs pending publish callbacks with an error and drops the client's stores (reconnectPeriod 0 + clean).
    c.end(true);
    c.removeAllListeners('connect');
    c.removeAllListeners('message');
    if (state === 'running') scheduleReconnect();
  }

  function scheduleReconnect(): void {
    const delayMs = backoff.next();
    stats.reconnects++;
    deps.onReconnectScheduled?.(delayMs);
    logger.info({ delayMs, attempt: backoff.attempts }, 'reconnecting after backoff');
    reconnectTimer = timers.setTimeout(() => {
      reconnectTimer = undefined;
      if (state === 'running') attempt();
    }, delayMs);
  }

  function waitFor(start: (done: () => void) => void, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = timers.setTimeout(() => resolve(false), ms);
      start(() => {
        timers.clearTimeout(timer);
        resolve(true);
      });
    });
  }

  return {
    start() {
      if (state !== 'new') return;
      state = 'running';
      attempt();
    },

    async stop() {
      if (state === 'stopping' || state === 'stopped') return;
      state = 'stopping';
      timers.clearTimeout(reconnectTimer);
      const c = client;
      if (c !== undefined && stats.connected) {
        // MQTT 3.1.1 §3.14.4: after our DISCONNECT the broker discards the will, so say "offline" ourselves.
        await waitFor((done) => c.publish(statusTopic, status(false, 'stopped'), { qos: 1, retain: true }, () => done()), config.stopTimeoutMs);
        // A clean end waits for batches still in flight; the timeout bounds that wait.
        const ended = await waitFor((done) => c.end(false, {}, () => done()), config.stopTimeoutMs);
        if (!ended) c.stream?.destroy();
      } else {
        c?.end(true);
      }
      if (c !== undefined) lost(c, generation);
      state = 'stopped';
    },

    get connected() {
      return stats.connected;
    },
    get generation() {
      return generation;
    },

    publish(topic, payload, done) {
      const c = client;
      if (c === undefined || !stats.connected) {
        queueMicrotask(() => done(agentErrors.AGENT_ERR_MQTT('not connected')));
        return;
      }
      c.publish(topic, payload, { qos: 1 }, (err) => done(err ?? undefined));
    },

    recycle(reason) {
      const c = client;
      if (c === undefined || state !== 'running') return;
      logger.warn({ err: reason }, 'dropping the broker connection');
      c.stream?.destroy(); // 'close' follows, then lost() and a reconnect after backoff
    },

    stats: () => ({ ...stats }),
  };
}
