import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGatewayAgent, createSeededRandom, createSimulatedSource, type GatewayAgent } from '@cityops/edge-agent';
import { openWarehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { startCityops, type CityopsProcess } from '../../test-peers/cityops-process.ts';
import { freePort } from '../../test-peers/free-port.ts';

const TOKEN = 'crash-test-admin-token-0123456789';
const GATEWAYS = 10;
const READINGS_PER_GATEWAY = 3000;

interface City {
  dir: string;
  mqttPort: number;
  httpPort: number;
  ingest: CityopsProcess;
  agents: GatewayAgent[];
  consuming: Promise<void>[];
  /** What the ingest processes killed or stopped before the current one wrote on stderr. */
  logs: string[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startIngest(city: Pick<City, 'dir' | 'mqttPort' | 'httpPort'>): Promise<CityopsProcess> {
  return startCityops(['ingest', '--data', city.dir, '--mqtt-port', String(city.mqttPort), '--http-port', String(city.httpPort), '--admin-token', TOKEN]);
}

/** An ingest process and ten gateway agents (in this process) streaming simulated readings. */
async function startCity(ratePerGateway: number): Promise<City> {
  const dir = await mkdtemp(join(tmpdir(), 'cityops-crash-'));
  const city = { dir, mqttPort: await freePort(), httpPort: await freePort() };
  let ingest = await startIngest(city);
  const state: City = { ...city, ingest, agents: [], consuming: [], logs: [] };
  cleanups.push(async () => {
    await Promise.all(state.agents.map((a) => a.stop()));
    await state.ingest.kill();
    await rm(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < GATEWAYS; i++) {
    const id = `gw-${i}`;
    const response = await fetch(`http://127.0.0.1:${city.httpPort}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id, kind: 'gateway', place: `pudong/s${i % 3}/g${i}` }),
    });
    expect(response.status).toBe(201);
    const { secret } = (await response.json()) as { secret: string };
    const agent = createGatewayAgent({
      deviceId: id,
      journalDir: join(dir, 'journals', id),
      mqtt: { url: `mqtt://127.0.0.1:${city.mqttPort}`, password: secret, reconnectMinMs: 50, reconnectMaxMs: 500, ackTimeoutMs: 5000 },
      batch: { maxReadings: 50, maxDelayMs: 100 },
    }, { logger: pino({ level: 'silent' }) });
    await agent.start();
    const source = createSimulatedSource(
      { sensors: [{ id: 'pm', metric: 'pm25' }, { id: 'wp', metric: 'water_pressure' }], ratePerSecond: ratePerGateway, limit: READINGS_PER_GATEWAY, eventProbability: 0 },
      { random: createSeededRandom(i + 1) },
    );
    state.agents.push(agent);
    state.consuming.push(agent.consume(source));
  }
  ingest = state.ingest;
  return state;
}

const acked = (city: City) => city.agents.reduce((n, a) => n + a.stats().batchesAcked, 0);

/** Waits for every reading to be produced and acknowledged, stops ingest cleanly, and counts by key. */
async function settleAndCount(city: City) {
  await Promise.all(city.consuming);
  for (const agent of city.agents) agent.flush();
  await Promise.all(city.agents.map((a) => a.waitForIdle()));
  const produced = city.agents.map((a) => a.stats().readingsJournaled);
  await Promise.all(city.agents.map((a) => a.stop()));
  expect(await city.ingest.stop()).toBe(0);
  // Said by a failing assertion: what each gateway went through, and what ingest logged (warn and up).
  const story = JSON.stringify({
    gateways: city.agents.map((a) => {
      const s = a.stats();
      return { id: s.deviceId, reconnects: s.reconnects, ingestErrors: s.ingestErrors, dropped: s.journal.dropped, truncations: s.journal.truncations };
    }),
    ingestLog: [...city.logs, city.ingest.stderr()].map((text) => text.slice(-4000)),
  });
  const warehouse = await openWarehouse({ backend: 'chdb', path: join(city.dir, 'warehouse') });
  try {
    const rows = await warehouse.query<{ device: string; rows: number; keys: number }>(
      'SELECT device, toUInt32(count()) AS rows, toUInt32(uniqExact(device, boot, seq, idx)) AS keys FROM readings GROUP BY device ORDER BY device',
    );
    const order = await warehouse.query<{ device: string; inOrder: number }>(
      // Batches of one boot arrive in seq order: listed by arrival (ties by seq), seqs are ascending.
      'SELECT device, toUInt8(arraySort(groupArray(seq)) = arrayMap(x -> x.2, arraySort(groupArray((first, seq))))) AS inOrder ' +
        'FROM (SELECT device, boot, seq, min(received_at) AS first FROM readings GROUP BY device, boot, seq) GROUP BY device, boot',
    );
    return { produced, rows, order, story };
  } finally {
    await warehouse.close();
  }
}

describe('the telemetry path under faults', () => {
  it('loses and duplicates nothing when ingest is killed with SIGKILL mid-stream and restarted', async () => {
    const city = await startCity(400);
    await vi.waitFor(() => expect(acked(city)).toBeGreaterThan(100), { timeout: 30_000, interval: 20 });
    await city.ingest.kill();
    city.logs.push(city.ingest.stderr());
    const ackedAtKill = acked(city);
    city.ingest = await startIngest(city);
    const { produced, rows, story } = await settleAndCount(city);
    expect(ackedAtKill).toBeLessThan(GATEWAYS * (READINGS_PER_GATEWAY / 50));
    expect(produced).toEqual(Array.from({ length: GATEWAYS }, () => READINGS_PER_GATEWAY));
    expect(rows).toHaveLength(GATEWAYS);
    for (const r of rows) expect(r, story).toMatchObject({ rows: READINGS_PER_GATEWAY, keys: READINGS_PER_GATEWAY });
  });

  it('journals while the broker is unreachable and replays in order afterwards', async () => {
    const city = await startCity(600);
    await vi.waitFor(() => expect(acked(city)).toBeGreaterThan(50), { timeout: 30_000, interval: 20 });
    await city.ingest.stop();
    city.logs.push(city.ingest.stderr());
    // The agents keep sampling with nowhere to send: their journals grow on disk.
    await vi.waitFor(() => expect(city.agents.every((a) => !a.stats().connected)).toBe(true));
    await vi.waitFor(() => expect(city.agents.reduce((n, a) => n + a.stats().journal.bytes, 0)).toBeGreaterThan(50_000), { timeout: 30_000, interval: 20 });
    city.ingest = await startIngest(city);
    const { produced, rows, order, story } = await settleAndCount(city);
    expect(produced).toEqual(Array.from({ length: GATEWAYS }, () => READINGS_PER_GATEWAY));
    for (const r of rows) expect(r, story).toMatchObject({ rows: READINGS_PER_GATEWAY, keys: READINGS_PER_GATEWAY });
    expect(order.length).toBeGreaterThanOrEqual(GATEWAYS);
    for (const o of order) expect(o.inOrder).toBe(1);
  });
});
