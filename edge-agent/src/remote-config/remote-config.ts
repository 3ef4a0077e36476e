import { EventEmitter } from 'node:events';
import { createDeviceConfigMessageReader, topics, type DeviceConfigMessage, type DeviceConfigReport } from '@cityops/protocol';
import type { Logger } from 'pino';
import { agentErrors } from '../errors.ts';
import type { GatewayAgent, GatewayRuntimeSettings } from '../gateway-agent.ts';
import { createLastGoodFile } from './last-good-file.ts';
import { planSettings, sourceSpecOf, type SourceSpec } from './plan-settings.ts';
import type { SlotSource, SourceSlot } from './source-slot.ts';

export interface RemoteConfigConfig {
  readonly deviceId: string;
  /** Where the last good version is kept (beside the journal, in the gateway's state directory). */
  readonly file: string;
}

export interface RemoteConfigDeps {
  /** The running agent: its settings, its MQTT connection (subscribed to the config topic), its journal's size. */
  readonly agent: GatewayAgent;
  readonly slot: SourceSlot;
  /** The source a version asks for; `{}`: the gateway's own (local) source. Throwing rejects the version. */
  readonly buildSource: (spec: SourceSpec) => SlotSource | Promise<SlotSource>;
  /**
   * Checks a register map, every problem with its path (the Modbus module's validateRegisterMap).
   * Absent: a version with a `modbus` member is rejected, since this gateway could not apply it.
   */
  readonly validateModbus?: (map: unknown) => readonly string[];
  readonly logger: Logger;
  readonly now?: () => number;
}

export interface RemoteConfigEvents {
  /** A version was applied or rejected (also at start, for the stored one). */
  outcome: [report: DeviceConfigReport];
  /** The broker acknowledged a report. */
  reported: [report: DeviceConfigReport];
}

export interface RemoteConfig {
  /** Applies the stored version (or the local settings and source), then listens for new versions. */
  start(): Promise<void>;
  /** Stops listening and waits for a version being applied; the source keeps running (the slot's owner stops it). */
  stop(): Promise<void>;
  /** The version in force; 0 when none was ever applied. */
  version(): number;
  /** Versions applied and rejected since start, and messages ignored (in force already, or older). */
  stats(): { version: number; applied: number; rejected: number; ignored: number };
  on<K extends keyof RemoteConfigEvents>(event: K, listener: (...args: RemoteConfigEvents[K]) => void): void;
  off<K extends keyof RemoteConfigEvents>(event: K, listener: (...args: RemoteConfigEvents[K]) => void): void;
}

/** Best effort: the version of a message too broken to read, so the operator sees which one failed. */
function versionIn(payload: Buffer): number {
  try {
    const version = (JSON.parse(payload.toString('utf8')) as { version?: unknown }).version;
    return Number.isSafeInteger(version) && (version as number) > 0 && (version as number) <= 4_294_967_295 ? (version as number) : 0;
  } catch {
    return 0;
  }
}

/**
 * The gateway's side of remote configuration (issue 18). A version arrives retained on
 * `cityops/v1/config/{device}`; it is checked whole (schema, register map, the journal's bounds, the
 * new source built) before anything changes, stored on disk, then applied: settings at once, the
 * source swapped (the old one stopped and drained into the journal first). Any problem rejects it and
 * leaves the running configuration in force. Each outcome is reported on the config-state topic, and
 * again after a reconnect until the broker acknowledges it.
 */
export function createRemoteConfig(config: RemoteConfigConfig, deps: RemoteConfigDeps): RemoteConfig {
  const { agent, slot, logger } = deps;
  const now = deps.now ?? Date.now;
  const events = new EventEmitter<RemoteConfigEvents>();
  const store = createLastGoodFile(config.file);
  const readMessage = createDeviceConfigMessageReader();
  const configTopic = topics.config(config.deviceId);
  const stateTopic = topics.configState(config.deviceId);
  const base: GatewayRuntimeSettings = agent.settings();
  let current = 0;
  let runningSpec: SourceSpec | undefined;
  let lastRejected = 0;
  let pending: DeviceConfigReport | undefined;
  // At most one version waits while another is applied: a newer one replaces it (bounded at one).
  let waiting: Buffer | undefined;
  let applying: Promise<void> | undefined;
  let stopped = false;
  const counts = { applied: 0, rejected: 0, ignored: 0 };

  function report(outcome: DeviceConfigReport): void {
    counts[outcome.state]++;
    events.emit('outcome', outcome);
    pending = outcome;
    sendPending();
  }

  function sendPending(): void {
    const outcome = pending;
    if (outcome === undefined || stopped) return;
    agent.publishMessage(stateTopic, Buffer.from(JSON.stringify(outcome))).then(
      () => {
        if (pending === outcome) pending = undefined;
        events.emit('reported', outcome);
      },
      // Not connected: sent again on the next connection.
      (err: unknown) => logger.debug({ err, version: outcome.version }, 'configuration state not reported yet'),
    );
  }

  function reject(version: number, problems: readonly string[]): void {
    lastRejected = Math.max(lastRejected, version);
    const reason = problems.join('; ').slice(0, 4000);
    logger.warn({ err: agentErrors.AGENT_ERR_CONFIG_REJECTED(reason), version, running: current }, 'remote configuration rejected');
    report({ version, state: 'rejected', reason, ts: Math.floor(now()) });
  }

  /** Checks, builds, stores and applies one version; undefined when applied, else every problem. */
  async function tryApply(message: DeviceConfigMessage, persist: boolean): Promise<string[] | undefined> {
    const journal = agent.stats().journal;
    const plan = planSettings(base, message.config, {
      segmentBytes: agent.config.journal.segmentBytes,
      journalBytes: journal.bytes,
      ...(deps.validateModbus === undefined ? {} : { validateModbus: deps.validateModbus }),
    });
    if (plan.problems.length > 0) return plan.problems;
    const spec = sourceSpecOf(message.config);
    const newSource = runningSpec !== undefined && JSON.stringify(spec) === JSON.stringify(runningSpec) ? undefined : spec;
    let built: SlotSource | undefined;
    if (newSource !== undefined) {
      try {
        built = await deps.buildSource(newSource);
      } catch (err) {
        return [`/config: the source cannot be built: ${(err as Error).message}`];
      }
    }
    if (persist) {
      try {
        await store.save(message);
      } catch (err) {
        await built?.stop().catch(() => undefined);
        return [(err as Error).message];
      }
    }
    agent.reconfigure(plan.settings);
    // The agent's logger is a child of this one (pino children keep their own level): both are set.
    logger.level = plan.settings.logLevel;
    if (built !== undefined) {
      await slot.swap(built);
      runningSpec = newSource;
    }
    current = message.version;
    logger.info({ version: current, sourceSwapped: built !== undefined, settings: plan.settings }, 'remote configuration applied');
    return undefined;
  }

  async function handle(payload: Buffer): Promise<void> {
    // An empty message clears the retained one (MQTT 3.1.1 §3.3.1.3): no version, nothing to do.
    if (payload.length === 0) {
      counts.ignored++;
      return;
    }
    const read = readMessage(payload);
    if (read.problems !== undefined) {
      const version = versionIn(payload);
      if (version === 0 || (version > current && version > lastRejected)) reject(version, read.problems);
      else counts.ignored++;
      return;
    }
    const message = read.value;
    // The retained version comes again with every connection: what is in force or was refused is not news.
    if (message.version <= current || message.version <= lastRejected) {
      counts.ignored++;
      if (message.version < current) logger.warn({ version: message.version, running: current }, 'older configuration version ignored');
      return;
    }
    const problems = await tryApply(message, true);
    if (problems === undefined) report({ version: message.version, state: 'applied', ts: Math.floor(now()) });
    else reject(message.version, problems);
  }

  function onMessage(topic: string, payload: Buffer): void {
    if (topic !== configTopic || stopped) return;
    waiting = payload;
    if (applying !== undefined) return;
    applying = (async () => {
      for (let next: Buffer | undefined = waiting; next !== undefined && !stopped; next = waiting) {
        waiting = undefined;
        await handle(next).catch((err: unknown) => logger.error({ err }, 'remote configuration failed'));
      }
    })().finally(() => {
      applying = undefined;
    });
  }

  const onConnected = () => sendPending();

  return {
    async start() {
      let stored: DeviceConfigMessage | undefined;
      try {
        stored = await store.load();
      } catch (err) {
        logger.error({ err }, 'stored remote configuration unreadable; starting with the local configuration');
      }
      const problems = stored === undefined ? undefined : await tryApply(stored, false);
      if (stored !== undefined && problems === undefined) {
        report({ version: stored.version, state: 'applied', ts: Math.floor(now()) });
      } else {
        if (stored !== undefined) {
          const err = agentErrors.AGENT_ERR_CONFIG_REJECTED((problems ?? []).join('; '));
          logger.error({ err, version: stored.version }, 'stored remote configuration no longer applies; using the local one');
        }
        await slot.swap(await deps.buildSource({}));
        runningSpec = {};
      }
      agent.on('message', onMessage);
      agent.on('connected', onConnected);
    },
    async stop() {
      stopped = true;
      agent.off('message', onMessage);
      agent.off('connected', onConnected);
      await applying;
    },
    version: () => current,
    stats: () => ({ version: current, ...counts }),
    on: (event, listener) => void events.on(event, listener as never),
    off: (event, listener) => void events.off(event, listener as never),
  };
}

