import { compileSchemaCheck, readingSchema, type Reading } from '@cityops/protocol';
import type { FromSchema } from 'json-schema-to-ts';
import { systemTimers, type Timers } from './agent-deps.ts';
import { agentErrors } from './errors.ts';
import type { ReadingSource } from './reading-source.ts';
import type { Random } from './seeded-random.ts';
import { METRICS, SENSOR_MODELS, isAlarmValue, type Metric } from './sensor-models.ts';
import { createWakeableDelay } from './wakeable-delay.ts';

export const simulatedSourceConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sensors'],
  properties: {
    sensors: {
      type: 'array',
      minItems: 1,
      maxItems: 100_000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'metric'],
        properties: {
          id: { type: 'string', pattern: readingSchema.properties.sensor.pattern },
          metric: { type: 'string', enum: METRICS },
        },
      },
    },
    /** Every sensor reports once per interval. */
    intervalMs: { type: 'integer', minimum: 1 },
    /** Or: this many readings per second in total, round-robin over the sensors. */
    ratePerSecond: { type: 'number', exclusiveMinimum: 0 },
    /** With ratePerSecond: how often the due readings are produced. */
    tickMs: { type: 'integer', minimum: 1, maximum: 60_000, default: 100 },
    /**
     * With ratePerSecond: at most this many readings per tick. A consumer slower than the rate
     * makes readings fall due faster than they are taken; those beyond the cap are skipped
     * (counted) rather than held in memory.
     */
    maxPerTick: { type: 'integer', minimum: 1, default: 10_000 },
    /** End the iteration after this many readings. */
    limit: { type: 'integer', minimum: 1 },
    utcOffsetMinutes: { type: 'integer', minimum: -720, maximum: 840, default: 480 },
    /** Chance per sample that an incident starts (manhole_tilt); the model's default when absent. */
    eventProbability: { type: 'number', minimum: 0, maximum: 1 },
  },
  oneOf: [{ required: ['intervalMs'] }, { required: ['ratePerSecond'] }],
} as const;

export type SimulatedSourceConfig = FromSchema<typeof simulatedSourceConfigSchema, { keepDefaultedPropertiesOptional: true }>;

export interface SimulatedSourceDeps {
  readonly now?: () => number;
  readonly random?: Random;
  readonly timers?: Timers;
}

export interface SimulatedSourceStats {
  readings: number;
  alarms: number;
  /** Readings that fell due while the consumer lagged beyond `maxPerTick`, and were not produced. */
  skipped: number;
}

interface ResolvedConfig {
  readonly sensors: readonly { readonly id: string; readonly metric: Metric }[];
  readonly intervalMs?: number;
  readonly ratePerSecond?: number;
  readonly tickMs: number;
  readonly maxPerTick: number;
  readonly limit?: number;
  readonly utcOffsetMinutes: number;
  readonly eventProbability?: number;
}

const checkConfig = compileSchemaCheck(simulatedSourceConfigSchema, { useDefaults: true });

/**
 * Simulated sensors on a gateway, driven by the sensor models. Given the same seeded `random`,
 * `now` and timers it produces the same readings.
 */
export function createSimulatedSource(
  config: SimulatedSourceConfig,
  deps: SimulatedSourceDeps = {},
): ReadingSource<SimulatedSourceStats> {
  const copy = structuredClone(config) as unknown;
  const problems = checkConfig(copy);
  if (problems.length > 0) throw agentErrors.AGENT_ERR_CONFIG(`simulated source: ${problems.join('; ')}`);
  const cfg = Object.freeze(copy as ResolvedConfig);

  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const timers = deps.timers ?? systemTimers;
  const samplerOptions = {
    utcOffsetMinutes: cfg.utcOffsetMinutes,
    ...(cfg.eventProbability === undefined ? {} : { eventProbability: cfg.eventProbability }),
  };
  const sensors = cfg.sensors.map((s) => ({
    id: s.id,
    metric: s.metric,
    sample: SENSOR_MODELS[s.metric].createSampler(random, samplerOptions),
  }));
  const stats: SimulatedSourceStats = { readings: 0, alarms: 0, skipped: 0 };
  let stopped = false;
  const delay = createWakeableDelay(timers);
  let iterator: AsyncGenerator<Reading> | undefined;

  function read(sensor: (typeof sensors)[number], ts: number): Reading {
    const value = sensor.sample(ts);
    stats.readings++;
    if (!isAlarmValue(sensor.metric, value)) return { sensor: sensor.id, metric: sensor.metric, ts, value };
    stats.alarms++;
    return { sensor: sensor.id, metric: sensor.metric, ts, value, alarm: true };
  }

  const limitReached = () => cfg.limit !== undefined && stats.readings >= cfg.limit;

  async function* everyInterval(intervalMs: number): AsyncGenerator<Reading> {
    while (!stopped) {
      const ts = Math.floor(now());
      for (const sensor of sensors) {
        if (stopped || limitReached()) return;
        yield read(sensor, ts);
      }
      if (limitReached()) return;
      await delay.wait(intervalMs);
    }
  }

  async function* atRate(ratePerSecond: number): AsyncGenerator<Reading> {
    const start = now();
    let due = 0;
    let next = 0;
    while (!stopped) {
      let count = Math.floor((ratePerSecond * (now() - start)) / 1000) - due;
      if (count > cfg.maxPerTick) {
        stats.skipped += count - cfg.maxPerTick;
        due += count - cfg.maxPerTick;
        count = cfg.maxPerTick;
      }
      for (let i = 0; i < count; i++) {
        if (stopped || limitReached()) return;
        due++;
        yield read(sensors[next]!, Math.floor(now()));
        next = (next + 1) % sensors.length;
      }
      if (limitReached()) return;
      await delay.wait(cfg.tickMs);
    }
  }

  return {
    [Symbol.asyncIterator]() {
      iterator ??= cfg.intervalMs === undefined ? atRate(cfg.ratePerSecond!) : everyInterval(cfg.intervalMs);
      return iterator;
    },
    stop() {
      stopped = true;
      delay.wake();
      return Promise.resolve();
    },
    stats: () => ({ ...stats }),
  };
}
