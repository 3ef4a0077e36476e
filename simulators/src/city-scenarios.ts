import { simulatorErrors } from './errors.ts';

/** The incidents a simulated city can have, each one the shipped alert rules must catch. */
export const INCIDENT_KINDS = ['water-pressure-drop', 'gateway-offline', 'sensor-silent', 'pm25-episode', 'forged-ring'] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];

const MINUTE = 60_000;

/**
 * How long each incident lasts: long enough for its rule's window and hold (analytics/alerts/
 * city-rules.json), short enough that it ends before the next and its alert can clear.
 */
export const INCIDENT_DURATION_MS: Readonly<Record<IncidentKind, number>> = Object.freeze({
  // water_pressure_min over 5m, held 1m: raised about a minute in.
  'water-pressure-drop': 4 * MINUTE,
  // gateway_offline after a 30 s grace; back before its sensors' silence (2m) begins: one alert.
  'gateway-offline': 1.5 * MINUTE,
  // sensor_silent after 2m.
  'sensor-silent': 4 * MINUTE,
  // the district's 5-minute average passes 75 after ~3 min, then pm25_elevated_district holds 5m.
  'pm25-episode': 10 * MINUTE,
  // forgery_spike over 5m: 5 forged codes, once the venue has learned (15 min of history).
  'forged-ring': 6 * MINUTE,
});

/** What the incident should raise, for `--scenario list` and the tests: the rule and where. */
export const INCIDENT_ALERTS: Readonly<Record<IncidentKind, string>> = Object.freeze({
  'water-pressure-drop': 'water_pressure_low_grid at the grid',
  'gateway-offline': 'gateway_offline at the gateway',
  'sensor-silent': 'sensor_silent at the sensor',
  'pm25-episode': 'pm25_elevated_district at the district',
  'forged-ring': 'forgery_spike (and deny_spike) at the venue',
});

export interface ScenarioSpec {
  readonly name: string;
  readonly description: string;
  /** The incidents in order; empty: a quiet city. */
  readonly kinds: readonly IncidentKind[];
  /** The first incident starts this long after the city. */
  readonly firstAfterMs: number;
  /** Quiet time between the end of one incident and the start of the next. */
  readonly gapMs: number;
  /** Start over after the last incident (the default city runs for hours). */
  readonly repeat: boolean;
  /** A city too small for some incident (no water gateway, no scanner) runs the others; else it is refused. */
  readonly skipUnplaceable: boolean;
}

/** A venue's anomaly rules learn for 15 minutes (city-rules.json `history`): a ring before that would go unseen. */
const FORGED_RING_FIRST_AFTER_MS = 17 * MINUTE;

function single(kind: IncidentKind): ScenarioSpec {
  const firstAfterMs = kind === 'forged-ring' ? FORGED_RING_FIRST_AFTER_MS : 1 * MINUTE;
  return { name: kind, description: `one incident, ${firstAfterMs / MINUTE} min in: ${INCIDENT_ALERTS[kind]}`, kinds: [kind], firstAfterMs, gapMs: 2 * MINUTE, repeat: false, skipUnplaceable: false };
}

export const SCENARIOS: readonly ScenarioSpec[] = Object.freeze([
  {
    name: 'default',
    description: 'one incident every few minutes, in turn: water pressure, a gateway, a sensor, PM2.5, a forged-code ring; then again',
    kinds: INCIDENT_KINDS,
    firstAfterMs: 3 * MINUTE,
    gapMs: 2 * MINUTE,
    repeat: true,
    skipUnplaceable: true,
  },
  { name: 'quiet', description: 'no incident: a city that should raise no alert', kinds: [], firstAfterMs: 0, gapMs: 0, repeat: false, skipUnplaceable: false },
  ...INCIDENT_KINDS.map(single),
]);

export function findScenario(name: string): ScenarioSpec {
  const found = SCENARIOS.find((s) => s.name === name);
  // Said back in one line however long or strange the name (a pasted file, control characters).
  const shown = JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
  if (found === undefined) throw simulatorErrors.SIM_ERR_SCENARIO_UNKNOWN(`${shown}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  return found;
}

/** `cityops up --scenario list`. */
export function describeScenarios(): string {
  const width = Math.max(...SCENARIOS.map((s) => s.name.length));
  return SCENARIOS.map((s) => `  ${s.name.padEnd(width)}  ${s.description}`).join('\n');
}

/** One incident's slot in time: its kind, start and end (ms since the epoch). */
export interface IncidentSlot {
  readonly kind: IncidentKind;
  readonly startMs: number;
  readonly endMs: number;
}

/** The incident running at `t`, if any, for a scenario started at `startMs`. */
export function incidentAt(scenario: ScenarioSpec, startMs: number, t: number): IncidentSlot | undefined {
  if (scenario.kinds.length === 0) return undefined;
  const spans = scenario.kinds.map((k) => INCIDENT_DURATION_MS[k] + scenario.gapMs);
  const cycle = spans.reduce((a, b) => a + b, 0);
  let offset = t - startMs - scenario.firstAfterMs;
  if (offset < 0) return undefined;
  const round = Math.floor(offset / cycle);
  if (round > 0 && !scenario.repeat) return undefined;
  offset -= round * cycle;
  let from = startMs + scenario.firstAfterMs + round * cycle;
  for (const [i, kind] of scenario.kinds.entries()) {
    const duration = INCIDENT_DURATION_MS[kind];
    if (offset < duration) return { kind, startMs: from, endMs: from + duration };
    offset -= spans[i]!;
    from += spans[i]!;
    if (offset < 0) return undefined; // in the gap after it
  }
  return undefined;
}
