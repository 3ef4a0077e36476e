import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startCityops, type CityopsProcess } from '../../test-peers/cityops-process.ts';
import { freePort } from '../../test-peers/free-port.ts';
import { startModbusServer, type ModbusServer } from '../../test-peers/modbus-server.ts';
import { startPtyPair, type PtyPair } from '../../test-peers/socat-pty.ts';
import { createGatewayAgent, createModbusSource, createSeededRandom, encodeRegister, type GatewayAgent, type ModbusSource } from '../src/index.ts';

// The whole path: pymodbus registers -> Modbus TCP source -> gateway agent (journal, MQTT) -> a
// real ingest process -> the warehouse, with ingest stopped for a while in the middle: the journal
// carries what was polled meanwhile, and every reading polled arrives once, with its place. Then
// the same over Modbus RTU: pymodbus as the slave on a socat pty pair.

const TOKEN = 'modbus-warehouse-token-0123456789';
const DEVICE = 'gw-modbus-1';

type Row = { sensor: string; metric: string; value: number; alarm: boolean; district: string; grid: string; ts: number };

describe('Modbus readings in the warehouse', () => {
  let dir: string;
  let modbus: ModbusServer | undefined;
  let ingest: CityopsProcess | undefined;
  let agent: GatewayAgent | undefined;
  let source: ModbusSource | undefined;
  let rtu: { pty: PtyPair; slave: ModbusServer; source: ModbusSource; agent: GatewayAgent } | undefined;
  let mqttPort: number;
  let httpPort: number;
  const startIngest = () =>
    startCityops(['ingest', '--data', join(dir, 'data'), '--mqtt-port', String(mqttPort), '--http-port', String(httpPort), '--admin-token', TOKEN]);
  // One ingest for the file, on fixed ports so that the outage test can restart it in place.
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-modbus-wh-'));
    [mqttPort, httpPort] = [await freePort(), await freePort()];
    ingest = await startIngest();
  });
  afterAll(async () => {
    await rtu?.source.stop();
    await rtu?.agent.stop();
    await rtu?.slave.stop();
    await rtu?.pty.stop();
    await source?.stop();
    await agent?.stop();
    await ingest?.stop();
    await modbus?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('arrive with the right values, sensor and place, through an ingest outage, each once', async () => {
    const api = `http://127.0.0.1:${httpPort}`;
    const created = await fetch(`${api}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: DEVICE, kind: 'gateway', place: 'jiading/anting/g020' }),
    });
    expect(created.status).toBe(201);
    const { secret } = (await created.json()) as { secret: string };

    modbus = await startModbusServer({ kind: 'tcp' });
    await modbus.set(1, 'ir', 0, [356]); // PM2.5 35.6
    await modbus.set(2, 'hr', 0, encodeRegister({ type: 'float32', wordOrder: 'big', byteOrder: 'big' }, 91.5)); // noise, an alarm
    await modbus.set(3, 'hr', 102, [250]); // water level 2.50 m

    agent = createGatewayAgent(
      {
        deviceId: DEVICE,
        journalDir: join(dir, 'journal'),
        mqtt: { url: `mqtt://127.0.0.1:${mqttPort}`, password: secret, reconnectMinMs: 20, reconnectMaxMs: 200, stopTimeoutMs: 500 },
        batch: { maxReadings: 20, maxDelayMs: 100 },
        journal: { fsync: 'off' },
      },
      { logger: pino({ level: 'silent' }), random: createSeededRandom(3) },
    );
    source = createModbusSource(
      {
        connection: { kind: 'tcp', host: '127.0.0.1', port: modbus.port },
        timeoutMs: 2000,
        registers: [
          { sensor: 'pm25-1', metric: 'pm25', unit: 1, table: 'input', address: 0, type: 'uint16', scale: 0.1, intervalMs: 100 },
          { sensor: 'noise-1', metric: 'noise', unit: 2, table: 'holding', address: 0, type: 'float32', alarm: { above: 85 }, intervalMs: 100 },
          { sensor: 'wl-1', metric: 'water_level', unit: 3, table: 'holding', address: 102, type: 'uint16', scale: 0.01, intervalMs: 100 },
        ],
      },
      { logger: pino({ level: 'silent' }) },
    );
    await agent.start();
    const consuming = agent.consume(source);
    const rows = async (): Promise<Row[]> => ((await (await fetch(`${api}/v1/readings?device=${DEVICE}&limit=10000`)).json()) as { readings: Row[] }).readings;

    await vi.waitFor(async () => expect(new Set((await rows()).map((r) => r.sensor)).size).toBe(3), { timeout: 30_000, interval: 200 });
    const first = await rows();
    expect(first.find((r) => r.sensor === 'pm25-1')).toMatchObject({ metric: 'pm25', value: 35.6, alarm: false, district: 'jiading', grid: 'g020' });
    expect(first.find((r) => r.sensor === 'noise-1')).toMatchObject({ metric: 'noise', value: 91.5, alarm: true });
    expect(first.find((r) => r.sensor === 'wl-1')).toMatchObject({ metric: 'water_level', value: 2.5 });

    // Ingest goes away; polling goes on into the journal, with a new water level meanwhile.
    const disconnected = new Promise<void>((resolve) => agent!.once('disconnected', resolve));
    await ingest!.stop();
    await disconnected;
    await modbus.set(3, 'hr', 102, [312]);
    const journaledBefore = agent.stats().readingsJournaled;
    await vi.waitFor(() => expect(agent!.stats().readingsJournaled).toBeGreaterThan(journaledBefore + 30), { timeout: 30_000 });
    expect(agent.stats().connected).toBe(false);
    expect(agent.stats().journal.bytes).toBeGreaterThan(0);

    ingest = await startIngest();
    await vi.waitFor(async () => expect((await rows()).some((r) => r.sensor === 'wl-1' && r.value === 3.12)).toBe(true), { timeout: 30_000, interval: 200 });

    // Stop polling; everything polled is delivered, once.
    await source.stop();
    await consuming;
    agent.flush();
    await agent.waitForIdle();
    const polled = source.stats().readings;
    await vi.waitFor(async () => expect((await rows()).length).toBe(polled), { timeout: 30_000, interval: 200 });
    const all = await rows();
    expect(new Set(all.map((r) => `${r.sensor}/${r.ts}`)).size).toBe(all.length);
    expect(all.filter((r) => r.sensor === 'noise-1').every((r) => r.alarm)).toBe(true);
    expect(source.stats()).toMatchObject({ exceptions: 0, timeouts: 0, transportErrors: 0 });
    // The source's counters show on the agent's status.
    expect(agent.stats().source).toMatchObject({ readings: polled, exceptions: 0, sensorsFailing: 0 });
  });

  it('over Modbus RTU (socat pty pair, pymodbus slave) too, with the right values, sensor and place', async () => {
    const api = `http://127.0.0.1:${httpPort}`;
    const created = await fetch(`${api}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'gw-modbus-rtu', kind: 'gateway', place: 'minhang/xinzhuang/g003' }),
    });
    const { secret } = (await created.json()) as { secret: string };
    await mkdir(join(dir, 'pty'));
    const pty = await startPtyPair(join(dir, 'pty'));
    const slave = await startModbusServer({ kind: 'rtu', path: pty.peer, baudRate: 9600, parity: 'N', dataBits: 8, stopBits: 2 });
    await slave.set(5, 'hr', 100, encodeRegister({ type: 'float32', wordOrder: 'little', byteOrder: 'big' }, 0.375)); // MPa
    await slave.set(5, 'hr', 102, [187]); // 1.87 m
    const rtuAgent = createGatewayAgent(
      {
        deviceId: 'gw-modbus-rtu',
        journalDir: join(dir, 'journal-rtu'),
        mqtt: { url: `mqtt://127.0.0.1:${mqttPort}`, password: secret, reconnectMinMs: 20, reconnectMaxMs: 200, stopTimeoutMs: 500 },
        batch: { maxReadings: 20, maxDelayMs: 100 },
        journal: { fsync: 'off' },
      },
      { logger: pino({ level: 'silent' }), random: createSeededRandom(4) },
    );
    const rtuSource = createModbusSource(
      {
        connection: { kind: 'rtu', path: pty.device, baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 2 },
        timeoutMs: 1000,
        registers: [
          { sensor: 'wp-1', metric: 'water_pressure', unit: 5, table: 'holding', address: 100, type: 'float32', wordOrder: 'little', intervalMs: 200 },
          { sensor: 'wl-1', metric: 'water_level', unit: 5, table: 'holding', address: 102, type: 'uint16', scale: 0.01, intervalMs: 200 },
        ],
      },
      { logger: pino({ level: 'silent' }) },
    );
    rtu = { pty, slave, source: rtuSource, agent: rtuAgent };
    await rtuAgent.start();
    const consuming = rtuAgent.consume(rtuSource);
    const rows = async (): Promise<Row[]> => ((await (await fetch(`${api}/v1/readings?device=gw-modbus-rtu&limit=10000`)).json()) as { readings: Row[] }).readings;
    await vi.waitFor(async () => expect(new Set((await rows()).map((r) => r.sensor)).size).toBe(2), { timeout: 30_000, interval: 200 });
    const got = await rows();
    expect(got.find((r) => r.sensor === 'wp-1')).toMatchObject({ metric: 'water_pressure', value: 0.375, district: 'minhang', grid: 'g003' });
    expect(got.find((r) => r.sensor === 'wl-1')).toMatchObject({ metric: 'water_level', value: 1.87, district: 'minhang', grid: 'g003' });
    await rtuSource.stop();
    await consuming;
    rtuAgent.flush();
    await rtuAgent.waitForIdle();
    await vi.waitFor(async () => expect((await rows()).length).toBe(rtuSource.stats().readings), { timeout: 30_000, interval: 200 });
  });
});
