import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSeededRandom, SENSOR_MODELS, type Metric } from '@cityops/edge-agent';
import { CITY_RULES_PATH, type AlertSignal } from '@cityops/analytics';
import { formatPlace, topics } from '@cityops/protocol';
import { formatDateTime64Utc } from '@cityops/warehouse';
// The analytics tests' harness: a real broker and ingest over embedded chDB, the real rule engine on a manual clock.
import { manualClock, startRuleHarness, type RuleHarness, type TestEngine, type TestGateway } from '../../analytics/test/rule-harness.ts';
import {
  CITY_CODE_MIX,
  CODE_CLASSES,
  createCityIncidents,
  findScenario,
  generateCity,
  incidentAt,
  pickCodeClass,
  planScannerSites,
  type CityIncidents,
  type CodeClass,
  type IncidentKind,
  type ScenarioSpec,
} from '../src/index.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
/** Simulated time per step: every sensor reports once, every door checks its share of codes. */
const STEP_MS = 15 * SECOND;
/** Codes a second at each door (cityops up: 10 a second over 8 doors). */
const CODES_PER_DOOR_PER_SECOND = 1.25;

/**
 * The shipped rules, as cityops up runs them, but pipeline_backlog: the harness's ingest reports
 * its pipeline on the wall clock, the rules here run on the test's clock (hours behind).
 */
const CITY_RULES = (JSON.parse(readFileSync(CITY_RULES_PATH, 'utf8')) as { rules: { kind: string }[] }).rules.filter((r) => r.kind !== 'pipeline_backlog');

/** The reason the verifier gives each class (the scanner fleet's test checks the real verifier gives it). */
const REASON: Record<CodeClass, string> = {
  valid: 'OK',
  expired: 'EXPIRED',
  'wrong-colour': 'POLICY_DENIED',
  forged: 'BAD_SIGNATURE',
  revoked: 'REVOKED',
  'wrong-issuer': 'KEY_NOT_ALLOWED_FOR_KIND',
  malformed: 'MALFORMED_BASE45',
};

const city = generateCity({ gateways: 24, seed: 1 });
const sites = planScannerSites({ scanners: 4, seed: 1 });

let h: RuleHarness;
const gateways = new Map<string, TestGateway>();
beforeAll(async () => {
  h = await startRuleHarness();
  for (const g of city.gateways) {
    const secret = await h.provision(g.id, 'gateway', formatPlace(g.place));
    gateways.set(g.id, await h.gateway(g.id, secret));
  }
  for (const s of sites) await h.provision(s.id, 'scanner', s.venue);
}, 120_000);
afterAll(async () => {
  await h?.close();
});

interface Raised {
  readonly at: number;
  readonly signal: AlertSignal;
}

/**
 * Runs the simulated city from `startMs` for `durationMs` on the manual clock: each step every
 * sensor's reading (as its model and the incident make it) goes through the broker to the rule
 * engine, each door's checks go to verification_events, the target gateway goes offline and
 * comes back. Returns every raise, with the simulated time it came at.
 */
async function runCity(scenario: ScenarioSpec, clock: ReturnType<typeof manualClock>, durationMs: number, t: TestEngine): Promise<{ raised: Raised[]; incidents: CityIncidents }> {
  const startMs = clock.now();
  const incidents = createCityIncidents({ scenario, city, sites, startMs });
  const random = createSeededRandom(19);
  const samplers = new Map(
    city.gateways.map((g, i) => [
      g.id,
      g.sensors.map((s, k) => ({ sensor: s.id, metric: s.metric as Metric, sample: SENSOR_MODELS[s.metric as Metric].createSampler(createSeededRandom(1_000 * i + k + 1), { utcOffsetMinutes: 480 }) })),
    ]),
  );
  const offline = new Set<string>();
  let published = 0;
  const seen = new Set<string>();
  const raised: Raised[] = [];
  const collect = () => {
    for (const s of t.sink.raises()) {
      if (seen.has(s.key) || s.parentKey !== undefined) continue;
      seen.add(s.key);
      raised.push({ at: clock.now(), signal: s });
    }
  };
  for (let step = 0; step * STEP_MS < durationMs; step++) {
    clock.advance(STEP_MS);
    const now = clock.now();
    for (const g of city.gateways) {
      const gw = gateways.get(g.id)!;
      const down = incidents.gatewayOffline(g.id, now);
      if (down !== offline.has(g.id)) {
        // What the agent's clean stop (and its start) says on its status topic.
        await gw.client.publishAsync(topics.status(g.id), JSON.stringify({ online: !down, boot: 1, ts: now, ...(down ? { reason: 'stopped' } : {}) }), { qos: 1, retain: true });
        if (down) offline.add(g.id);
        else offline.delete(g.id);
      }
      if (down) continue;
      const readings = samplers.get(g.id)!.flatMap(({ sensor, metric, sample }) => {
        const r = incidents.adjust(g.id, { sensor, metric, ts: now, value: sample(now) }, now);
        return r === undefined ? [] : [{ sensor: r.sensor, metric: r.metric, value: r.value }];
      });
      if (readings.length === 0) continue;
      await gw.publish(readings, now);
      published += readings.length;
    }
    const events = sites.flatMap((site, door) =>
      Array.from({ length: Math.round((STEP_MS / 1000) * CODES_PER_DOOR_PER_SECOND) }, (_, i) => {
        const codeClass = pickCodeClass(incidents.mixAt(site.venue, now) ?? CITY_CODE_MIX, random);
        return {
          at: formatDateTime64Utc(now - STEP_MS + ((i + 0.5) * STEP_MS) / 20 - door), venue: site.venue, kind: 'health', verdict: codeClass === 'valid' ? 'allow' : 'deny',
          reason: REASON[codeClass], issuer: 'city-health', pseudonym: 'p', scanner: site.id, transport: 'mqtt', offline: false, stale: false,
        };
      }),
    );
    await h.warehouse.insertRows('verification_events', events);
    await t.readingsSeen(published);
    await t.tick();
    // The anomaly rules ask every 5 s in cityops up; once a minute here is enough to see an episode of minutes.
    if (step % 4 === 3) await t.engine.pollVerificationsNow();
    await t.engine.settled();
    collect();
  }
  return { raised, incidents };
}

/** Where each incident's alert must be: its rule and its place in the key. */
function expectedKey(kind: IncidentKind, incidents: CityIncidents): string {
  const p = incidents.targets;
  switch (kind) {
    case 'water-pressure-drop':
      return `water_pressure_low_grid:${p.grid}`;
    case 'gateway-offline':
      return `gateway_offline:${p.gateway}`;
    case 'sensor-silent':
      return `sensor_silent:${p.sensor!.gateway}/${p.sensor!.sensor}`;
    case 'pm25-episode':
      return `pm25_elevated_district:${p.district}`;
    case 'forged-ring':
      return `forgery_spike:${p.venue}`;
  }
}

const DAY = 24 * 60 * MINUTE;
/**
 * Each test a day of its own (earlier and earlier), so one's readings and events never fall in
 * another's windows, from 18:30 in Shanghai (10:30 UTC): the evening peak of crowds and traffic,
 * the busiest a quiet city gets. A fixed hour, so the outcome never depends on when the test runs.
 */
let daysBack = 0;
const freshClock = () => manualClock(Math.floor(Date.now() / DAY) * DAY + 10.5 * 3_600_000 - ++daysBack * DAY);

describe('a believable simulated city (issue 19)', () => {
  it("the city's doors deny about 2%, mostly expired and wrong-colour codes, forgeries rare", () => {
    const random = createSeededRandom(7);
    const counts = Object.fromEntries(CODE_CLASSES.map((c) => [c, 0])) as Record<CodeClass, number>;
    const n = 200_000;
    for (let i = 0; i < n; i++) counts[pickCodeClass(CITY_CODE_MIX, random)]++;
    const denied = n - counts.valid;
    expect(denied / n).toBeGreaterThan(0.01);
    expect(denied / n).toBeLessThan(0.03);
    expect((counts.expired + counts['wrong-colour']) / denied).toBeGreaterThan(0.8);
    expect((counts.forged + counts['wrong-issuer']) / n).toBeLessThan(0.001);
  });

  it('schedules one incident at a time, each long enough for its rule, and the quiet scenario none', () => {
    const def = findScenario('default');
    const kinds: IncidentKind[] = [];
    for (let t = 0; t < 2 * 60 * MINUTE; t += 10 * SECOND) {
      const slot = incidentAt(def, 0, t);
      if (slot !== undefined && kinds.at(-1) !== slot.kind) kinds.push(slot.kind);
    }
    expect(kinds.slice(0, 6)).toEqual(['water-pressure-drop', 'gateway-offline', 'sensor-silent', 'pm25-episode', 'forged-ring', 'water-pressure-drop']);
    expect(incidentAt(def, 0, 3 * MINUTE - 1)).toBeUndefined();
    // The ring comes after the venues' 15 minutes of learning.
    for (let t = 0; t < 16 * MINUTE; t += SECOND) expect(incidentAt(def, 0, t)?.kind).not.toBe('forged-ring');
    const quiet = findScenario('quiet');
    for (let t = 0; t < 60 * MINUTE; t += MINUTE) expect(incidentAt(quiet, 0, t)).toBeUndefined();
    expect(() => findScenario('storm')).toThrow(expect.objectContaining({ code: 'SIM_ERR_SCENARIO_UNKNOWN' }));
    // A name of 100,000 characters with a newline is said back cut short, on one line.
    expect(() => findScenario(`x\n${'y'.repeat(100_000)}`)).toThrow(/^No such scenario: "x\\nyy+…"; known: default, quiet, /);
  });

  it('a city too small for an incident runs the others by default, and refuses that incident named alone', () => {
    const small = generateCity({ gateways: 3, seed: 1 });
    const incidents = createCityIncidents({ scenario: findScenario('default'), city: small, sites: [], startMs: 0 });
    expect(incidents.scenario.kinds).not.toContain('forged-ring');
    expect(incidents.scenario.kinds).not.toContain('water-pressure-drop');
    expect(incidents.scenario.kinds.length).toBeGreaterThan(0);
    expect(() => createCityIncidents({ scenario: findScenario('forged-ring'), city: small, sites: [], startMs: 0 })).toThrow(
      expect.objectContaining({ code: 'SIM_ERR_SCENARIO_CITY', message: expect.stringMatching(/forged-ring needs a venue scanner/) as unknown }),
    );
  });

  it('a quiet city raises no alert in its first 25 minutes', async () => {
    const clock = freshClock();
    const t = await h.engine(CITY_RULES, clock);
    const { raised } = await runCity(findScenario('quiet'), clock, 25 * MINUTE, t);
    expect(raised.map((r) => r.signal.summary)).toEqual([]);
    // The anomaly rules have learned by then, and still say nothing.
    expect(t.engine.stats().anomalies.map((a) => a.state)).toEqual(['ready', 'ready']);
    await t.engine.stop();
  }, 300_000);

  it('each scheduled incident raises its alert at its place, while it runs, and nothing else is raised', async () => {
    const clock = freshClock();
    const t = await h.engine(CITY_RULES, clock);
    const scenario = findScenario('default');
    const { raised, incidents } = await runCity(scenario, clock, 42 * MINUTE, t);
    const startMs = clock.now() - 42 * MINUTE;
    for (const kind of scenario.kinds) {
      const key = expectedKey(kind, incidents);
      const hit = raised.find((r) => r.signal.key === key);
      expect(hit, `${kind}: ${key} in ${raised.map((r) => r.signal.key).join(', ')}`).toBeDefined();
      expect(incidentAt(scenario, startMs, hit!.at)?.kind, `${kind} raised while it ran`).toBe(kind);
    }
    // Nothing else, but the forged-code ring's denials at the same venue.
    const allowed = new Set([...scenario.kinds.map((k) => expectedKey(k, incidents)), `deny_spike:${incidents.targets.venue}`]);
    expect(raised.map((r) => r.signal.key).filter((k) => !allowed.has(k))).toEqual([]);
    // Before the first incident: nothing.
    expect(raised.filter((r) => r.at < startMs + scenario.firstAfterMs)).toEqual([]);
    await t.engine.stop();
  }, 300_000);
});
