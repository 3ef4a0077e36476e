import type { HierarchyLevel } from '@cityops/protocol';
import type { ConditionSet } from './condition-set.ts';
import type { DeviceEntry } from './device-directory.ts';
import { ruleDurationMs } from './rule-duration.ts';
import type { SensorSilentRule } from './rule-schema.ts';

export interface SensorSilenceConfig {
  /** Most (gateway, sensor) pairs watched, city-wide. */
  readonly maxSensors: number;
  /** Most sensors watched per gateway (ingest's default cap): a device's further sensor ids are ignored and counted. */
  readonly maxSensorsPerDevice: number;
  /** Silent sensors of one gateway (per rule) from which they are one group alert instead of one each. */
  readonly groupAt: number;
  /** Sensor ids a group's alert names; the rest are counted. */
  readonly groupListMax: number;
}

export interface SensorSilenceDeps {
  readonly conditions: ConditionSet;
  readonly onDrop: (reason: 'sensors' | 'device_sensors', n: number) => void;
}

export interface SensorSilence {
  /** Readings seen at `t`; returns how many sensors were new (the grid's sensor count grows by it). */
  observe(entry: DeviceEntry, readings: readonly { readonly sensor: string; readonly metric: string }[], t: number): number;
  /** Stops watching a sensor (decommissioned) at `t`: its silence is no longer news. Whether it was watched. */
  forget(entry: DeviceEntry, sensor: string, t: number): boolean;
  /** Every silence clock restarts at `t` (what we could not observe is not silence). */
  restartClocks(t: number): void;
  /** Raises what began to be silent, updates groups whose members changed. Returns evaluations done. */
  evaluate(t: number): number;
  sensors(): number;
  /** Group conditions active now. */
  groups(): number;
}

interface DeviceSilence {
  readonly entry: DeviceEntry;
  /** The device's slots (at most maxSensorsPerDevice). */
  readonly slots: number[];
  /** Per sensor_silent rule: silent sensors now. */
  readonly silent: number[];
  /** Per rule: whether the group condition is active. */
  readonly grouped: boolean[];
  /** Per rule: the group's membership changed since it was last described. */
  readonly changed: boolean[];
}

const INITIAL_SLOTS = 4096;

/** The key of a gateway's group condition for a rule; sensor keys are `{rule}:{gateway}/{sensor}`. */
export function groupKey(rule: string, gateway: string): string {
  return `${rule}:${gateway}`;
}

export function finest(entry: DeviceEntry): { place: string; level: HierarchyLevel } {
  const building = entry.places[4]!;
  return building !== entry.places[3] ? { place: building, level: 'building' } : { place: entry.places[3], level: 'grid' };
}

/**
 * Sensors watched for silence, grouped by their gateway. The rule: per gateway and sensor_silent
 * rule, while fewer than `groupAt` sensors are silent each is its own condition (one or two silent
 * sensors are most often a fault of each sensor: one work order each); once `groupAt` are silent
 * they are one group condition `{rule}:{gateway}` ("17 of 20 sensors of gw-7 silent: a, b, …"),
 * which stays until none of them is silent. While it is active, sensors that fall silent join it
 * and sensors that come back leave it (its description is updated, never a new alert); sensors that
 * had their own condition before the group formed keep it, hung under the group (suppressed).
 * Slot state lives in typed arrays that grow by doubling up to maxSensors; freed slots are reused.
 */
export function createSensorSilence(rules: readonly SensorSilentRule[], config: SensorSilenceConfig, deps: SensorSilenceDeps): SensorSilence {
  const { conditions } = deps;
  let capacity = Math.min(config.maxSensors, INITIAL_SLOTS);
  let lastSeen = new Float64Array(capacity);
  // Bit k: rule k applies to the slot (its metric) / the slot is silent for it / has its own condition.
  let eligible = new Uint8Array(capacity);
  let silent = new Uint8Array(capacity);
  let owned = new Uint8Array(capacity);
  const slotDevice: (DeviceSilence | undefined)[] = [];
  const slotSensor: string[] = [];
  const free: number[] = [];
  let slots = 0;
  let watched = 0;
  let activeGroups = 0;
  const devices = new Map<string, DeviceSilence>();
  const changedDevices = new Set<DeviceSilence>();
  const sensorRules = rules.slice(0, 8).map((rule) => ({
    rule,
    afterMs: ruleDurationMs(rule.after),
    metrics: rule.metrics === undefined ? undefined : new Set<string>(rule.metrics),
  }));

  function grow(): boolean {
    if (capacity >= config.maxSensors) return false;
    capacity = Math.min(config.maxSensors, capacity * 2);
    const copy = <T extends Float64Array | Uint8Array>(old: T, next: T): T => {
      next.set(old);
      return next;
    };
    lastSeen = copy(lastSeen, new Float64Array(capacity));
    eligible = copy(eligible, new Uint8Array(capacity));
    silent = copy(silent, new Uint8Array(capacity));
    owned = copy(owned, new Uint8Array(capacity));
    return true;
  }

  function deviceOf(entry: DeviceEntry): DeviceSilence {
    let dev = devices.get(entry.id);
    if (dev === undefined || dev.entry !== entry) {
      dev = { entry, slots: [], silent: sensorRules.map(() => 0), grouped: sensorRules.map(() => false), changed: sensorRules.map(() => false) };
      devices.set(entry.id, dev);
    }
    return dev;
  }

  function sensorKey(k: number, slot: number): string {
    return `${sensorRules[k]!.rule.name}:${slotDevice[slot]!.entry.id}/${slotSensor[slot]!}`;
  }

  function allocate(dev: DeviceSilence, sensor: string, metric: string): number | undefined {
    let slot = free.pop();
    if (slot === undefined) {
      if (slots >= capacity && !grow()) return undefined;
      slot = slots++;
    }
    slotDevice[slot] = dev;
    slotSensor[slot] = sensor;
    let bits = 0;
    for (let k = 0; k < sensorRules.length; k++) {
      const metrics = sensorRules[k]!.metrics;
      if (metrics === undefined || metrics.has(metric)) bits |= 1 << k;
    }
    eligible[slot] = bits;
    silent[slot] = 0;
    owned[slot] = 0;
    dev.slots.push(slot);
    watched++;
    return slot;
  }

  /** The slot is no longer silent (it spoke, or it is forgotten): its own conditions end, its groups shrink. */
  function unsilence(slot: number, t: number): void {
    const dev = slotDevice[slot]!;
    for (let k = 0; k < sensorRules.length; k++) {
      const bit = 1 << k;
      if ((silent[slot]! & bit) === 0) continue;
      dev.silent[k]!--;
      if ((owned[slot]! & bit) !== 0) conditions.deactivate(sensorKey(k, slot), t);
      if (dev.grouped[k]) {
        if (dev.silent[k] === 0) {
          dev.grouped[k] = false;
          activeGroups--;
          conditions.deactivate(groupKey(sensorRules[k]!.rule.name, dev.entry.id), t);
        } else {
          dev.changed[k] = true;
          changedDevices.add(dev);
        }
      }
    }
    silent[slot] = 0;
    owned[slot] = 0;
  }

  function groupSignal(k: number, dev: DeviceSilence, t: number, activate: boolean): void {
    const { rule, afterMs } = sensorRules[k]!;
    const bit = 1 << k;
    const names: string[] = [];
    let watchedForRule = 0;
    let oldest = t;
    for (const slot of dev.slots) {
      if ((eligible[slot]! & bit) === 0) continue;
      watchedForRule++;
      if ((silent[slot]! & bit) === 0) continue;
      if (names.length < config.groupListMax) names.push(slotSensor[slot]!);
      if (lastSeen[slot]! < oldest) oldest = lastSeen[slot]!;
    }
    const n = dev.silent[k]!;
    const more = n > names.length ? ` (+${n - names.length} more)` : '';
    const where = finest(dev.entry);
    const base = {
      key: groupKey(rule.name, dev.entry.id),
      rule: rule.name,
      kind: 'sensor_silent' as const,
      severity: rule.severity,
      place: where.place,
      level: where.level,
      subject: dev.entry.id,
      value: n,
      summary: `${rule.title}: ${n} of ${watchedForRule} sensors of ${dev.entry.id} silent for ${rule.after}: ${names.join(', ')}${more}`,
      at: t,
      observedAt: oldest,
      verification: { by: 'condition' as const, windowMs: afterMs, windows: rule.verifyWindows },
    };
    if (activate) conditions.activate(base, { gateway: dev.entry.id, grid: dev.entry.places[3]!, isGroup: true });
    else conditions.update(base);
  }

  function ownSignal(k: number, slot: number, t: number): void {
    const { rule, afterMs } = sensorRules[k]!;
    const dev = slotDevice[slot]!;
    const where = finest(dev.entry);
    owned[slot]! |= 1 << k;
    conditions.activate(
      {
        key: sensorKey(k, slot),
        rule: rule.name,
        kind: 'sensor_silent',
        severity: rule.severity,
        place: where.place,
        level: where.level,
        subject: `${dev.entry.id}/${slotSensor[slot]!}`,
        summary: `${rule.title}: sensor ${slotSensor[slot]!} of ${dev.entry.id} silent for ${rule.after}`,
        at: t,
        observedAt: lastSeen[slot]!,
        verification: { by: 'condition', windowMs: afterMs, windows: rule.verifyWindows },
      },
      { gateway: dev.entry.id, grid: dev.entry.places[3]!, group: groupKey(rule.name, dev.entry.id) },
    );
  }

  return {
    observe(entry, readings, t) {
      const cache = entry.cache.sensors;
      let added = 0;
      let dev: DeviceSilence | undefined;
      for (let r = 0; r < readings.length; r++) {
        const reading = readings[r]!;
        let slot = cache.get(reading.sensor);
        if (slot === undefined) {
          // Decommissioned (ingest refuses its readings; a seed from the warehouse may still name it).
          if (entry.retired.has(reading.sensor)) continue;
          // The device's registered cap (ingest refuses beyond it), else the engine's default.
          if (cache.size >= (entry.maxSensors > 0 ? entry.maxSensors : config.maxSensorsPerDevice)) {
            deps.onDrop('device_sensors', 1);
            continue;
          }
          dev ??= deviceOf(entry);
          slot = allocate(dev, reading.sensor, reading.metric);
          if (slot === undefined) {
            deps.onDrop('sensors', 1);
            continue;
          }
          cache.set(reading.sensor, slot);
          added++;
        }
        if (lastSeen[slot]! < t) lastSeen[slot] = t;
        if (silent[slot] !== 0) unsilence(slot, t);
      }
      return added;
    },

    forget(entry, sensor, t) {
      const slot = entry.cache.sensors.get(sensor);
      const dev = devices.get(entry.id);
      if (slot === undefined || dev === undefined || slotDevice[slot] !== dev) return false;
      unsilence(slot, t);
      entry.cache.sensors.delete(sensor);
      dev.slots.splice(dev.slots.indexOf(slot), 1);
      // The group's "n of m" changes with m too.
      for (let k = 0; k < sensorRules.length; k++) {
        if (dev.grouped[k]) {
          dev.changed[k] = true;
          changedDevices.add(dev);
        }
      }
      slotDevice[slot] = undefined;
      slotSensor[slot] = '';
      eligible[slot] = 0;
      free.push(slot);
      watched--;
      return true;
    },

    restartClocks(t) {
      for (let i = 0; i < slots; i++) if (lastSeen[i]! < t) lastSeen[i] = t;
    },

    evaluate(t) {
      let evaluations = 0;
      const began = new Map<DeviceSilence, number[]>();
      for (let k = 0; k < sensorRules.length; k++) {
        const { afterMs } = sensorRules[k]!;
        const bit = 1 << k;
        began.clear();
        for (let i = 0; i < slots; i++) {
          if ((eligible[i]! & bit) === 0 || (silent[i]! & bit) !== 0 || t - lastSeen[i]! < afterMs) continue;
          const dev = slotDevice[i]!;
          if (dev.entry.revoked) continue;
          silent[i]! |= bit;
          dev.silent[k]!++;
          const list = began.get(dev);
          if (list === undefined) began.set(dev, [i]);
          else list.push(i);
        }
        evaluations += slots;
        for (const [dev, list] of began) {
          if (dev.grouped[k]) {
            dev.changed[k] = true;
            changedDevices.add(dev);
          } else if (dev.silent[k]! >= config.groupAt) {
            dev.grouped[k] = true;
            activeGroups++;
            groupSignal(k, dev, t, true);
          } else for (const slot of list) ownSignal(k, slot, t);
        }
      }
      for (const dev of changedDevices) {
        for (let k = 0; k < sensorRules.length; k++) {
          if (!dev.changed[k]) continue;
          dev.changed[k] = false;
          if (dev.grouped[k]) groupSignal(k, dev, t, false);
        }
      }
      changedDevices.clear();
      return evaluations;
    },

    sensors: () => watched,
    groups: () => activeGroups,
  };
}
