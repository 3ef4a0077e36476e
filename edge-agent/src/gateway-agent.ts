import { EventEmitter } from 'node:events';
import { compileSchemaCheck, createTelemetryCodec, isCityopsError, readingSchema, topics, type DeviceErrorReport, type Reading } from '@cityops/protocol';
import type { IClientOptions, MqttClient } from 'mqtt';
import { pino } from 'pino';
import { systemTimers, type AgentDeps } from './agent-deps.ts';
import { parseGatewayAgentConfig, type GatewayAgentConfig, type GatewayAgentConfigInput } from './agent-config.ts';
import { createBatcher, type Batcher } from './batcher.ts';
import { agentErrors } from './errors.ts';
import { createJournal, type DropEvent, type Journal, type JournalStats } from './journal/journal.ts';
import type { RecordRef } from './journal/lane.ts';
import type { Lane } from './journal/record-format.ts';
import { createMqttLink, type MqttLink } from './mqtt-link.ts';
import { createSender, type Sender } from './sender.ts';

export interface GatewayAgentDeps extends AgentDeps {
  /** mqtt.js `connect`, replaceable to observe or wrap the client. */
  readonly connect?: (url: string, options: IClientOptions) => MqttClient;
  /** Topics subscribed (QoS 1) on every connection besides the errors topic; their messages are `message` events. */
  readonly subscriptions?: readonly string[];
}

/** What a remote configuration may change while the agent runs (issue 18); read live by the batcher, push() and the journal. */
export interface GatewayRuntimeSettings {
  /** pino's level for the agent's logger (and the journal's and link's, which share it). */
  logLevel: string;
  batch: { maxReadings: number; maxDelayMs: number; maxPendingBatches: number };
  journal: { maxBytes: number; whenFull: GatewayAgentConfig['journal']['whenFull'] };
}

/** Events a CLI or a test can wait on. */
export interface GatewayAgentEvents {
  connected: [];
  disconnected: [];
  /** A batch is on disk (fsynced under `fsync: batch`) and will be sent. */
  journaled: [batch: RecordRef];
  published: [batch: RecordRef];
  /** The broker acknowledged a batch (PUBACK): it leaves the journal. */
  acked: [batch: RecordRef];
  dropped: [event: DropEvent];
  'ingest-error': [report: DeviceErrorReport];
  'reconnect-scheduled': [delayMs: number];
  /** A message on one of `deps.subscriptions`. */
  message: [topic: string, payload: Buffer];
  /** Everything accepted so far is acknowledged and its segments are deleted. */
  idle: [];
}

export interface GatewayAgentStats {
  deviceId: string;
  boot: number;
  connected: boolean;
  readingsAccepted: number;
  /** Readings refused by push() because they do not match the reading schema. */
  readingsRejected: number;
  readingsJournaled: number;
  batchesJournaled: number;
  batchesPublished: number;
  batchesAcked: number;
  batchesInflight: number;
  /** Connection attempts after the first. */
  reconnects: number;
  connections: number;
  ingestErrors: number;
  /** Failed journal appends (each retried after `journalRetryMs`). */
  journalErrors: number;
  /** Readings that never reached the journal because the agent stopped while the disk kept failing. */
  readingsLost: number;
  /** What waits in memory: open batches and closed batches not yet journaled. Both bounded. */
  memory: { batcherReadings: number; pendingBatches: number };
  journal: JournalStats;
  /** The counters of the source being consumed (a Modbus source's errors per kind, say), if it keeps any. */
  source?: Record<string, unknown>;
}

export interface GatewayAgent {
  start(): Promise<void>;
  /** Journals what is in memory, says "offline", disconnects, closes the journal. Idempotent. */
  stop(): Promise<void>;
  /**
   * Accepts a reading. Resolves at once unless `batch.maxPendingBatches` closed batches wait for
   * the disk; then it waits (back-pressure). Await it. An invalid reading is counted and skipped.
   */
  push(reading: Reading): Promise<void>;
  /** Pushes everything from a source until it ends or the agent stops. */
  consume(source: AsyncIterable<Reading>): Promise<void>;
  /** Closes open batches now instead of waiting for `maxDelayMs`. */
  flush(): void;
  /** Resolves when everything accepted so far is acknowledged and deleted from the journal. */
  waitForIdle(): Promise<void>;
  stats(): GatewayAgentStats;
  /** The settings in force (the config's, or the last `reconfigure`). */
  settings(): GatewayRuntimeSettings;
  /** Changes batch and journal bounds at once, between two readings; already closed batches keep their size. */
  reconfigure(settings: GatewayRuntimeSettings): void;
  /** QoS 1 on the current connection; rejects when not connected (the caller retries on `connected`). */
  publishMessage(topic: string, payload: Buffer): Promise<void>;
  /** The boot number of this run (after start). */
  readonly boot: number;
  readonly config: GatewayAgentConfig;
  on<K extends keyof GatewayAgentEvents>(event: K, listener: (...args: GatewayAgentEvents[K]) => void): void;
  once<K extends keyof GatewayAgentEvents>(event: K, listener: (...args: GatewayAgentEvents[K]) => void): void;
  off<K extends keyof GatewayAgentEvents>(event: K, listener: (...args: GatewayAgentEvents[K]) => void): void;
}

/** After a failed append the batch is retried after this long (the disk may come back). */
const JOURNAL_RETRY_MS = 1000;

const checkReading = compileSchemaCheck(readingSchema);

/**
 * The gateway agent: readings -> batches -> on-disk journal -> MQTT (QoS 1) -> deleted on PUBACK.
 * Start order: journal (takes a new boot), MQTT link, sender, batcher; stop releases in reverse.
 */
export function createGatewayAgent(input: GatewayAgentConfigInput, deps: GatewayAgentDeps = {}): GatewayAgent {
  const config = parseGatewayAgentConfig(input);
  const logger = (deps.logger ?? pino({ name: 'edge-agent' })).child({ deviceId: config.deviceId });
  const timers = deps.timers ?? systemTimers;
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const events = new EventEmitter<GatewayAgentEvents>();
  const codec = createTelemetryCodec();
  const counters = {
    readingsAccepted: 0,
    readingsRejected: 0,
    readingsJournaled: 0,
    batchesJournaled: 0,
    batchesPublished: 0,
    batchesAcked: 0,
    journalErrors: 0,
    readingsLost: 0,
  };
  const appendQueue: { lane: Lane; readings: Reading[] }[] = [];
  const writers: (() => void)[] = []; // push() calls waiting for room in appendQueue
  const idleWaiters: (() => void)[] = [];
  let appending: Promise<void> | undefined;
  let state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  let boot = 0;
  let nextSeq = 0;
  let link: MqttLink | undefined;
  let sender: Sender | undefined;
  let retryTimer: unknown;
  let wakeRetry: (() => void) | undefined;
  let consumed: { stats?: () => object } | undefined;

  // Mutable copies: reconfigure() changes them in place, and their readers look them up per call.
  const live = { batch: { ...config.batch }, journal: { dir: config.journalDir, ...config.journal } };
  const journal: Journal = createJournal(
    live.journal,
    { logger, timers, now },
    {
      onDrop: (event) => {
        events.emit('dropped', event);
        checkIdle();
      },
      onReclaim: () => checkIdle(),
    },
  );

  const batcher: Batcher = createBatcher(live.batch, {
    timers,
    onBatch: (lane, readings) => {
      appendQueue.push({ lane, readings });
      kickAppends();
    },
  });

  function kickAppends(): void {
    if (appending !== undefined) return;
    appending = drainAppends().finally(() => {
      appending = undefined;
      // A batch closed between the drain's last look and now must not wait for the next one.
      if (appendQueue.length > 0) kickAppends();
      else checkIdle();
    });
  }

  function isIdle(): boolean {
    return batcher.size === 0 && appendQueue.length === 0 && appending === undefined && journal.stats().bytes === 0;
  }

  function checkIdle(): void {
    if (idleWaiters.length === 0 && events.listenerCount('idle') === 0) return;
    if (!isIdle()) return;
    for (const resolve of idleWaiters.splice(0)) resolve();
    events.emit('idle');
  }

  function releaseWriters(): void {
    for (const resolve of writers.splice(0)) resolve();
  }

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      wakeRetry = resolve;
      retryTimer = timers.setTimeout(resolve, ms);
    });
  }

  /** Journals closed batches in order; `seq` is taken here, so it rises in journal order. */
  async function drainAppends(): Promise<void> {
    for (let next = appendQueue[0]; next !== undefined; next = appendQueue[0]) {
      const { lane, readings } = next;
      const seq = nextSeq++;
      const payload = codec.encode({ boot, seq, readings });
      for (;;) {
        try {
          const ref = await journal.append(lane, { boot, seq, readings: readings.length }, payload);
          if (ref !== undefined) {
            counters.batchesJournaled++;
            counters.readingsJournaled += readings.length;
            events.emit('journaled', ref);
            sender?.wake();
          }
          break;
        } catch (err) {
          counters.journalErrors++;
          logger.error({ err, lane, seq }, 'journal append failed; retrying');
          if (state !== 'running') {
            counters.readingsLost += readings.length;
            break;
          }
          // Hold the batch (and, through the bounded queue, the sources) until the disk answers.
          await pause(JOURNAL_RETRY_MS);
        }
      }
      appendQueue.shift();
      releaseWriters();
    }
  }

  async function push(reading: Reading): Promise<void> {
    if (state !== 'running') throw agentErrors.AGENT_ERR_STOPPED(`state is ${state}`);
    const problems = checkReading(reading);
    if (problems.length === 0 && !Number.isFinite(reading.value)) problems.push('/value must be a finite number');
    if (problems.length > 0) {
      counters.readingsRejected++;
      logger.warn({ err: agentErrors.AGENT_ERR_READING_INVALID(problems.join('; ')), rejected: counters.readingsRejected }, 'reading rejected');
      return;
    }
    while (appendQueue.length >= live.batch.maxPendingBatches) {
      await new Promise<void>((resolve) => writers.push(resolve));
      if (state !== 'running') throw agentErrors.AGENT_ERR_STOPPED('the agent stopped while the reading waited for the journal');
    }
    counters.readingsAccepted++;
    batcher.add(reading);
  }

  async function start(): Promise<void> {
    const opened = await journal.open().catch((err: unknown) => {
      throw isCityopsError(err) ? err : agentErrors.AGENT_ERR_JOURNAL_IO(`cannot open the journal in ${config.journalDir}: ${(err as Error).message}`, err);
    });
    boot = opened.boot;
    logger.info({ boot, fromClock: opened.bootFromClock, journal: journal.stats() }, 'journal open');
    const mqttLink = createMqttLink(
      { deviceId: config.deviceId, boot, ...config.mqtt },
      {
        logger,
        timers,
        random,
        now,
        ...(deps.connect === undefined ? {} : { connect: deps.connect }),
        onConnected: (generation) => {
          sender?.connected(generation);
          events.emit('connected');
        },
        onDisconnected: () => {
          sender?.disconnected();
          events.emit('disconnected');
        },
        onIngestError: (report) => events.emit('ingest-error', report),
        ...(deps.subscriptions === undefined ? {} : { subscriptions: deps.subscriptions, onMessage: (topic, payload) => events.emit('message', topic, payload) }),
        onReconnectScheduled: (delayMs) => events.emit('reconnect-scheduled', delayMs),
      },
    );
    link = mqttLink;
    sender = createSender(
      { topic: topics.telemetry(config.deviceId), maxInflight: config.mqtt.maxInflight, ackTimeoutMs: config.mqtt.ackTimeoutMs },
      {
        journal,
        link: mqttLink,
        logger,
        timers,
        onPublished: (ref) => {
          counters.batchesPublished++;
          events.emit('published', ref);
        },
        onAcked: (ref) => {
          counters.batchesAcked++;
          events.emit('acked', ref);
          checkIdle();
        },
      },
    );
    mqttLink.start();
    state = 'running';
  }

  async function stop(): Promise<void> {
    if (starting !== undefined) await starting.catch(() => undefined);
    if (state === 'new') {
      state = 'stopped';
      return;
    }
    state = 'stopping';
    releaseWriters();
    // What is still in memory goes to disk; it is sent after the next start if not now.
    batcher.flush();
    batcher.stop();
    timers.clearTimeout(retryTimer);
    wakeRetry?.();
    while (appending !== undefined) await appending;
    sender?.stop();
    await link?.stop();
    await journal.close();
    state = 'stopped';
    logger.info({ stats: snapshot() }, 'gateway agent stopped');
  }

  function snapshot(): GatewayAgentStats {
    const mqtt = link?.stats();
    return {
      deviceId: config.deviceId,
      boot,
      connected: mqtt?.connected ?? false,
      ...counters,
      batchesInflight: sender?.inflight ?? 0,
      reconnects: mqtt?.reconnects ?? 0,
      connections: mqtt?.connections ?? 0,
      ingestErrors: mqtt?.ingestErrors ?? 0,
      memory: { batcherReadings: batcher.size, pendingBatches: appendQueue.length },
      journal: journal.stats(),
      ...(consumed?.stats === undefined ? {} : { source: consumed.stats() as Record<string, unknown> }),
    };
  }

  return {
    start() {
      if (state !== 'new') return starting ?? Promise.resolve();
      state = 'starting';
      starting = start().catch(async (err: unknown) => {
        state = 'stopping';
        await journal.close().catch(() => undefined);
        state = 'stopped';
        throw err;
      });
      return starting;
    },
    stop() {
      stopping ??= stop();
      return stopping;
    },
    push,
    async consume(source) {
      consumed = source as { stats?: () => object };
      for await (const reading of source) {
        if (state !== 'running') return;
        try {
          await push(reading);
        } catch (err) {
          if ((err as { code?: string }).code === 'AGENT_ERR_STOPPED') return;
          throw err;
        }
      }
    },
    flush: () => batcher.flush(),
    waitForIdle() {
      if (isIdle()) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    stats: snapshot,
    settings: () => ({
      logLevel: logger.level,
      batch: { maxReadings: live.batch.maxReadings, maxDelayMs: live.batch.maxDelayMs, maxPendingBatches: live.batch.maxPendingBatches },
      journal: { maxBytes: live.journal.maxBytes, whenFull: live.journal.whenFull },
    }),
    reconfigure(settings) {
      logger.level = settings.logLevel;
      Object.assign(live.batch, settings.batch);
      Object.assign(live.journal, settings.journal);
      releaseWriters(); // a larger maxPendingBatches lets waiting push() calls go on
    },
    publishMessage(topic, payload) {
      const current = link;
      if (current === undefined) return Promise.reject(agentErrors.AGENT_ERR_MQTT('not started'));
      return new Promise((resolve, reject) => current.publish(topic, payload, (err) => (err === undefined ? resolve() : reject(err))));
    },
    get boot() {
      return boot;
    },
    config,
    on: (event, listener) => void events.on(event, listener as never),
    once: (event, listener) => void events.once(event, listener as never),
    off: (event, listener) => void events.off(event, listener as never),
  };
}
