import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { topics } from '@cityops/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startBroker } from './plain-broker.ts';
import { createAgentFleet, createCityIncidents, findScenario, generateCity, INCIDENT_DURATION_MS, planScannerSites, type AgentFleet } from '../src/index.ts';

const MINUTE = 60_000;

describe('the gateway fleet follows the incidents', () => {
  let dir: string;
  let broker: Awaited<ReturnType<typeof startBroker>>;
  let fleet: AgentFleet | undefined;
  let watcher: mqtt.MqttClient | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-fleet-incidents-'));
    broker = await startBroker();
  });
  afterAll(async () => {
    await fleet?.stop();
    await watcher?.endAsync(true);
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('stops the target gateway while its incident runs (an offline status on its topic) and starts it again after, the others untouched', async () => {
    const city = generateCity({ gateways: 6, seed: 1 });
    const scenario = findScenario('gateway-offline');
    const startMs = Date.now();
    let t = startMs;
    const incidents = createCityIncidents({ scenario, city, sites: planScannerSites({ scanners: 1, seed: 1 }), startMs });
    const target = incidents.targets.gateway!;
    const statuses: boolean[] = [];
    watcher = await mqtt.connectAsync(broker.url, { clientId: 'status-watcher' });
    watcher.on('message', (_topic, payload) => {
      if (payload.length > 0) statuses.push((JSON.parse(payload.toString('utf8')) as { online: boolean }).online);
    });
    await watcher.subscribeAsync(topics.status(target), { qos: 1 });
    let check: (() => void) | undefined;
    fleet = createAgentFleet(
      {
        brokerUrl: broker.url,
        devices: city.gateways.map((g) => ({ id: g.id, secret: 's', place: g.place, sensors: g.sensors })),
        journalRoot: join(dir, 'journals'),
        readingsPerSecond: 12,
        incidents,
      },
      {
        logger: pino({ level: 'silent' }),
        now: () => t,
        setInterval: (fn) => (check = fn),
        clearInterval: () => undefined,
      },
    );
    await fleet.start();
    const running = () => fleet!.agents().map((a) => a.config.deviceId);
    expect(running()).toContain(target);
    await vi.waitFor(() => expect(statuses.at(-1)).toBe(true));

    // The incident starts: the target's agent stops cleanly, saying so.
    t = startMs + scenario.firstAfterMs + 1;
    check!();
    await vi.waitFor(() => expect(running()).not.toContain(target));
    await vi.waitFor(() => expect(statuses.at(-1)).toBe(false));
    expect(running()).toHaveLength(city.gateways.length - 1);

    // Over: it starts again, online.
    t = startMs + scenario.firstAfterMs + INCIDENT_DURATION_MS['gateway-offline'] + MINUTE;
    check!();
    await vi.waitFor(() => expect(running()).toContain(target));
    await vi.waitFor(() => expect(statuses.at(-1)).toBe(true));
    expect(running()).toHaveLength(city.gateways.length);
    await fleet.stop();
  }, 60_000);
});
