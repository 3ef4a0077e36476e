import type { Reading } from '@cityops/protocol';
import { formatDateTime64Utc } from './datetime64-text.ts';
import { registryErrors } from './registry-errors.ts';
import type { Warehouse } from './types.ts';

export type SensorOrigin = 'declared' | 'learned';
export type SensorState = 'active' | 'decommissioned';
/** Why a reading was refused: its sensor is beyond the cap, its metric beyond the metric cap, or retired. */
export type SensorRefusal = 'sensor_limit' | 'metric_limit' | 'decommissioned';

export interface SensorRecord {
  readonly sensor: string;
  readonly metric: string;
  readonly origin: SensorOrigin;
  readonly state: SensorState;
  /** 0 for a sensor ingest learned; an operator's act has its time in ms (the table's ReplacingMergeTree version). */
  readonly version: number;
  readonly changedAt: number;
}

/** `registry.sensors`: the caps on what one device may name (issue 17). */
export const sensorSetsConfigSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    /** Sensors a device may have (declared + learned + decommissioned) unless its own `maxSensors` says otherwise. */
    defaultMaxPerDevice: { type: 'integer', minimum: 1, maximum: 100_000, default: 256 },
    /**
     * Distinct metric names one device may report. A per-device cap, not a city-wide catalogue: a
     * gateway's metrics are the few kinds of its sensors, and a new kind of sensor must not wait for an
     * operator to extend a list; the city's total stays bounded by devices × this.
     */
    maxMetricsPerDevice: { type: 'integer', minimum: 1, maximum: 10_000, default: 32 },
    /** Sensors learned are written to the warehouse this often, in one insert (never in a PUBACK's path). */
    flushMs: { type: 'integer', minimum: 10, maximum: 600_000, default: 1000 },
    /** Rows per insert; this many waiting start a write at once. */
    flushBatchRows: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 5000 },
  },
} as const;

export interface SensorSetsConfig {
  readonly defaultMaxPerDevice: number;
  readonly maxMetricsPerDevice: number;
  readonly flushMs: number;
  readonly flushBatchRows: number;
  /** How often the shared table is re-read (the registry's `refreshMs`). */
  readonly refreshMs: number;
}

export interface SensorSetsDeps {
  readonly warehouse: Warehouse;
  readonly now?: () => number;
  /** The device's own cap (`devices.max_sensors`); undefined or 0: the configured default. */
  readonly capOf?: (device: string) => number | undefined;
  /** A write or re-read that failed (retried on the next tick). */
  readonly onError?: (err: unknown) => void;
}

/** What `screen` returns when something was refused; `undefined` means every reading is admitted. */
export interface Screened {
  readonly kept: Reading[];
  readonly refused: { readonly reading: Reading; readonly reason: SensorRefusal }[];
}

export interface SensorSetListing {
  readonly device: string;
  readonly cap: number;
  readonly maxMetrics: number;
  readonly metrics: number;
  readonly active: number;
  readonly decommissioned: number;
  readonly sensors: SensorRecord[];
}

export interface SensorSets {
  start(): Promise<void>;
  /** Writes what was learned (one attempt) and stops the timers. */
  stop(): Promise<void>;
  refresh(): Promise<void>;
  /** Writes the learned rows waiting now. */
  flush(): Promise<void>;
  /**
   * The hot path: one map lookup per reading of a known sensor, no allocation when all are admitted.
   * An unknown sensor is learned (in memory; written later) while the device has room.
   */
  screen(device: string, readings: readonly Reading[]): Screened | undefined;
  /**
   * Throws INGEST_ERR_SENSOR_LIMIT / INGEST_ERR_METRIC_LIMIT if declaring `sensors` would pass the
   * device's caps (`cap`: the cap it is about to get, e.g. at provisioning; 0 or absent: its own).
   */
  checkRoom(device: string, sensors: readonly { readonly id: string; readonly metric: string }[], cap?: number): void;
  /** Declares (or recommissions) sensors; checked against the caps, written before it resolves. */
  declare(device: string, sensors: readonly { readonly id: string; readonly metric: string }[]): Promise<void>;
  decommission(device: string, sensor: string): Promise<SensorRecord>;
  list(device: string): SensorSetListing;
  /** Devices with a set, sensors known, learned rows not yet written. */
  stats(): { devices: number; sensors: number; pending: number };
}

interface DeviceSet {
  readonly sensors: Map<string, SensorRecord>;
  /** Metric → how many of the device's sensors (or readings of a sensor's other metrics) name it. */
  readonly metrics: Map<string, number>;
}

interface SensorRow {
  device: string;
  sensor: string;
  metric: string;
  origin: SensorOrigin;
  state: SensorState;
  version: number;
  changed_ms: number;
}

/**
 * Rows are re-read from this long before the newest one seen: another instance's clock may be behind
 * ours, and its rows would otherwise fall before the mark. Applying a row twice changes nothing.
 */
const REFRESH_OVERLAP_MS = 60_000;

/**
 * Each device's sensors, shared by every ingest instance through `device_sensors`. Learning is in
 * memory and written in batches, so several instances may each learn up to a device's cap between
 * two refreshes: a device's set can overshoot its cap by what the other instances learned meanwhile
 * (at most instances × cap). Memory is bounded by devices × cap (× instances in that worst case).
 */
export function createSensorSets(config: SensorSetsConfig, deps: SensorSetsDeps): SensorSets {
  const now = deps.now ?? Date.now;
  const onError = deps.onError ?? (() => undefined);
  const sets = new Map<string, DeviceSet>();
  let pending: Record<string, unknown>[] = [];
  let since = 0;
  let knownSensors = 0;
  let refreshTimer: NodeJS.Timeout | undefined;
  let flushTimer: NodeJS.Timeout | undefined;
  let refreshing: Promise<void> | undefined;
  let flushing: Promise<void> | undefined;

  function capFor(device: string): number {
    const own = deps.capOf?.(device);
    return own !== undefined && own > 0 ? own : config.defaultMaxPerDevice;
  }

  function setOf(device: string): DeviceSet {
    let set = sets.get(device);
    if (set === undefined) sets.set(device, (set = { sensors: new Map(), metrics: new Map() }));
    return set;
  }

  function countMetric(set: DeviceSet, metric: string, by: number): void {
    const n = (set.metrics.get(metric) ?? 0) + by;
    if (n > 0) set.metrics.set(metric, n);
    else set.metrics.delete(metric);
  }

  /** Puts a record in a set, replacing the old one's metric count. */
  function put(set: DeviceSet, record: SensorRecord): void {
    const before = set.sensors.get(record.sensor);
    if (before === undefined) knownSensors++;
    else countMetric(set, before.metric, -1);
    set.sensors.set(record.sensor, record);
    countMetric(set, record.metric, 1);
  }

  function row(device: string, r: SensorRecord): Record<string, unknown> {
    return { device, sensor: r.sensor, metric: r.metric, origin: r.origin, state: r.state, version: r.version, changed_at: formatDateTime64Utc(r.changedAt) };
  }

  function admitOne(device: string, set: DeviceSet, reading: Reading): SensorRefusal | undefined {
    const known = set.sensors.get(reading.sensor);
    if (known !== undefined) {
      if (known.state === 'decommissioned') return 'decommissioned';
      if (known.metric === reading.metric || set.metrics.has(reading.metric)) return undefined;
      // A sensor that measures a second quantity: the metric is remembered (in memory) within the cap.
      if (set.metrics.size >= config.maxMetricsPerDevice) return 'metric_limit';
      countMetric(set, reading.metric, 1);
      return undefined;
    }
    if (set.sensors.size >= capFor(device)) return 'sensor_limit';
    if (!set.metrics.has(reading.metric) && set.metrics.size >= config.maxMetricsPerDevice) return 'metric_limit';
    const record: SensorRecord = { sensor: reading.sensor, metric: reading.metric, origin: 'learned', state: 'active', version: 0, changedAt: now() };
    put(set, record);
    pending.push(row(device, record));
    if (pending.length >= config.flushBatchRows) void flush();
    return undefined;
  }

  function flush(): Promise<void> {
    flushing ??= (async () => {
      while (pending.length > 0) {
        const batch = pending.slice(0, config.flushBatchRows);
        await deps.warehouse.insertRows('device_sensors', batch);
        pending = pending.slice(batch.length);
      }
    })()
      .catch(onError)
      .finally(() => {
        flushing = undefined;
      });
    return flushing;
  }

  async function load(): Promise<void> {
    const rows = await deps.warehouse.query<SensorRow>(
      'SELECT device, sensor, metric, origin, state, toFloat64(version) AS version, ' +
        'toFloat64(toUnixTimestamp64Milli(changed_at)) AS changed_ms FROM device_sensors ' +
        'WHERE changed_at >= fromUnixTimestamp64Milli({since:Int64})',
      { since: Math.max(0, Math.floor(since)) },
    );
    let newest = since + REFRESH_OVERLAP_MS;
    for (const r of rows) {
      const version = Number(r.version);
      const changedAt = Number(r.changed_ms);
      if (changedAt > newest) newest = changedAt;
      const set = setOf(r.device);
      const current = set.sensors.get(r.sensor);
      // A learned row (version 0) never replaces what is known; an operator's later act does.
      if (current !== undefined && version <= current.version) continue;
      put(set, { sensor: r.sensor, metric: r.metric, origin: r.origin, state: r.state, version, changedAt });
    }
    since = newest - REFRESH_OVERLAP_MS;
  }

  function refresh(): Promise<void> {
    refreshing ??= load().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  }

  /** An operator's act must outrank the record it changes even within one millisecond. */
  function versionAfter(current: SensorRecord | undefined): number {
    const t = now();
    return current !== undefined && t <= current.version ? current.version + 1 : t;
  }

  async function write(device: string, records: readonly SensorRecord[]): Promise<void> {
    await deps.warehouse.insertRows('device_sensors', records.map((r) => row(device, r)));
    const set = setOf(device);
    for (const r of records) put(set, r);
  }

  function checkRoom(device: string, sensors: readonly { readonly id: string; readonly metric: string }[], cap?: number): void {
    const set = sets.get(device);
    const fresh = new Set<string>();
    for (const s of sensors) if (set?.sensors.has(s.id) !== true) fresh.add(s.id);
    const limit = cap !== undefined && cap > 0 ? cap : capFor(device);
    const total = (set?.sensors.size ?? 0) + fresh.size;
    if (total > limit) throw registryErrors.INGEST_ERR_SENSOR_LIMIT(`${device} would have ${total} sensors; its cap is ${limit}`);
    const metrics = new Set([...(set?.metrics.keys() ?? []), ...sensors.map((s) => s.metric)]);
    if (metrics.size > config.maxMetricsPerDevice) {
      throw registryErrors.INGEST_ERR_METRIC_LIMIT(`${device} would have ${metrics.size} metric names; the cap is ${config.maxMetricsPerDevice}`);
    }
  }

  return {
    async start() {
      await load();
      refreshTimer = setInterval(() => void refresh().catch(onError), config.refreshMs);
      refreshTimer.unref();
      flushTimer = setInterval(() => void flush(), config.flushMs);
      flushTimer.unref();
    },
    async stop() {
      if (refreshTimer !== undefined) clearInterval(refreshTimer);
      if (flushTimer !== undefined) clearInterval(flushTimer);
      refreshTimer = flushTimer = undefined;
      await refreshing?.catch(() => undefined);
      // One attempt: a sensor whose row is lost is learned again at its next reading.
      await flush();
    },
    refresh,
    flush,
    screen(device, readings) {
      const set = sets.get(device);
      let i = 0;
      if (set !== undefined) {
        for (; i < readings.length; i++) {
          const r = readings[i]!;
          const known = set.sensors.get(r.sensor);
          if (known === undefined || known.metric !== r.metric || known.state !== 'active') break;
        }
        if (i === readings.length) return undefined;
      }
      const target = set ?? setOf(device);
      const kept = readings.slice(0, i);
      const refused: Screened['refused'] = [];
      for (; i < readings.length; i++) {
        const reading = readings[i]!;
        const reason = admitOne(device, target, reading);
        if (reason === undefined) kept.push(reading);
        else refused.push({ reading, reason });
      }
      return refused.length === 0 ? undefined : { kept, refused };
    },
    checkRoom,
    async declare(device, sensors) {
      checkRoom(device, sensors);
      const set = sets.get(device);
      const changedAt = now();
      const records = [...new Map(sensors.map((s) => [s.id, s.metric])).entries()].map(
        ([sensor, metric]): SensorRecord => ({ sensor, metric, origin: 'declared', state: 'active', version: versionAfter(set?.sensors.get(sensor)), changedAt }),
      );
      await write(device, records);
    },
    async decommission(device, sensor) {
      if (sets.get(device)?.sensors.has(sensor) !== true) await refresh();
      const current = sets.get(device)?.sensors.get(sensor);
      if (current === undefined) throw registryErrors.INGEST_ERR_UNKNOWN_SENSOR(`${device} has no sensor ${JSON.stringify(sensor.slice(0, 64))}`);
      const record: SensorRecord = { ...current, state: 'decommissioned', version: versionAfter(current), changedAt: now() };
      await write(device, [record]);
      return record;
    },
    list(device) {
      const set = sets.get(device);
      const sensors = [...(set?.sensors.values() ?? [])].sort((a, b) => (a.sensor < b.sensor ? -1 : a.sensor > b.sensor ? 1 : 0));
      const decommissioned = sensors.filter((s) => s.state === 'decommissioned').length;
      return {
        device,
        cap: capFor(device),
        maxMetrics: config.maxMetricsPerDevice,
        metrics: set?.metrics.size ?? 0,
        active: sensors.length - decommissioned,
        decommissioned,
        sensors,
      };
    },
    stats: () => ({ devices: sets.size, sensors: knownSensors, pending: pending.length }),
  };
}
