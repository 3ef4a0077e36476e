import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { parsePlace, topics, type DeviceConfigReport } from '@cityops/protocol';
import {
  createGatewayAgent,
  createRemoteConfig,
  createSimulatedSource,
  createSourceSlot,
  type GatewayAgent,
  type RemoteConfig,
  type SlotSource,
  type SourceSlot,
  type SourceSpec,
} from '@cityops/edge-agent';
import { createIngestService, type IngestAddresses, type IngestService } from '@cityops/ingest';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { deviceCommand } from '../src/commands/device.ts';
import { gatewayCommand } from '../src/commands/gateway.ts';
import { createShutdown } from '../src/shutdown.ts';

/**
 * Issue 18, remote configuration end to end: a whole ingest (broker with its ACL, HTTP API, embedded
 * warehouse) and gateway agents in this process, talking over real MQTT and HTTP on port 0.
 */
const SETTLED = { timeout: 20_000, interval: 20 };
const ADMIN = 'remote-config-admin-0123456789';
const quiet = () => pino({ level: 'info' }, new Writable({ write: (_chunk, _encoding, done) => done() }));

interface Gateway {
  readonly agent: GatewayAgent;
  readonly slot: SourceSlot;
  readonly remote: RemoteConfig;
  readonly outcomes: DeviceConfigReport[];
  readonly built: SourceSpec[];
  stop(): Promise<void>;
}

describe('remote configuration of gateways through the real broker', () => {
  let dir: string;
  let warehouse: Warehouse;
  let ingest: IngestService;
  let at: IngestAddresses;
  const secrets: Record<string, string> = {};

  async function api(method: string, path: string, body?: unknown) {
    const response = await fetch(`${at.httpUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** A gateway as `cityops gateway` composes it, with a simulated source whose period a version may set. */
  async function gateway(id: string, url = at.mqttUrl, validateModbus?: (map: unknown) => string[]): Promise<Gateway> {
    const agent = createGatewayAgent(
      {
        deviceId: id,
        journalDir: join(dir, id),
        mqtt: { url, password: secrets[id]!, reconnectMinMs: 20, reconnectMaxMs: 200, stopTimeoutMs: 500 },
        batch: { maxReadings: 20, maxDelayMs: 100 },
        journal: { segmentBytes: 8192, maxBytes: 1024 * 1024, fsync: 'off' },
      },
      { logger: quiet(), subscriptions: [topics.config(id)] },
    );
    const slot = createSourceSlot({ consume: (source) => agent.consume(source), logger: quiet() });
    const built: SourceSpec[] = [];
    const buildSource = (spec: SourceSpec): SlotSource => {
      built.push(spec);
      const sensors = [{ id: `${id}-pm`, metric: 'pm25' as const }];
      return createSimulatedSource(spec.pollIntervalMs === undefined ? { sensors, intervalMs: 50 } : { sensors, intervalMs: spec.pollIntervalMs });
    };
    const remote = createRemoteConfig(
      { deviceId: id, file: join(dir, id, 'remote-config.json') },
      { agent, slot, buildSource, logger: quiet(), ...(validateModbus === undefined ? {} : { validateModbus }) },
    );
    const outcomes: DeviceConfigReport[] = [];
    remote.on('outcome', (report) => outcomes.push(report));
    await agent.start();
    await remote.start();
    return {
      agent,
      slot,
      remote,
      outcomes,
      built,
      async stop() {
        await remote.stop();
        await slot.stop();
        await agent.stop();
      },
    };
  }

  async function stored(device: string): Promise<number> {
    const [row] = await warehouse.query<{ n: string | number }>('SELECT count() AS n FROM readings WHERE device = {device:String}', { device });
    return Number(row?.n ?? 0);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-remote-config-'));
    warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
    ingest = createIngestService(
      { dataDir: join(dir, 'ingest'), mqtt: { port: 0 }, http: { port: 0, adminToken: ADMIN }, writer: { flushIntervalMs: 20 }, wal: { fsync: false } },
      { warehouse, logger: quiet() },
    );
    at = await ingest.start();
    for (const id of ['gw-live', 'gw-away', 'gw-map', 'gw-cmd']) {
      ({ secret: secrets[id] } = await ingest.registry.add({ id, kind: 'gateway', place: parsePlace('xuhui/tianping/g007') }));
    }
  });
  afterAll(async () => {
    await ingest?.stop();
    await warehouse?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reaches a live gateway, which applies it without losing a reading, and a bad one changes nothing', async () => {
    const gw = await gateway('gw-live');
    await vi.waitFor(() => expect(gw.agent.stats().batchesAcked).toBeGreaterThan(0), SETTLED);
    const localSource = gw.slot.current();
    expect(gw.built).toEqual([{}]);

    const set = await api('PUT', '/v1/devices/gw-live/config', { logLevel: 'debug', pollIntervalMs: 200, batch: { maxReadings: 7, maxDelayMs: 50 }, journal: { maxBytes: 512 * 1024 } });
    expect(set).toMatchObject({ status: 201, body: { version: 1 } });
    await vi.waitFor(() => expect(gw.outcomes).toEqual([expect.objectContaining({ version: 1, state: 'applied' })]), SETTLED);
    expect(gw.agent.settings()).toEqual({
      logLevel: 'debug',
      batch: { maxReadings: 7, maxDelayMs: 50, maxPendingBatches: 16 },
      journal: { maxBytes: 512 * 1024, whenFull: 'drop-oldest-routine' },
    });
    expect(gw.built).toEqual([{}, { pollIntervalMs: 200 }]);
    expect(gw.slot.current()).not.toBe(localSource);
    const onDisk = await readFile(join(dir, 'gw-live', 'remote-config.json'), 'utf8');
    expect(JSON.parse(onDisk)).toMatchObject({ version: 1, config: { pollIntervalMs: 200 } });
    await vi.waitFor(async () => expect((await api('GET', '/v1/devices/gw-live/config')).body).toMatchObject({ status: 'in-sync', reported: { version: 1, state: 'applied' } }), SETTLED);

    // Invalid for this gateway: a Modbus map it cannot run, a journal bound under 4 segments. Rejected
    // whole, with every reason; the running settings, source and stored version stay as they were.
    const running = gw.slot.current();
    await api('PUT', '/v1/devices/gw-live/config', { modbus: { connection: { tcp: { host: 'plc' } } }, journal: { maxBytes: 16 * 1024 } });
    await vi.waitFor(() => expect(gw.outcomes).toHaveLength(2), SETTLED);
    expect(gw.outcomes[1]).toMatchObject({ version: 2, state: 'rejected' });
    expect(gw.outcomes[1]!.reason).toContain('/config/modbus: this gateway has no Modbus support');
    expect(gw.outcomes[1]!.reason).toContain('/config/journal/maxBytes (16384) must be at least 4 x segmentBytes (8192)');
    expect(gw.agent.settings().journal.maxBytes).toBe(512 * 1024);
    expect(gw.agent.settings().batch.maxReadings).toBe(7);
    expect(gw.slot.current()).toBe(running);
    expect(gw.remote.version()).toBe(1);
    expect(await readFile(join(dir, 'gw-live', 'remote-config.json'), 'utf8')).toBe(onDisk);
    await vi.waitFor(async () => {
      const view = (await api('GET', '/v1/devices/gw-live/config')).body;
      expect(view).toMatchObject({ status: 'rejected', desired: { version: 2 }, reported: { version: 2, state: 'rejected' } });
      expect((view.reported as { reason: string }).reason).toContain('no Modbus support');
    }, SETTLED);

    // Every reading the agent accepted, before and after the swap, is in the warehouse once.
    await gw.slot.stop();
    gw.agent.flush();
    await gw.agent.waitForIdle();
    const accepted = gw.agent.stats().readingsAccepted;
    expect(accepted).toBeGreaterThan(0);
    await vi.waitFor(async () => expect(await stored('gw-live')).toBe(accepted), SETTLED);
    await gw.stop();
  });

  it('reaches a gateway that was offline when it was set, and the gateway keeps it across a restart without the broker', async () => {
    expect(await api('PUT', '/v1/devices/gw-away/config', { batch: { maxReadings: 3 }, logLevel: 'warn' })).toMatchObject({ status: 201, body: { version: 1 } });
    expect((await api('GET', '/v1/devices/gw-away/config')).body).toMatchObject({ status: 'pending', reported: null });

    const gw = await gateway('gw-away');
    await vi.waitFor(() => expect(gw.outcomes).toEqual([expect.objectContaining({ version: 1, state: 'applied' })]), SETTLED);
    expect(gw.agent.settings()).toMatchObject({ logLevel: 'warn', batch: { maxReadings: 3 } });
    await vi.waitFor(async () => expect((await api('GET', '/v1/devices/gw-away/config')).body).toMatchObject({ status: 'in-sync' }), SETTLED);
    // The retained version comes again with each reconnection (a second client with the gateway's id
    // takes its session over, MQTT 3.1.1 §3.1.4); it is not applied twice.
    let received = 0;
    gw.agent.on('message', () => received++);
    const reconnected = new Promise<void>((resolve) => gw.agent.once('connected', () => resolve()));
    const usurper = await mqtt.connectAsync(at.mqttUrl, { clientId: 'gw-away', username: 'gw-away', password: secrets['gw-away']!, protocolVersion: 4, reconnectPeriod: 0 });
    await reconnected;
    usurper.end(true);
    await vi.waitFor(() => expect(received).toBe(1), SETTLED);
    expect(gw.outcomes).toHaveLength(1);
    expect(gw.built).toEqual([{}]);
    await gw.stop();

    // Restarted where no broker answers: the stored version is in force before any connection.
    const closed = await gateway('gw-away', 'mqtt://127.0.0.1:1');
    expect(closed.remote.version()).toBe(1);
    expect(closed.agent.settings()).toMatchObject({ logLevel: 'warn', batch: { maxReadings: 3 } });
    expect(closed.built).toEqual([{}]);
    await closed.stop();
  });

  it('checks a register map with the validator it is given, and swaps to the source the map describes', async () => {
    const validate = (map: unknown) => ((map as { registers?: unknown[] }).registers?.length === 0 ? ['/registers must not be empty'] : []);
    const gw = await gateway('gw-map', at.mqttUrl, validate);
    await api('PUT', '/v1/devices/gw-map/config', { modbus: { registers: [] } });
    await vi.waitFor(() => expect(gw.outcomes).toHaveLength(1), SETTLED);
    expect(gw.outcomes[0]).toMatchObject({ version: 1, state: 'rejected', reason: '/config/modbus/registers must not be empty' });
    await api('PUT', '/v1/devices/gw-map/config', { modbus: { registers: [{ address: 0 }] } });
    await vi.waitFor(() => expect(gw.outcomes).toHaveLength(2), SETTLED);
    expect(gw.outcomes[1]).toMatchObject({ version: 2, state: 'applied' });
    expect(gw.built).toEqual([{}, { modbus: { registers: [{ address: 0 }] } }]);
    await gw.stop();
  });

  it('cityops device config sets a version from a file and shows desired against reported', async () => {
    const file = join(dir, 'gw-live.json');
    await writeFile(file, JSON.stringify({ logLevel: 'info', batch: { maxReadings: 50 } }));
    const run = async (argv: string[]) => {
      const out = new PassThrough();
      let text = '';
      out.on('data', (chunk: Buffer) => (text += chunk.toString()));
      await deviceCommand(argv, out);
      return text;
    };
    const target = ['--api', at.httpUrl, '--token', ADMIN];
    expect(await run(['config', 'gw-live', '--set', file, ...target])).toMatch(/gw-live: version 3 set/);
    const view = JSON.parse(await run(['config', 'gw-live', '--json', ...target])) as Record<string, unknown>;
    expect(view).toMatchObject({ status: 'pending', desired: { version: 3, config: { batch: { maxReadings: 50 } } }, reported: { version: 2, state: 'rejected' } });
    expect(await run(['config', 'gw-live', ...target])).toMatch(/desired: {2}version 3 by admin-token/);
    await writeFile(file, '{"batch": {"maxReadings": 0}, "colour": 1}');
    await expect(run(['config', 'gw-live', '--set', file, ...target])).rejects.toThrow(/maxReadings.*colour|colour.*maxReadings/);
    await expect(run(['config', 'gw-live', '--data', dir])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
  });

  it('cityops gateway applies a version, reports it, and starts with it next time', async () => {
    process.env.LOG_LEVEL = 'silent';
    const run = (printed: Record<string, unknown>[]) => {
      const out = new PassThrough();
      out.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) if (line.startsWith('{')) printed.push(JSON.parse(line) as Record<string, unknown>);
      });
      const shutdown = createShutdown();
      const argv = ['--device', 'gw-cmd', `--secret=${secrets['gw-cmd']!}`, '--broker', at.mqttUrl, '--journal', join(dir, 'gw-cmd'), '--source', 'simulated', '--sensors', 'pm-1:pm25', '--rate', '20'];
      return { shutdown, done: gatewayCommand(argv, out, shutdown) };
    };
    const first: Record<string, unknown>[] = [];
    const one = run(first);
    await vi.waitFor(() => expect(first[0]).toMatchObject({ ready: true, configVersion: 0 }), SETTLED);
    await api('PUT', '/v1/devices/gw-cmd/config', { pollIntervalMs: 300, batch: { maxDelayMs: 100 } });
    await vi.waitFor(async () => expect((await api('GET', '/v1/devices/gw-cmd/config')).body).toMatchObject({ status: 'in-sync' }), SETTLED);
    await vi.waitFor(async () => expect(await stored('gw-cmd')).toBeGreaterThan(0), SETTLED);
    await one.shutdown.run();
    await one.done;

    const second: Record<string, unknown>[] = [];
    const two = run(second);
    await vi.waitFor(() => expect(second[0]).toMatchObject({ ready: true, configVersion: 1 }), SETTLED);
    await two.shutdown.run();
    await two.done;
  });
});
