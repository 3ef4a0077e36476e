import type { AlertKind } from '../alerts/alert-signal.ts';
import type { ConditionLinks, ConditionSet } from './condition-set.ts';
import type { DeviceEntry } from './device-directory.ts';
import { ruleDurationMs } from './rule-duration.ts';
import type { GatewayOfflineRule, GridQuietRule, PipelineBacklogRule, SensorSilentRule } from './rule-schema.ts';
import { createSensorSilence, finest, type SensorSilenceConfig } from './sensor-silence.ts';

export interface SilenceRules {
  readonly sensorSilent: readonly SensorSilentRule[];
  readonly gatewayOffline?: GatewayOfflineRule;
  readonly gridQuiet?: GridQuietRule;
  readonly pipelineBacklog?: PipelineBacklogRule;
}

export interface SilenceTrackerConfig extends SensorSilenceConfig {
  readonly maxGateways: number;
  readonly maxGrids: number;
  readonly maxPipelines: number;
}

export interface SilenceTrackerDeps {
  readonly conditions: ConditionSet;
  readonly now: () => number;
  readonly onDrop: (reason: 'sensors' | 'device_sensors' | 'gateways' | 'grids' | 'pipelines', n: number) => void;
  readonly onEvaluations: (n: number) => void;
}

/** What ingest says about its pipeline (protocol's PipelineStatus, the fields the rule reads). */
export interface PipelineObservation {
  readonly instance: string;
  readonly online: boolean;
  readonly oldestPendingMs: number;
}

/** The subject name of the condition "our own connection to the broker is down". */
export const LINK_SUBJECT = 'analytics-link';

export interface SilenceTracker {
  /** A batch from a gateway arrived now: its sensors, its grid and the gateway are alive. */
  sawBatch(entry: DeviceEntry, readings: readonly { readonly sensor: string; readonly metric: string }[]): void;
  /**
   * At start, from the warehouse: a sensor last seen at `lastSeen` (before now). Its silence clock
   * starts there, so a sensor that stopped before a restart is still found silent.
   */
  seed(entry: DeviceEntry, sensor: string, metric: string, lastSeen: number): void;
  /** A gateway's status message (retained or live). */
  sawStatus(entry: DeviceEntry, online: boolean): void;
  sawPipeline(status: PipelineObservation): void;
  /** Our connection to the broker went down (false) or came back (true). */
  linkChanged(up: boolean): void;
  /** Time-driven edges: silences that began, offline gateways past their grace, stale pipelines. */
  evaluate(): void;
  /** The nearest active ancestor of a condition in the suppression chain. */
  parentOf(kind: AlertKind, links: ConditionLinks, isActive: (key: string) => boolean): string | undefined;
  /**
   * The one place a decommissioned sensor is forgotten (a DeviceEntry's `retired` set, kept by the
   * registry): its condition ends, it leaves its gateway's group and its grid's count, its slot is
   * reused. Whether it was watched.
   */
  forget(entry: DeviceEntry, sensor: string): boolean;
  /** What the tracker holds, by kind (for the engine's state gauge). */
  sizes(): { readonly sensors: number; readonly groups: number; readonly gateways: number; readonly grids: number; readonly pipelines: number };
}

interface GridState {
  readonly place: string;
  sensors: number;
  lastSeen: number;
  active: boolean;
}

interface GatewayState {
  readonly entry: DeviceEntry;
  /** Engine time the gateway was last known to go offline; NaN while online. */
  offlineSince: number;
  active: boolean;
}

interface PipelineState {
  readonly instance: string;
  lastAt: number;
  online: boolean;
  /** Since when the oldest pending reading has been older than maxLagMs; NaN when it is not. */
  lagSince: number;
  active: boolean;
}

interface SilenceCache {
  grid: GridState | undefined;
}

/**
 * Silence and the chain that explains it: sensors that stopped, gateways whose status says
 * offline, grids gone quiet, an ingest pipeline behind or gone, our own link down. Sensors and
 * their grouping by gateway are sensor-silence.ts's; this file holds the chain above them.
 */
export function createSilenceTracker(rules: SilenceRules, config: SilenceTrackerConfig, deps: SilenceTrackerDeps): SilenceTracker {
  const { conditions, now } = deps;
  const sensors = createSensorSilence(rules.sensorSilent, config, { conditions, onDrop: deps.onDrop });
  const grids = new Map<string, GridState>();
  const gateways = new Map<string, GatewayState>();
  const pipelines = new Map<string, PipelineState>();
  const gwRule = rules.gatewayOffline;
  const gwGraceMs = gwRule === undefined ? 0 : ruleDurationMs(gwRule.grace);
  const gridRule = rules.gridQuiet;
  const gridAfterMs = gridRule === undefined ? 0 : ruleDurationMs(gridRule.after);
  const pipeRule = rules.pipelineBacklog;
  const pipeForMs = pipeRule === undefined ? 0 : ruleDurationMs(pipeRule.for);
  const pipeStaleMs = pipeRule === undefined ? 0 : ruleDurationMs(pipeRule.staleAfter);
  const activePipelines = new Set<string>();
  let linkDown = false;

  function gridOf(entry: DeviceEntry, t: number): GridState | undefined {
    const cache = entry.cache as unknown as { silence?: SilenceCache };
    if (cache.silence !== undefined) return cache.silence.grid;
    const place = entry.places[3]!;
    let grid = grids.get(place);
    if (grid === undefined && grids.size < config.maxGrids) {
      grid = { place, sensors: 0, lastSeen: t, active: false };
      grids.set(place, grid);
    } else if (grid === undefined) deps.onDrop('grids', 1);
    cache.silence = { grid };
    return grid;
  }

  function gatewayState(entry: DeviceEntry): GatewayState | undefined {
    let gw = gateways.get(entry.id);
    if (gw === undefined) {
      if (gateways.size >= config.maxGateways) {
        deps.onDrop('gateways', 1);
        return undefined;
      }
      gw = { entry, offlineSince: Number.NaN, active: false };
      gateways.set(entry.id, gw);
    }
    return gw;
  }

  function online(gw: GatewayState, t: number): void {
    gw.offlineSince = Number.NaN;
    if (gw.active && gwRule !== undefined) {
      gw.active = false;
      conditions.deactivate(`${gwRule.name}:${gw.entry.id}`, t);
    }
  }

  function pipelineKey(subject: string): string {
    return `${pipeRule!.name}:${subject}`;
  }

  function setPipeline(subject: string, on: boolean, t: number, why: string): void {
    if (pipeRule === undefined) return;
    const key = pipelineKey(subject);
    if (on && !activePipelines.has(key)) {
      activePipelines.add(key);
      conditions.activate(
        {
          key,
          rule: pipeRule.name,
          kind: 'pipeline_backlog',
          severity: pipeRule.severity,
          place: '',
          level: 'city',
          subject,
          summary: `${pipeRule.title}: ${subject} ${why}`,
          at: t,
          verification: { by: 'condition', windowMs: pipeStaleMs, windows: pipeRule.verifyWindows },
        },
        {},
      );
    } else if (!on && activePipelines.delete(key)) {
      conditions.deactivate(key, t);
    }
  }

  /** `readings` seen at `t` (now, or a seeded time in the past). */
  function observe(entry: DeviceEntry, readings: readonly { readonly sensor: string; readonly metric: string }[], t: number): void {
    const grid = gridOf(entry, t);
    const added = sensors.observe(entry, readings, t);
    if (grid !== undefined) {
      grid.sensors += added;
      if (grid.lastSeen < t) grid.lastSeen = t;
      if (grid.active && gridRule !== undefined) {
        grid.active = false;
        conditions.deactivate(`${gridRule.name}:${grid.place}`, t);
      }
    }
  }

  return {
    sawBatch(entry, readings) {
      const t = now();
      observe(entry, readings, t);
      // Telemetry is proof of life, whatever a retained status says.
      const gw = gateways.get(entry.id);
      if (gw !== undefined && !Number.isNaN(gw.offlineSince)) online(gw, t);
    },

    seed(entry, sensor, metric, at) {
      observe(entry, [{ sensor, metric }], Math.min(at, now()));
    },

    sawStatus(entry, isOnline) {
      const gw = gatewayState(entry);
      if (gw === undefined) return;
      const t = now();
      if (isOnline) online(gw, t);
      else if (Number.isNaN(gw.offlineSince)) gw.offlineSince = t;
    },

    sawPipeline(status) {
      let p = pipelines.get(status.instance);
      if (p === undefined) {
        if (pipelines.size >= config.maxPipelines) {
          deps.onDrop('pipelines', 1);
          return;
        }
        p = { instance: status.instance, lastAt: 0, online: true, lagSince: Number.NaN, active: false };
        pipelines.set(status.instance, p);
      }
      const t = now();
      p.lastAt = t;
      p.online = status.online;
      if (pipeRule !== undefined && status.oldestPendingMs > pipeRule.maxLagMs) {
        if (Number.isNaN(p.lagSince)) p.lagSince = t - status.oldestPendingMs + pipeRule.maxLagMs;
      } else p.lagSince = Number.NaN;
    },

    linkChanged(up) {
      const t = now();
      if (up === !linkDown) return;
      linkDown = !up;
      setPipeline(LINK_SUBJECT, linkDown, t, 'cannot reach the broker: silences are not observable');
      if (up) {
        // What we could not observe is not silence: every clock restarts at the reconnect.
        sensors.restartClocks(t);
        for (const grid of grids.values()) if (grid.lastSeen < t) grid.lastSeen = t;
        for (const p of pipelines.values()) p.lastAt = t;
      }
    },

    evaluate() {
      const t = now();
      let evaluations = 0;
      evaluations += sensors.evaluate(t);
      if (gwRule !== undefined) {
        for (const gw of gateways.values()) {
          if (gw.active || Number.isNaN(gw.offlineSince) || t - gw.offlineSince < gwGraceMs || gw.entry.revoked) continue;
          gw.active = true;
          const where = finest(gw.entry);
          conditions.activate(
            {
              key: `${gwRule.name}:${gw.entry.id}`,
              rule: gwRule.name,
              kind: 'gateway_offline',
              severity: gwRule.severity,
              place: where.place,
              level: where.level,
              subject: gw.entry.id,
              summary: `${gwRule.title}: gateway ${gw.entry.id} offline for more than ${gwRule.grace}`,
              at: t,
              observedAt: gw.offlineSince,
              verification: { by: 'condition', windowMs: Math.max(gwGraceMs, 1000), windows: gwRule.verifyWindows },
            },
            { grid: gw.entry.places[3]! },
          );
        }
        evaluations += gateways.size;
      }
      if (gridRule !== undefined) {
        for (const grid of grids.values()) {
          if (grid.active || grid.sensors < gridRule.minSensors || t - grid.lastSeen < gridAfterMs) continue;
          grid.active = true;
          conditions.activate(
            {
              key: `${gridRule.name}:${grid.place}`,
              rule: gridRule.name,
              kind: 'grid_quiet',
              severity: gridRule.severity,
              place: grid.place,
              level: 'grid',
              summary: `${gridRule.title}: all ${grid.sensors} sensors of grid ${grid.place} silent for ${gridRule.after}`,
              at: t,
              observedAt: grid.lastSeen,
              verification: { by: 'condition', windowMs: gridAfterMs, windows: gridRule.verifyWindows },
            },
            { grid: grid.place },
          );
        }
        evaluations += grids.size;
      }
      if (pipeRule !== undefined) {
        for (const p of pipelines.values()) {
          const stale = t - p.lastAt >= pipeStaleMs;
          const lagging = !Number.isNaN(p.lagSince) && t - p.lagSince >= pipeForMs;
          const why = !p.online ? 'is offline' : stale ? `sent no status for ${pipeRule.staleAfter}` : `is more than ${pipeRule.maxLagMs} ms behind`;
          setPipeline(p.instance, !p.online || stale || lagging, t, why);
        }
        evaluations += pipelines.size;
      }
      deps.onEvaluations(evaluations);
    },

    parentOf(kind, links, isActive) {
      if (kind === 'pipeline_backlog') return undefined;
      // A sensor's own condition hangs under its gateway's group first (sensor-silence.ts).
      if (links.group !== undefined && isActive(links.group)) return links.group;
      if (kind === 'sensor_silent' && gwRule !== undefined && links.gateway !== undefined) {
        const key = `${gwRule.name}:${links.gateway}`;
        if (isActive(key)) return key;
      }
      if (kind !== 'grid_quiet' && gridRule !== undefined && links.grid !== undefined) {
        const key = `${gridRule.name}:${links.grid}`;
        if (isActive(key)) return key;
      }
      for (const key of activePipelines) return key;
      return undefined;
    },
    forget(entry, sensor) {
      if (!sensors.forget(entry, sensor, now())) return false;
      const grid = gridOf(entry, now());
      if (grid !== undefined) grid.sensors--;
      return true;
    },
    sizes: () => ({ sensors: sensors.sensors(), groups: sensors.groups(), gateways: gateways.size, grids: grids.size, pipelines: pipelines.size }),
  };
}
