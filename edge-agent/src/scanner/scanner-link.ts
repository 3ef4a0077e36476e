import { topics } from '@cityops/protocol';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Timers } from '../agent-deps.ts';
import { createBackoff } from '../backoff.ts';
import type { Random } from '../seeded-random.ts';
import { scannerErrors } from './scanner-errors.ts';

export interface ScannerLinkConfig {
  readonly scannerId: string;
  readonly url: string;
  readonly password?: string | undefined;
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly rejectUnauthorized?: boolean } | undefined;
  readonly keepaliveSec: number;
  readonly connectTimeoutMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly stopTimeoutMs: number;
  /** Topics read besides the responses (the pushed reference data); a refusal costs only them. */
  readonly extraTopics?: readonly string[] | undefined;
}

export interface ScannerLinkDeps {
  readonly logger: Logger;
  readonly timers: Timers;
  readonly random: Random;
  readonly connect?: (url: string, options: IClientOptions) => MqttClient;
  /** Connected and subscribed to the scanner's response topic: requests may go out. */
  readonly onReady: () => void;
  readonly onLost: () => void;
  /** A message on `cityops/v1/verify-res/{scanner}`. */
  readonly onResponse: (payload: Buffer) => void;
  /** A message on one of `extraTopics`. */
  readonly onMessage?: (topic: string, payload: Buffer) => void;
}

export interface ScannerLink {
  start(): void;
  stop(): Promise<void>;
  /** Connected and subscribed. */
  readonly ready: boolean;
  /** QoS 1 publish; `done` runs on PUBACK, or with an error when none can come (no connection, lost). */
  publish(topic: string, payload: string, done: (err?: Error) => void): void;
  stats(): { ready: boolean; connections: number; reconnects: number };
}

/**
 * The scanner's MQTT 3.1.1 connection, as the gateway's mqtt-link.ts makes it: a fresh mqtt.js
 * client per attempt (clean session, `reconnectPeriod: 0`), re-made after a loss with the agent's
 * jittered exponential backoff, so a district of scanners that lost the broker together does not
 * come back in one wave. After each connect it subscribes to its own response topic (a clean
 * session forgets subscriptions) and only then reports ready: a request never goes out before
 * its answer can be heard. Nothing queues in mqtt.js while disconnected.
 */
export function createScannerLink(config: ScannerLinkConfig, deps: ScannerLinkDeps): ScannerLink {
  const { logger, timers } = deps;
  const connectFn = deps.connect ?? connect;
  const backoff = createBackoff({ minMs: config.reconnectMinMs, maxMs: config.reconnectMaxMs }, deps.random);
  const responseTopic = topics.verifyResponse(config.scannerId);
  const extraTopics = config.extraTopics ?? [];
  let client: MqttClient | undefined;
  let ready = false;
  let connections = 0;
  let reconnects = 0;
  let reconnectTimer: unknown;
  let state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';

  function options(): IClientOptions {
    const { tls } = config;
    return {
      clientId: config.scannerId,
      username: config.scannerId,
      ...(config.password === undefined ? {} : { password: config.password }),
      protocolVersion: 4, // MQTT 3.1.1: aedes 1.2 refuses 5
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: config.connectTimeoutMs,
      keepalive: config.keepaliveSec,
      resubscribe: false,
      queueQoSZero: false,
      ...(tls?.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls?.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls?.key === undefined ? {} : { key: tls.key }),
      ...(tls?.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
    };
  }

  function attempt(): void {
    const c = connectFn(config.url, options());
    client = c;
    c.on('connect', () => {
      if (c !== client || state !== 'running') return;
      // Requests are small writes that wait for an answer: Nagle's algorithm would hold one back
      // until the previous segment is acknowledged, which a delayed ACK makes ~40 ms (RFC 1122 §4.2.3.2).
      (c.stream as { setNoDelay?: (noDelay: boolean) => void } | undefined)?.setNoDelay?.(true);
      connections++;
      backoff.reset();
      c.subscribe([responseTopic, ...extraTopics], { qos: 1 }, (err, granted) => {
        if (c !== client || state !== 'running') return;
        // MQTT 3.1.1 §3.9.3: return code 0x80 is a refusal (an ACL that does not know the scanner).
        const refused = new Set((granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic));
        for (const topic of extraTopics.filter((t) => refused.has(t))) {
          logger.warn({ err: scannerErrors.SCANNER_ERR_MQTT(`subscription to ${topic} refused`) }, 'no pushed reference data; polling only');
        }
        if (err != null || refused.has(responseTopic)) {
          logger.error({ err: scannerErrors.SCANNER_ERR_MQTT(`subscription to ${responseTopic} refused`, err ?? undefined) }, 'cannot hear the verifier');
          c.stream?.destroy();
          return;
        }
        ready = true;
        logger.info({ url: config.url }, 'connected to broker');
        deps.onReady();
      });
    });
    c.on('message', (topic, payload) => {
      if (topic === responseTopic) deps.onResponse(payload);
      else if (extraTopics.includes(topic)) deps.onMessage?.(topic, payload);
    });
    c.on('error', (err) => logger.warn({ err: scannerErrors.SCANNER_ERR_MQTT(err.message, err), url: config.url }, 'mqtt error'));
    c.on('close', () => lost(c));
  }

  function lost(c: MqttClient): void {
    if (c !== client) return;
    client = undefined;
    const wasReady = ready;
    ready = false;
    if (wasReady) {
      // Our own stop closes the connection too: that is no loss worth a warning (issue 19: a quiet Ctrl-C).
      if (state === 'running') logger.warn('connection to broker lost');
      else logger.info('disconnected from broker (stopping)');
      deps.onLost();
    }
    c.end(true);
    c.removeAllListeners('connect');
    c.removeAllListeners('message');
    if (state === 'running') {
      const delayMs = backoff.next();
      reconnects++;
      reconnectTimer = timers.setTimeout(() => {
        reconnectTimer = undefined;
        if (state === 'running') attempt();
      }, delayMs);
    }
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
      if (c !== undefined && c.connected) {
        const ended = await new Promise<boolean>((resolve) => {
          const timer = timers.setTimeout(() => resolve(false), config.stopTimeoutMs);
          c.end(false, {}, () => {
            timers.clearTimeout(timer);
            resolve(true);
          });
        });
        if (!ended) c.stream?.destroy();
      } else {
        c?.end(true);
      }
      if (c !== undefined) lost(c);
      state = 'stopped';
    },
    get ready() {
      return ready;
    },
    publish(topic, payload, done) {
      const c = client;
      if (c === undefined || !ready) {
        queueMicrotask(() => done(scannerErrors.SCANNER_ERR_MQTT('not connected')));
        return;
      }
      c.publish(topic, payload, { qos: 1 }, (err) => done(err ?? undefined));
    },
    stats: () => ({ ready, connections, reconnects }),
  };
}
