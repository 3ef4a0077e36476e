import type { Random } from './seeded-random.ts';

/**
 * What city sensors measure and how their values behave over a day, for simulated gateways here
 * and for the city simulator. A model draws a sensor's own calibration once (sites differ), then
 * produces values from a daily (or tidal) cycle, slow drift (weather) and measurement noise.
 * Every random draw comes from the injected `random`, so a seed replays the same city.
 */
export const METRICS = [
  'pm25',
  'noise',
  'water_pressure',
  'water_level',
  'traffic_flow',
  'manhole_tilt',
  'crowd_density',
  'temperature',
] as const;
export type Metric = (typeof METRICS)[number];

export function isMetric(value: string): value is Metric {
  return (METRICS as readonly string[]).includes(value);
}

export interface SamplerOptions {
  /** Local time offset for daily cycles, minutes east of UTC. Default 480 (Shanghai, UTC+8). */
  readonly utcOffsetMinutes?: number;
  /**
   * For event-driven metrics (manhole_tilt): chance per sample that an incident starts. The model's
   * default is a rare event; scenarios raise it.
   */
  readonly eventProbability?: number;
}

/** One sensor: give it a sample time (ms since the epoch), get the value it reports. */
export type SensorSampler = (ts: number) => number;

export interface SensorModel {
  readonly metric: Metric;
  readonly unit: string;
  readonly description: string;
  /** The instrument's range: samples are clamped into it. */
  readonly min: number;
  readonly max: number;
  /** Decimal places the instrument reports. */
  readonly decimals: number;
  /** Values strictly above this are alarm-class: journaled and sent before routine readings. */
  readonly alarmAbove: number | undefined;
  createSampler(random: Random, options?: SamplerOptions): SensorSampler;
}

const HOUR_MS = 3_600_000;
const DEFAULT_UTC_OFFSET_MINUTES = 480;

function localHour(ts: number, utcOffsetMinutes: number): number {
  const h = (ts / HOUR_MS + utcOffsetMinutes / 60) % 24;
  return h < 0 ? h + 24 : h;
}

/** Bell-shaped bump around `center` (hours), wrapping around midnight. */
function bump(hour: number, center: number, widthHours: number): number {
  let d = Math.abs(hour - center);
  if (d > 12) d = 24 - d;
  return Math.exp(-(d * d) / (2 * widthHours * widthHours));
}

/** Standard normal deviate (Box-Muller), from two uniform draws. */
function gaussian(random: Random): number {
  const u = 1 - random(); // (0, 1]: log(0) would be -Infinity
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * First-order autoregressive drift: slow wandering such as weather, held within ±`bound` by a soft
 * limit (tanh). Unbounded, its Gaussian tail took a quiet sensor past an alert threshold now and
 * then (a 4σ weather day in one grid of hundreds): the model's normal range has to stay normal at
 * every seed and every hour, so that an alert in a simulated city is always one of its incidents.
 */
function createDrift(random: Random, rho: number, sigma: number, bound: number): () => number {
  let x = 0;
  return () => {
    x = rho * x + sigma * gaussian(random);
    return bound * Math.tanh(x / bound);
  };
}

function finish(model: { min: number; max: number; decimals: number }, value: number): number {
  const clamped = Math.min(model.max, Math.max(model.min, value));
  const scale = 10 ** model.decimals;
  return Math.round(clamped * scale) / scale;
}

function hourOf(options: SamplerOptions | undefined) {
  const offset = options?.utcOffsetMinutes ?? DEFAULT_UTC_OFFSET_MINUTES;
  return (ts: number) => localHour(ts, offset);
}

const pm25: SensorModel = {
  metric: 'pm25',
  unit: 'µg/m³',
  description: 'Fine particulate matter; rush-hour peaks and weather-driven drift',
  min: 0,
  max: 999,
  decimals: 1,
  alarmAbove: undefined,
  createSampler(random, options) {
    const hour = hourOf(options);
    // Shanghai's annual mean is ~30 µg/m³: a site's base 20-40, rush hours and weather on top, and
    // the whole stays under the district warning (75) that only an episode passes.
    const site = 20 + 20 * random();
    const drift = createDrift(random, 0.98, 3, 15);
    return (ts) => {
      const h = hour(ts);
      const traffic = 15 * bump(h, 8, 1.5) + 12 * bump(h, 19, 2) + 5 * bump(h, 3, 2);
      return finish(pm25, site + traffic + drift() + 2 * gaussian(random));
    };
  },
};

const noise: SensorModel = {
  metric: 'noise',
  unit: 'dB(A)',
  description: 'Street noise level; quiet nights, loud days, occasional spikes (horns, works)',
  min: 30,
  max: 130,
  decimals: 1,
  alarmAbove: undefined,
  createSampler(random, options) {
    const hour = hourOf(options);
    const site = 52 + 10 * random();
    return (ts) => {
      const h = hour(ts);
      const day = -Math.cos((2 * Math.PI * (h - 3)) / 24); // -1 at 03:00, +1 at 15:00
      const spike = random() < 0.01 ? 10 + 15 * random() : 0;
      return finish(noise, site + 7 * day + 3 * bump(h, 8, 1.5) + 3 * bump(h, 18, 1.5) + 2.5 * gaussian(random) + spike);
    };
  },
};

const waterPressure: SensorModel = {
  metric: 'water_pressure',
  unit: 'bar',
  description: 'Water mains pressure; dips with morning and evening demand',
  min: 0,
  max: 10,
  decimals: 2,
  alarmAbove: undefined,
  createSampler(random, options) {
    const hour = hourOf(options);
    const nominal = 3 + random();
    const drift = createDrift(random, 0.99, 0.01, 0.2);
    return (ts) => {
      const h = hour(ts);
      const demand = -0.4 * bump(h, 7.5, 1.2) - 0.35 * bump(h, 19.5, 1.5) + 0.2 * bump(h, 3, 2);
      return finish(waterPressure, nominal + demand + drift() + 0.03 * gaussian(random));
    };
  },
};

const TIDE_PERIOD_MS = 12.42 * HOUR_MS; // principal lunar semi-diurnal tide (M2)

const waterLevel: SensorModel = {
  metric: 'water_level',
  unit: 'm',
  description: 'River or drain water level; tidal cycle plus slow rain-driven drift',
  min: 0,
  max: 12,
  decimals: 2,
  alarmAbove: undefined,
  createSampler(random) {
    // Highest normal tide: 3 m × 1.3 + 0.3 m of drift, under the 5 m flood mark at every hour.
    const mean = 1.5 + 1.5 * random();
    const amplitude = mean * (0.15 + 0.15 * random());
    const phase = 2 * Math.PI * random();
    const drift = createDrift(random, 0.999, 0.005, 0.3);
    return (ts) =>
      finish(waterLevel, mean + amplitude * Math.sin((2 * Math.PI * ts) / TIDE_PERIOD_MS + phase) + drift() + 0.01 * gaussian(random));
  },
};

const trafficFlow: SensorModel = {
  metric: 'traffic_flow',
  unit: 'vehicles/min',
  description: 'Vehicles passing a detector per minute; two rush hours, near zero at night',
  min: 0,
  max: 200,
  decimals: 0,
  alarmAbove: undefined,
  createSampler(random, options) {
    const hour = hourOf(options);
    const capacity = 30 + 50 * random();
    return (ts) => {
      const h = hour(ts);
      const profile = Math.max(0.04, bump(h, 8, 1.3) + 0.95 * bump(h, 18, 1.6) + 0.55 * bump(h, 13, 3.5));
      const mean = capacity * Math.min(1, profile);
      // Counts are roughly Poisson: the spread grows with the square root of the mean.
      return finish(trafficFlow, mean + Math.sqrt(mean) * gaussian(random));
    };
  },
};

/** Above this tilt a manhole cover is displaced: an alarm, not a trend. */
export const MANHOLE_TILT_ALARM_DEGREES = 10;
const DEFAULT_TILT_EVENT_PROBABILITY = 0.0005;

const manholeTilt: SensorModel = {
  metric: 'manhole_tilt',
  unit: '°',
  description: 'Manhole cover tilt; flat with jitter, rare displacement incidents (alarm-class)',
  min: 0,
  max: 90,
  decimals: 1,
  alarmAbove: MANHOLE_TILT_ALARM_DEGREES,
  createSampler(random, options) {
    const rest = 0.3 + random();
    const probability = options?.eventProbability ?? DEFAULT_TILT_EVENT_PROBABILITY;
    let remaining = 0;
    let tilt = 0;
    return () => {
      if (remaining === 0 && random() < probability) {
        remaining = 5 + Math.floor(25 * random());
        tilt = 15 + 45 * random();
      }
      if (remaining > 0) {
        remaining--;
        return finish(manholeTilt, tilt + gaussian(random));
      }
      return finish(manholeTilt, rest + Math.abs(0.2 * gaussian(random)));
    };
  },
};

const crowdDensity: SensorModel = {
  metric: 'crowd_density',
  unit: 'persons/m²',
  description: 'People per square metre at a public place; commute and evening peaks',
  min: 0,
  max: 8,
  decimals: 2,
  alarmAbove: undefined,
  createSampler(random, options) {
    const hour = hourOf(options);
    // A venue's evening peak stays under the crowding warning (2 persons/m², its p95 with the 10%
    // noise included): crowding is an incident, not every evening's alert (issue 19: a quiet city is quiet).
    const peak = 0.4 + 1.2 * random();
    return (ts) => {
      const h = hour(ts);
      const profile = Math.max(0.02, 0.7 * bump(h, 8.5, 1.2) + 0.4 * bump(h, 13, 3) + bump(h, 19.5, 1.8));
      return finish(crowdDensity, peak * Math.min(1, profile) * (1 + 0.1 * gaussian(random)));
    };
  },
};

const temperature: SensorModel = {
  metric: 'temperature',
  unit: '°C',
  description: 'Air temperature; daily cycle (coolest before dawn, warmest mid-afternoon) and weather drift',
  min: -40,
  max: 85,
  decimals: 1,
  alarmAbove: undefined,
  createSampler(random, options) {
    const hour = hourOf(options);
    const mean = 13 + 6 * random();
    const amplitude = 4 + 3 * random();
    const drift = createDrift(random, 0.999, 0.05, 3);
    return (ts) => {
      const h = hour(ts);
      return finish(temperature, mean + amplitude * Math.cos((2 * Math.PI * (h - 14.5)) / 24) + drift() + 0.1 * gaussian(random));
    };
  },
};

export const SENSOR_MODELS: Readonly<Record<Metric, SensorModel>> = Object.freeze({
  pm25,
  noise,
  water_pressure: waterPressure,
  water_level: waterLevel,
  traffic_flow: trafficFlow,
  manhole_tilt: manholeTilt,
  crowd_density: crowdDensity,
  temperature,
});

/** Whether a value of this metric is alarm-class (today only manhole tilt has such a threshold). */
export function isAlarmValue(metric: Metric, value: number): boolean {
  const threshold = SENSOR_MODELS[metric].alarmAbove;
  return threshold !== undefined && value > threshold;
}
