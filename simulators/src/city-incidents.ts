import { formatPlace, type Reading } from '@cityops/protocol';
import type { City, GatewaySpec } from './city.ts';
import { simulatorErrors } from './errors.ts';
import { incidentAt, type IncidentKind, type IncidentSlot, type ScenarioSpec } from './city-scenarios.ts';
import { CITY_CODE_MIX, type CodeMix } from './scanner-code-mix.ts';
import type { ScannerSite } from './scanner-fleet.ts';

/** Where each incident of a city happens: chosen once from the city, the same for every round. */
export interface IncidentTargets {
  /** pm25-episode: every PM2.5 sensor of this district. */
  readonly district?: string;
  /** water-pressure-drop: every water pressure sensor of this grid (`district/subdistrict/grid`). */
  readonly grid?: string;
  /** gateway-offline: this gateway stops, then comes back. */
  readonly gateway?: string;
  /** sensor-silent: this sensor of this gateway sends nothing. */
  readonly sensor?: { readonly gateway: string; readonly sensor: string };
  /** forged-ring: forged codes at this venue's door. */
  readonly venue?: string;
}

/** An incident running now, with its place in the hierarchy (or the device) it is at. */
export interface RunningIncident extends IncidentSlot {
  readonly place: string;
}

export interface CityIncidents {
  readonly scenario: ScenarioSpec;
  readonly targets: IncidentTargets;
  /** The incident at `t`, if any. */
  current(t: number): RunningIncident | undefined;
  /** A gateway's reading as the incident makes it: changed, unchanged, or undefined (not sent). */
  adjust(gateway: string, reading: Reading, t: number): Reading | undefined;
  /** The gateway is down at `t` (its agent stopped). */
  gatewayOffline(gateway: string, t: number): boolean;
  /** The mix at a venue's door at `t`; undefined: the usual one. */
  readonly mixAt: (venue: string, t: number) => CodeMix | undefined;
}

export interface CityIncidentsConfig {
  readonly scenario: ScenarioSpec;
  readonly city: City;
  readonly sites: readonly ScannerSite[];
  /** When the city started (the scenario's clock starts here). */
  readonly startMs: number;
}

/** During a ring one code in nine at the venue's door is forged (the rest as usual). */
const RING_MIX: CodeMix = Object.freeze({ ...CITY_CODE_MIX, forged: 1_200 });

const gridOf = (g: GatewaySpec) => formatPlace({ ...g.place, building: '' });
const has = (g: GatewaySpec, metric: string) => g.sensors.some((s) => s.metric === metric);

/**
 * Picks a place for each incident of the scenario, apart from one another so one incident's alert
 * never lands where another's does. A city without such a place (no water gateway, no scanner)
 * is refused with every missing one named.
 */
export function pickIncidentTargets(city: City, sites: readonly ScannerSite[], kinds: readonly IncidentKind[]): IncidentTargets {
  const { targets, missing } = placeIncidents(city, sites, kinds);
  if (missing.length > 0) throw simulatorErrors.SIM_ERR_SCENARIO_CITY(`${missing.map((m) => m.why).join('; ')} (more --gateways or --scanners)`);
  return targets;
}

function placeIncidents(city: City, sites: readonly ScannerSite[], kinds: readonly IncidentKind[]): { targets: IncidentTargets; missing: { kind: IncidentKind; why: string }[] } {
  const gateways = city.gateways;
  const pm = gateways.find((g) => has(g, 'pm25'));
  const water = gateways.find((g) => has(g, 'water_pressure'));
  const used = new Set([pm?.place.district, water === undefined ? undefined : gridOf(water)]);
  // A gateway apart from both (its sensors' silence would otherwise mix with theirs).
  const apart = gateways.filter((g) => g !== pm && g !== water && !used.has(g.place.district));
  const offline = apart[0];
  const silent = apart.find((g) => g !== offline && g.sensors.length > 0 && (offline === undefined || gridOf(g) !== gridOf(offline)));
  const targets: IncidentTargets = {
    ...(pm === undefined ? {} : { district: pm.place.district }),
    ...(water === undefined ? {} : { grid: gridOf(water) }),
    ...(offline === undefined ? {} : { gateway: offline.id }),
    ...(silent === undefined ? {} : { sensor: { gateway: silent.id, sensor: silent.sensors[0]!.id } }),
    ...(sites[0] === undefined ? {} : { venue: sites[0].venue }),
  };
  const need: Record<IncidentKind, [keyof IncidentTargets, string]> = {
    'pm25-episode': ['district', 'a gateway with a PM2.5 sensor'],
    'water-pressure-drop': ['grid', 'a gateway with a water pressure sensor'],
    'gateway-offline': ['gateway', 'a gateway outside the PM2.5 district'],
    'sensor-silent': ['sensor', 'a second gateway outside the PM2.5 district'],
    'forged-ring': ['venue', 'a venue scanner'],
  };
  const missing = kinds.filter((k) => targets[need[k][0]] === undefined).map((kind) => ({ kind, why: `${kind} needs ${need[kind][1]}` }));
  return { targets, missing };
}

/**
 * The scheduled incidents of a simulated city: what the gateways and doors do differently while
 * one runs. Pure functions of the time: the fleets ask at each reading, each code and each tick.
 */
export function createCityIncidents(config: CityIncidentsConfig): CityIncidents {
  const { startMs } = config;
  const { missing } = placeIncidents(config.city, config.sites, config.scenario.kinds);
  // The default rotation in a small city (cityops up --gateways 3) runs the incidents it has a place for.
  const scenario = config.scenario.skipUnplaceable ? { ...config.scenario, kinds: config.scenario.kinds.filter((k) => !missing.some((m) => m.kind === k)) } : config.scenario;
  const targets = pickIncidentTargets(config.city, config.sites, scenario.kinds);
  const gateways = new Map(config.city.gateways.map((g) => [g.id, g]));
  const placeOf = (kind: IncidentKind): string => {
    switch (kind) {
      case 'pm25-episode':
        return targets.district!;
      case 'water-pressure-drop':
        return targets.grid!;
      case 'gateway-offline':
        return targets.gateway!;
      case 'sensor-silent':
        return `${targets.sensor!.gateway}/${targets.sensor!.sensor}`;
      case 'forged-ring':
        return targets.venue!;
    }
  };
  const running = (t: number, kind: IncidentKind) => incidentAt(scenario, startMs, t)?.kind === kind;

  return {
    scenario,
    targets,
    current(t) {
      const slot = incidentAt(scenario, startMs, t);
      return slot === undefined ? undefined : { ...slot, place: placeOf(slot.kind) };
    },
    adjust(gateway, reading, t) {
      const kind = incidentAt(scenario, startMs, t)?.kind;
      if (kind === undefined) return reading;
      const spec = gateways.get(gateway);
      if (kind === 'pm25-episode' && reading.metric === 'pm25' && spec?.place.district === targets.district) {
        // Haze over the district: every sensor 85-135 µg/m³, so the district's average passes its
        // warning (75) while no grid's passes the grid's critical mark (150): one alert, at the district.
        return { ...reading, value: Math.round((85 + Math.min(reading.value, 100) / 2) * 10) / 10 };
      }
      if (kind === 'water-pressure-drop' && reading.metric === 'water_pressure' && spec !== undefined && gridOf(spec) === targets.grid) {
        // A main bursts: a quarter of the usual pressure (0.6-1.1 bar), under the grid's critical 1.4.
        return { ...reading, value: Math.round((reading.value / 4 + 0.1) * 100) / 100 };
      }
      if (kind === 'sensor-silent' && gateway === targets.sensor?.gateway && reading.sensor === targets.sensor.sensor) return undefined;
      return reading;
    },
    gatewayOffline: (gateway, t) => gateway === targets.gateway && running(t, 'gateway-offline'),
    mixAt: (venue, t) => (venue === targets.venue && running(t, 'forged-ring') ? RING_MIX : undefined),
  };
}
