import type { DeviceKind, HierarchyLevel } from '@cityops/protocol';
import type { Warehouse } from '@cityops/warehouse';
import type { Logger } from 'pino';

/** A device as the rules see it: its place at every level, from the registry, never the payload. */
export interface DeviceEntry {
  readonly id: string;
  kind: DeviceKind;
  revoked: boolean;
  /**
   * The device's decommissioned sensors (issue 17: an operator retired them, ingest refuses their
   * readings), so that their silence is not news. Replaced on each refresh; most devices share one empty set.
   */
  retired: ReadonlySet<string>;
  /** The device's own sensor cap from the registry (`devices.max_sensors`); 0: the engine's default. */
  maxSensors: number;
  /** Place path at each level, city first (`''`, `pudong`, …, `pudong/s01/g001/b07`). */
  places: string[];
  /** Per-device caches the engine fills (series per stream, sensor slots); reset when the place changes. */
  cache: DeviceCache;
}

export interface DeviceCache {
  /** Window series per stream index, looked up once per device. */
  series: unknown[];
  /** Sensor name → silence slot. */
  sensors: Map<string, number>;
}

interface DeviceRow {
  id: string;
  kind: DeviceKind;
  district: string;
  subdistrict: string;
  grid: string;
  building: string;
  revoked: number | boolean;
  max_sensors: number | string;
}

const NONE_RETIRED: ReadonlySet<string> = new Set();

export interface DeviceDirectoryConfig {
  /** Periodic re-read of the registry. */
  readonly refreshMs: number;
  /** At most one extra re-read per this long when telemetry from an unknown device arrives. */
  readonly unknownRefreshMs: number;
}

export interface DeviceDirectoryDeps {
  readonly warehouse: Warehouse;
  readonly now: () => number;
  readonly logger: Logger;
  /** A refresh found `sensor` of `entry` newly decommissioned (not called for what start() loads). */
  readonly onRetired?: (entry: DeviceEntry, sensor: string) => void;
}

export interface DeviceDirectory {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The device, or undefined (and a rate-limited refresh is started) when unknown. */
  get(id: string): DeviceEntry | undefined;
  /** The device as the copy holds it, starting nothing. */
  known(id: string): DeviceEntry | undefined;
  /**
   * The device as a re-read that starts after this call finds it (undefined if it still does not,
   * or at stop). Re-reads for waiters are rate-limited as `get`'s; a failed one is tried again.
   */
  whenRead(id: string): Promise<DeviceEntry | undefined>;
  refresh(): Promise<void>;
  size(): number;
}

export function placeAt(entry: DeviceEntry, level: HierarchyLevel): string {
  return entry.places[LEVEL_INDEX[level]]!;
}

const LEVEL_INDEX: Readonly<Record<HierarchyLevel, number>> = { city: 0, district: 1, subdistrict: 2, grid: 3, building: 4 };

/** The deepest place the registry names for a device (a level left empty repeats its parent's), or undefined at city level. */
export function registeredPlaceOf(entry: DeviceEntry | undefined): { readonly place: string; readonly level: HierarchyLevel } | undefined {
  if (entry === undefined) return undefined;
  let depth = 0;
  for (let i = 1; i < entry.places.length; i++) if (entry.places[i] !== entry.places[i - 1]) depth = i;
  return depth === 0 ? undefined : { place: entry.places[depth]!, level: LEVELS[depth]! };
}

/**
 * A scanner's venue: its registered building, or its grid when it is registered at grid level; the
 * one place verification alerts name and are routed by (issue 16: never a venue from a request).
 * Undefined for a device that is not a scanner or has no place below the city.
 */
export function venueOf(entry: DeviceEntry | undefined): { readonly place: string; readonly level: HierarchyLevel } | undefined {
  return entry?.kind === 'scanner' ? registeredPlaceOf(entry) : undefined;
}

const LEVELS = Object.keys(LEVEL_INDEX) as HierarchyLevel[];

function placesOf(row: DeviceRow): string[] {
  const parts = [row.district, row.subdistrict, row.grid, row.building];
  const places = [''];
  for (let i = 0; i < parts.length; i++) {
    // A device placed at grid level has no building: its building-level place is its grid.
    places.push(parts[i] === '' ? places[i]! : i === 0 ? parts[i]! : `${places[i]!}/${parts[i]!}`);
  }
  return places;
}

/** Whether `names` are exactly `set`'s members (a refresh keeps the set, and its identity, when nothing changed). */
function sameSet(set: ReadonlySet<string> | undefined, names: readonly string[]): boolean {
  if (set === undefined || set.size !== names.length) return false;
  return names.every((n) => set.has(n));
}

/**
 * Device → place, from the registry's `devices` table in the warehouse: loaded at start, re-read
 * every refreshMs and, rate-limited, when a device the copy does not know sends telemetry. Entries
 * keep their identity across refreshes (the engine caches per-device lookups on them); a device
 * that moved gets fresh caches.
 */
export function createDeviceDirectory(config: DeviceDirectoryConfig, deps: DeviceDirectoryDeps): DeviceDirectory {
  const devices = new Map<string, DeviceEntry>();
  let timer: NodeJS.Timeout | undefined;
  let refreshing: Promise<void> | undefined;
  let lastUnknownRefresh = -Infinity;
  // Callers of whenRead not yet covered by a re-read: each re-read takes those waiting when it starts.
  let waiting: { readonly id: string; readonly resolve: (entry: DeviceEntry | undefined) => void }[] = [];
  let waitersTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  async function load(): Promise<void> {
    const [rows, retiredRows] = await Promise.all([
      deps.warehouse.query<DeviceRow>('SELECT id, kind, district, subdistrict, grid, building, revoked, max_sensors FROM devices FINAL'),
      // Only the decommissioned ones travel: a few rows, whatever the number of sensors the city has.
      deps.warehouse.query<{ device: string; sensors: string[] }>(
        "SELECT device, groupArray(sensor) AS sensors FROM device_sensors FINAL WHERE state = 'decommissioned' GROUP BY device",
      ),
    ]);
    const retiredBy = new Map(retiredRows.map((r) => [r.device, r.sensors]));
    for (const row of rows) {
      const places = placesOf(row);
      const revoked = row.revoked === true || row.revoked === 1;
      const maxSensors = Number(row.max_sensors);
      const names = retiredBy.get(row.id);
      const entry = devices.get(row.id);
      const retired = names === undefined ? NONE_RETIRED : sameSet(entry?.retired, names) ? entry!.retired : new Set(names);
      if (entry === undefined) {
        devices.set(row.id, { id: row.id, kind: row.kind, revoked, retired, maxSensors, places, cache: { series: [], sensors: new Map() } });
        continue;
      }
      entry.kind = row.kind;
      entry.revoked = revoked;
      entry.maxSensors = maxSensors;
      const before = entry.retired;
      entry.retired = retired;
      if (retired !== before && deps.onRetired !== undefined) for (const name of retired) if (!before.has(name)) deps.onRetired(entry, name);
      if (entry.places.join('\u0000') !== places.join('\u0000')) {
        entry.places = places;
        entry.cache = { series: [], sensors: new Map() };
      }
    }
  }

  function refresh(): Promise<void> {
    refreshing ??= (async () => {
      const taken = waiting;
      waiting = [];
      try {
        await load();
      } catch (err) {
        waiting = taken.concat(waiting);
        throw err;
      } finally {
        refreshing = undefined;
        if (waiting.length > 0) readForWaiters();
      }
      for (const waiter of taken) waiter.resolve(devices.get(waiter.id));
    })();
    return refreshing;
  }

  /** A re-read for the waiters, as soon as the rate limit for unknown devices allows. */
  function readForWaiters(): void {
    if (waitersTimer !== undefined || stopped) return;
    waitersTimer = setTimeout(
      () => {
        waitersTimer = undefined;
        lastUnknownRefresh = deps.now();
        refresh().catch((err: unknown) => deps.logger.warn({ err }, 'device registry not re-read; unknown devices wait for the next try'));
      },
      Math.max(0, lastUnknownRefresh + config.unknownRefreshMs - deps.now()),
    );
  }

  return {
    async start() {
      stopped = false;
      await load();
      timer = setInterval(() => {
        refresh().catch((err: unknown) => deps.logger.warn({ err }, 'device registry not re-read; keeping the last copy'));
      }, config.refreshMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      if (waitersTimer !== undefined) clearTimeout(waitersTimer);
      waitersTimer = undefined;
      await refreshing?.catch(() => undefined);
      for (const waiter of waiting.splice(0)) waiter.resolve(undefined);
    },
    get(id) {
      const entry = devices.get(id);
      if (entry === undefined && deps.now() - lastUnknownRefresh >= config.unknownRefreshMs) {
        lastUnknownRefresh = deps.now();
        refresh().catch((err: unknown) => deps.logger.warn({ err }, 'device registry not re-read'));
      }
      return entry;
    },
    known: (id) => devices.get(id),
    whenRead(id) {
      if (stopped) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        waiting.push({ id, resolve });
        if (refreshing === undefined) readForWaiters();
      });
    },
    refresh,
    size: () => devices.size,
  };
}
