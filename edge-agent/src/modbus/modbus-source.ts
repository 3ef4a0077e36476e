import { isCityopsError, type Reading } from '@cityops/protocol';
import { pino, type Logger } from 'pino';
import { systemTimers, type Timers } from '../agent-deps.ts';
import { agentErrors } from '../errors.ts';
import type { ReadingSource } from '../reading-source.ts';
import { createWakeableDelay } from '../wakeable-delay.ts';
import { createModbusBus, type ModbusBus, type ModbusBusDeps, type ModbusBusStats } from './modbus-bus.ts';
import { planReads, type ReadRequest } from './read-plan.ts';
import type { RegisterMap, RegisterMapInput } from './register-map-schema.ts';
import { parseRegisterMap } from './register-map.ts';
import { decodeAnswer, toReading } from './register-readings.ts';
import { createSensorHealth, type ModbusErrorCounts, type SensorHealth } from './sensor-health.ts';

export interface ModbusSourceDeps extends ModbusBusDeps {
  readonly now?: () => number;
  readonly timers?: Timers;
  readonly logger?: Logger;
  /** A bus of one's own (tests); by default the map's connection through modbus-serial. */
  readonly bus?: ModbusBus;
}

export interface ModbusSourceStats extends ModbusErrorCounts {
  /** Read requests made (one per group of adjacent registers per poll). */
  polls: number;
  readings: number;
  alarms: number;
  /** Polls that fell due while the previous ones still ran (a slow bus): skipped, not queued. */
  missedPolls: number;
  /** Readings polled and not yet taken by the consumer (at most maxQueuedReadings, plus one request's). */
  queued: number;
  /** Sensors whose last read failed. */
  sensorsFailing: number;
  bus: ModbusBusStats;
}

export interface ModbusSource extends ReadingSource<ModbusSourceStats> {
  /** Starts polling (iterating starts it too). */
  start(): void;
  /**
   * Stops polling: waits for a request under way, closes the bus; the iteration then yields what
   * was already polled and ends, so nothing read is lost. Idempotent.
   */
  stop(): Promise<void>;
  /** Each sensor's error state (those never read are absent). */
  health(): SensorHealth[];
  readonly map: RegisterMap;
}

/**
 * Polls a Modbus register map and yields readings: every group of adjacent registers of one unit
 * and interval in one request, on its interval; a failed request marks its sensors failing (they
 * fall silent) and is counted and logged, never thrown. One request at a time: a serial line
 * carries one, and a TCP gateway in front of one serial line serialises anyway.
 */
export function createModbusSource(input: RegisterMapInput | RegisterMap, deps: ModbusSourceDeps = {}): ModbusSource {
  const map = parseRegisterMap(input);
  const now = deps.now ?? Date.now;
  const timers = deps.timers ?? systemTimers;
  const logger = deps.logger ?? pino({ name: 'edge-agent' });
  const bus = deps.bus ?? createModbusBus(map, deps);
  const health = createSensorHealth({ logger, now });
  const requests = planReads(map);
  const due = requests.map(() => 0);
  const delay = createWakeableDelay(timers);
  const queue: Reading[] = [];
  const counters = { polls: 0, readings: 0, alarms: 0, missedPolls: 0 };
  let consumerWaiting: (() => void) | undefined;
  let producerWaiting: (() => void) | undefined;
  let running = false;
  let loop: Promise<void> | undefined;
  let loopDone = false;
  let stopping: Promise<void> | undefined;
  let iterator: AsyncGenerator<Reading> | undefined;

  function wakeConsumer(): void {
    const wake = consumerWaiting;
    consumerWaiting = undefined;
    wake?.();
  }

  function wakeProducer(): void {
    const wake = producerWaiting;
    producerWaiting = undefined;
    wake?.();
  }

  async function room(): Promise<void> {
    // Back-pressure: a consumer slower than the polls delays the next poll instead of piling up.
    while (running && queue.length >= map.maxQueuedReadings) await new Promise<void>((resolve) => (producerWaiting = resolve));
  }

  async function poll(request: ReadRequest): Promise<void> {
    counters.polls++;
    let words: number[];
    try {
      words = await bus.read(request.unit, request.table, request.address, request.count);
    } catch (err) {
      const error = isCityopsError(err) ? err : agentErrors.AGENT_ERR_MODBUS_TRANSPORT((err as Error).message, err);
      health.failed(
        request.registers.map((r) => r.spec),
        error,
      );
      return;
    }
    const ts = Math.floor(now());
    for (const decoded of decodeAnswer(request, words)) {
      if (decoded.value === undefined) {
        health.failed([decoded.spec], agentErrors.AGENT_ERR_MODBUS_VALUE(`${decoded.spec.sensor} ${decoded.spec.metric}`));
        continue;
      }
      health.ok(decoded.spec);
      counters.readings++;
      if (decoded.alarm) counters.alarms++;
      queue.push(toReading({ ...decoded, value: decoded.value }, ts));
      wakeConsumer();
    }
  }

  async function run(): Promise<void> {
    const start = now();
    for (let i = 0; i < due.length; i++) due[i] = start;
    while (running) {
      const next = Math.min(...due);
      const wait = next - now();
      if (wait > 0) {
        await delay.wait(wait);
        continue;
      }
      for (let i = 0; i < requests.length && running; i++) {
        if (due[i]! > now()) continue;
        await room();
        if (!running) break;
        await poll(requests[i]!);
        const interval = requests[i]!.intervalMs;
        due[i]! += interval;
        // A bus slower than the schedule: skip to the next slot from now rather than catch up in a burst.
        if (due[i]! <= now()) {
          const missed = Math.floor((now() - due[i]!) / interval) + 1;
          counters.missedPolls += missed;
          due[i]! += missed * interval;
        }
      }
    }
  }

  function start(): void {
    if (running || loopDone || stopping !== undefined) return;
    running = true;
    loop = run()
      .catch((err: unknown) => logger.error({ err }, 'modbus poll loop failed'))
      .finally(() => {
        loopDone = true;
        wakeConsumer();
      });
  }

  async function* iterate(): AsyncGenerator<Reading> {
    start();
    for (;;) {
      const reading = queue.shift();
      if (reading !== undefined) {
        wakeProducer();
        yield reading;
        continue;
      }
      if (loopDone || (stopping !== undefined && loop === undefined)) return;
      await new Promise<void>((resolve) => (consumerWaiting = resolve));
    }
  }

  async function stop(): Promise<void> {
    running = false;
    delay.wake();
    wakeProducer();
    await loop;
    await bus.close();
    loopDone = true;
    wakeConsumer();
  }

  return {
    map,
    start,
    [Symbol.asyncIterator]() {
      iterator ??= iterate();
      return iterator;
    },
    stop() {
      stopping ??= stop();
      return stopping;
    },
    stats: () => ({
      ...counters,
      ...health.counts(),
      queued: queue.length,
      sensorsFailing: health.failing().length,
      bus: bus.stats(),
    }),
    health: () => health.all(),
  };
}
