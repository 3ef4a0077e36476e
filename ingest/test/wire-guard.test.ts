import { mkdtemp, rm } from 'node:fs/promises';
import { EventEmitter, once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MqttClient } from 'mqtt';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parsePlace, topics } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { createIngestService, type IngestAddresses, type IngestService } from '../src/index.ts';
import { createIngestMetrics } from '../src/ingest-metrics.ts';
import { createPacketScanner } from '../src/mqtt-packet-limits.ts';
import { createWireGuard } from '../src/mqtt-wire-guard.ts';
import { countByKey } from './ingest-harness.ts';

const LIMITS = { connectBytes: 100, publishBytes: 1000, subscribeBytes: 50, otherBytes: 2 };
// The largest remaining length a four-byte Variable Byte Integer can say (MQTT 3.1.1 §2.2.3).
const MAX_VBI = Buffer.from([0xff, 0xff, 0xff, 0x7f]);

/** MQTT 3.1.1 §1.5.3: a UTF-8 string with its two-byte length. */
function mqttString(text: string): Buffer {
  const bytes = Buffer.from(text);
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes]);
}

/** §2.2.3: the fixed header's Remaining Length, 7 bits a byte, least significant first. */
function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    bytes.push((n % 128) | (n >= 128 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return Buffer.from(bytes);
}

/** §3.1: protocol "MQTT" level 4, flags username + password + clean session, keep alive 60 s. */
function connectPacket(clientId: string, username: string, password: string): Buffer {
  const body = Buffer.concat([mqttString('MQTT'), Buffer.from([4, 0xc2, 0, 60]), mqttString(clientId), mqttString(username), mqttString(password)]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

/** §3.3: a QoS 1 PUBLISH of one reading to the device's telemetry topic. */
function publishPacket(device: string, packetId: number): Buffer {
  const payload = Buffer.from(JSON.stringify({ boot: 7, seq: packetId, readings: [{ sensor: 'p', metric: 'noise', ts: Date.now(), value: 1 }] }));
  const body = Buffer.concat([mqttString(topics.telemetry(device)), Buffer.from([packetId >> 8, packetId & 0xff]), payload]);
  return Buffer.concat([Buffer.from([0x32]), remainingLength(body.length), body]);
}

describe('packet scanner', () => {
  it('follows packets split anywhere, and refuses by type and on a fifth length byte', () => {
    const stream = Buffer.concat([
      Buffer.from([0x10, 100]), Buffer.alloc(100), // CONNECT at its limit
      Buffer.from([0x30, 0xe8, 0x07]), Buffer.alloc(1000), // PUBLISH of 1000 (two-byte length)
      Buffer.from([0xc0, 0x00]), // PINGREQ
    ]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const scanner = createPacketScanner(LIMITS);
      expect(scanner.scan(stream.subarray(0, cut))).toBeUndefined();
      expect(scanner.scan(stream.subarray(cut))).toBeUndefined();
      expect(scanner.packets).toBe(3);
      expect(scanner.firstPacketBytes).toBe(102);
    }
    const publishFirst = createPacketScanner(LIMITS);
    expect(publishFirst.scan(Buffer.from([0x30, 0xe8]))).toBeUndefined();
    expect(publishFirst.firstPacketBytes).toBeUndefined();
    publishFirst.scan(Buffer.from([0x07]));
    expect(publishFirst.firstPacketBytes).toBe(1003); // type, two length bytes, 1,000
    expect(createPacketScanner(LIMITS).scan(Buffer.from([0x10, 101]))).toEqual({ reason: 'too_large', type: 'connect', length: 101 });
    expect(createPacketScanner(LIMITS).scan(Buffer.from([0x82, 51]))).toEqual({ reason: 'too_large', type: 'subscribe', length: 51 });
    expect(createPacketScanner(LIMITS).scan(Buffer.from([0x40, 3]))).toEqual({ reason: 'too_large', type: 'puback', length: 3 });
    expect(createPacketScanner(LIMITS).scan(Buffer.from([0x30, ...MAX_VBI]))).toEqual({ reason: 'too_large', type: 'publish', length: 268_435_455 });
    expect(createPacketScanner(LIMITS).scan(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x01]))).toEqual({ reason: 'malformed', type: 'connect' });
  });
});

describe('wire guard refusals in the log', () => {
  it('logs a refused address once per interval however often it is refused, and counts every refusal', async () => {
    let t = 1_000_000;
    const warn = vi.fn();
    const metrics = createIngestMetrics();
    const guard = createWireGuard(
      { packets: LIMITS, maxConnectionsPerAddress: 1, maxUnauthenticated: 100, exemptAddresses: [], logIntervalMs: 60_000 },
      { metrics, logger: { warn } as unknown as Logger, now: () => t },
    );
    const destroyed = vi.fn();
    const socket = () => Object.assign(new EventEmitter(), { remoteAddress: '::ffff:10.0.0.9', destroy: destroyed }) as unknown as Socket;
    expect(guard.admit(socket())).toBe(true);
    const refused = Array.from({ length: 5 }, socket);
    expect(refused.map((s) => guard.admit(s))).toEqual([false, false, false, false, false]);
    expect(destroyed).toHaveBeenCalledTimes(5);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatchObject({ address: '10.0.0.9', reason: 'address_connections' });
    t += 60_000;
    expect(guard.admit(socket())).toBe(false);
    expect(warn).toHaveBeenCalledTimes(2);
    expect((await metrics.refusedSockets.get()).values[0]).toMatchObject({ value: 6, labels: { reason: 'address_connections' } });
  });
});

describe('wire guard CONNECT deadline', () => {
  it('cuts sockets past the deadline oldest first, a few per turn of the event loop, and leaves the authenticated alone', async () => {
    const metrics = createIngestMetrics();
    const guard = createWireGuard(
      { packets: LIMITS, maxConnectionsPerAddress: 1000, maxUnauthenticated: 1000, exemptAddresses: [], logIntervalMs: 60_000, connectTimeoutMs: 50, cutsPerTurn: 10 },
      { metrics, logger: pino({ level: 'silent' }), now: Date.now },
    );
    const cut: number[] = [];
    // Destroyed so far when the first cut's turn yields: one turn's worth, not the whole wave.
    let firstTurn = -1;
    const sockets = Array.from({ length: 35 }, (_, i) => {
      const socket = Object.assign(new EventEmitter(), {
        remoteAddress: '10.0.0.7',
        destroy: () => {
          if (cut.length === 0) setImmediate(() => (firstTurn = cut.length));
          cut.push(i);
          socket.emit('close');
        },
      });
      return socket as unknown as Socket;
    });
    for (const socket of sockets) expect(guard.admit(socket)).toBe(true);
    // Two of them get through CONNECT/CONNACK in time: never cut.
    guard.authenticated(sockets[3]!);
    guard.authenticated(sockets[20]!);
    await vi.waitFor(() => expect(cut).toHaveLength(33), { timeout: 5_000 });
    expect(firstTurn).toBe(10);
    expect(cut).toEqual(Array.from({ length: 35 }, (_, i) => i).filter((i) => i !== 3 && i !== 20));
    expect((await metrics.refusedSockets.get()).values).toEqual([expect.objectContaining({ value: 33, labels: { reason: 'connect_timeout' } })]);
    expect((await metrics.unauthenticatedSockets.get()).values[0]!.value).toBe(0);
    guard.stop();
  });
});

describe('the broker before authentication, with real sockets', () => {
  const CONNECT_TIMEOUT_MS = 1500;
  const PER_ADDRESS = 64;
  const UNAUTHENTICATED = 200;
  let dir: string;
  let warehouse: Warehouse;
  let service: IngestService;
  let addresses: IngestAddresses;
  const secrets = new Map<string, string>();
  let gatewaySeq = 0;
  const opened: Socket[] = [];
  const clients: MqttClient[] = [];

  async function metric(name: string, labels: string): Promise<number> {
    const text = await service.metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`) || (labels === '' && l.startsWith(`${name} `)));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  function rawSocket(localAddress: string): Socket {
    const socket = connect({ host: '127.0.0.1', port: addresses.mqttPort, localAddress });
    socket.on('error', () => undefined);
    opened.push(socket);
    return socket;
  }

  function closed(socket: Socket): Promise<void> {
    return new Promise((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));
  }

  /** Streams zeros after `header` until the broker closes the socket (or `limit` bytes went out). */
  async function streamUntilClosed(socket: Socket, header: Buffer, limit: number): Promise<number> {
    const zeros = Buffer.alloc(1 << 20);
    let sent = 0;
    let gone = false;
    socket.once('close', () => (gone = true));
    socket.write(header);
    while (!gone && sent < limit) {
      sent += zeros.length;
      if (!socket.write(zeros)) await new Promise((resolve) => { socket.once('drain', resolve); socket.once('close', resolve); });
    }
    await closed(socket);
    return sent;
  }

  function gatewayClient(localAddress: string, id: string, stream?: (s: Socket) => void): Promise<MqttClient> {
    const client = new MqttClient(
      () => {
        const s = connect({ host: '127.0.0.1', port: addresses.mqttPort, localAddress });
        stream?.(s);
        return s;
      },
      { clientId: id, username: id, password: secrets.get(id)!, protocolVersion: 4, reconnectPeriod: 0 },
    );
    clients.push(client);
    return new Promise((resolve, reject) => {
      client.once('connect', () => resolve(client));
      client.once('error', reject);
    });
  }

  /**
   * Runs `attack` while a gateway on 127.0.0.2 publishes batches one after another; every batch must
   * be acknowledged, and each is stored once. Returns the RSS growth over the attack.
   */
  async function whileGatewayPublishes(attack: () => Promise<void>): Promise<number> {
    const client = await gatewayClient('127.0.0.2', 'gw-legit');
    const rssBefore = process.memoryUsage().rss;
    let stop = false;
    let acked = 0;
    const publishing = (async () => {
      while (!stop || acked === 0) {
        const seq = ++gatewaySeq;
        const payload = JSON.stringify({ boot: 1, seq, readings: [{ sensor: 's', metric: 'noise', ts: Date.now(), value: seq }] });
        await client.publishAsync(topics.telemetry('gw-legit'), payload, { qos: 1 });
        acked++;
      }
    })();
    await attack();
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    stop = true;
    await publishing;
    await client.endAsync();
    expect(acked).toBeGreaterThan(0);
    await vi.waitFor(async () => expect(await countByKey(warehouse, 'gw-legit')).toEqual({ rows: gatewaySeq, keys: gatewaySeq }), { timeout: 10_000 });
    return rssGrowth;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-wire-guard-'));
    warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
    service = createIngestService(
      {
        dataDir: dir,
        mqtt: { port: 0, wire: { connectTimeoutMs: CONNECT_TIMEOUT_MS, maxConnectionsPerAddress: PER_ADDRESS, maxUnauthenticated: UNAUTHENTICATED } },
        http: { port: 0 },
        writer: { flushIntervalMs: 20 },
        limits: { connectionsPerWindow: 1000, connectionWindowMs: 60_000, failedLoginsPerWindow: 3, failedLoginWindowMs: 60_000, lockoutMs: 60_000, exemptAddresses: [] },
      },
      { warehouse, logger: pino({ level: 'silent' }) },
    );
    addresses = await service.start();
    for (const id of ['gw-legit', 'gw-hostile']) {
      secrets.set(id, (await service.registry.add({ id, kind: 'gateway', place: parsePlace('huangpu/nanjing-east/g001') })).secret);
    }
  });
  afterAll(async () => {
    for (const s of opened) s.destroy();
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await service?.stop();
    await warehouse?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('closes a CONNECT declaring 268,435,455 bytes at its header, before the body is buffered', async () => {
    const before = await metric('cityops_broker_refused_packets_total', 'reason="too_large",type="connect"');
    let sent = 0;
    const growth = await whileGatewayPublishes(async () => {
      sent = await streamUntilClosed(rawSocket('127.0.0.31'), Buffer.from([0x10, ...MAX_VBI]), 268_435_455);
    });
    expect(sent).toBeLessThan(64 << 20);
    expect(growth).toBeLessThan(50 << 20);
    expect(await metric('cityops_broker_refused_packets_total', 'reason="too_large",type="connect"')).toBe(before + 1);
  });

  it('closes an oversized PUBLISH before authentication, and a malformed length', async () => {
    await whileGatewayPublishes(async () => {
      // Each from an address of its own: an address refused a packet before logging in is refused at accept for a while.
      await streamUntilClosed(rawSocket('127.0.0.32'), Buffer.from([0x30, ...MAX_VBI]), 268_435_455);
      const malformed = rawSocket('127.0.0.33');
      malformed.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]));
      await closed(malformed);
    });
    expect(await metric('cityops_broker_refused_packets_total', 'reason="too_large",type="publish"')).toBeGreaterThanOrEqual(1);
    expect(await metric('cityops_broker_refused_packets_total', 'reason="malformed",type="connect"')).toBe(1);
  });

  it('closes an authenticated connection whose PUBLISH exceeds the payload limit plus headers', async () => {
    const before = await metric('cityops_broker_refused_packets_total', 'reason="too_large",type="publish"');
    let growth = 0;
    await whileGatewayPublishes(async () => {
      let socket: Socket | undefined;
      const hostile = await gatewayClient('127.0.0.4', 'gw-hostile', (s) => (socket = s));
      const rss = process.memoryUsage().rss;
      // The default telemetry payload limit is 1 MiB (the wire allows 2 MiB + 4 KiB): declare 8 MiB and send it all.
      await streamUntilClosed(socket!, Buffer.from([0x32, 0x80, 0x80, 0x80, 0x04]), 8 << 20);
      growth = process.memoryUsage().rss - rss;
      await hostile.endAsync(true).catch(() => undefined);
    });
    expect(growth).toBeLessThan(50 << 20);
    expect(await metric('cityops_broker_refused_packets_total', 'reason="too_large",type="publish"')).toBe(before + 1);
  });

  it('reads a CONNECT and what is pipelined behind it in one write: a PUBLISH is acknowledged, an oversized one refused', async () => {
    const connect = connectPacket('gw-hostile:pipelined', 'gw-hostile', secrets.get('gw-hostile')!);
    const publish = publishPacket('gw-hostile', 1);
    const before = await metric('cityops_broker_refused_packets_total', 'reason="too_large",type="publish"');
    await whileGatewayPublishes(async () => {
      const socket = rawSocket('127.0.0.7');
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.write(Buffer.concat([connect, publish]));
      // CONNACK accepted (§3.2), then the PUBACK of packet 1 (§3.4).
      await vi.waitFor(() => expect(Buffer.concat(received).subarray(0, 8)).toEqual(Buffer.from([0x20, 2, 0, 0, 0x40, 2, 0, 1])), { timeout: 10_000 });
      socket.destroy();
      const oversized = rawSocket('127.0.0.7');
      oversized.write(Buffer.concat([connect, Buffer.from([0x32, ...MAX_VBI])]));
      await closed(oversized);
    });
    expect(await metric('cityops_broker_refused_packets_total', 'reason="too_large",type="publish"')).toBe(before + 1);
  });

  it('refuses an address at accept for a while after it sent an oversized packet before logging in; other addresses are served', async () => {
    const penalty = () => metric('cityops_broker_refused_sockets_total', 'reason="address_penalty"');
    const before = await penalty();
    await whileGatewayPublishes(async () => {
      await streamUntilClosed(rawSocket('127.0.0.34'), Buffer.from([0x10, ...MAX_VBI]), 268_435_455);
      // Its next connections never become sockets: closed at accept, before a byte is read.
      for (let i = 0; i < 3; i++) {
        const again = rawSocket('127.0.0.34');
        again.write(Buffer.from([0x10, ...MAX_VBI]));
        await closed(again);
      }
    });
    expect(await penalty()).toBe(before + 3);
  });

  it('cuts a CONNECT sent a byte at a time at the CONNECT deadline', async () => {
    const before = await metric('cityops_broker_refused_sockets_total', 'reason="connect_timeout"');
    await whileGatewayPublishes(async () => {
      const socket = rawSocket('127.0.0.5');
      const started = Date.now();
      // A 90-byte CONNECT at one byte per 100 ms would take 9 s: the deadline falls long before.
      const connect = Buffer.concat([Buffer.from([0x10, 90]), Buffer.alloc(90)]);
      let next = 0;
      const trickle = setInterval(() => socket.write(connect.subarray(next, ++next)), 100);
      await closed(socket);
      clearInterval(trickle);
      const elapsed = Date.now() - started;
      expect(next).toBeLessThan(connect.length);
      expect(elapsed).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);
    });
    expect(await metric('cityops_broker_refused_sockets_total', 'reason="connect_timeout"')).toBe(before + 1);
  });

  it('refuses idle sockets beyond the per-address cap at accept: 5,000 from one address', async () => {
    const before = await metric('cityops_broker_refused_sockets_total', 'reason="address_connections"');
    const sockets: Socket[] = [];
    let elapsed = 0;
    await whileGatewayPublishes(async () => {
      const started = Date.now();
      // In waves, so the listen backlog (511) does not turn the attack into SYN retransmissions.
      for (let wave = 0; wave < 20; wave++) {
        const batch = Array.from({ length: 250 }, () => rawSocket('127.0.0.6'));
        sockets.push(...batch);
        await Promise.all(batch.map((s) => new Promise((resolve) => { s.once('connect', resolve); s.once('close', resolve); })));
      }
      await vi.waitFor(async () => expect(await metric('cityops_broker_refused_sockets_total', 'reason="address_connections"')).toBeGreaterThan(before), { timeout: 10_000 });
      elapsed = Date.now() - started;
    });
    const refused = (await metric('cityops_broker_refused_sockets_total', 'reason="address_connections"')) - before;
    // At most PER_ADDRESS open at once; each slot frees only when its socket is cut at the CONNECT deadline.
    const admittedAtMost = PER_ADDRESS * (1 + Math.ceil(elapsed / CONNECT_TIMEOUT_MS));
    expect(refused).toBeGreaterThanOrEqual(5000 - admittedAtMost);
    for (const s of sockets) s.destroy();
    await vi.waitFor(async () => expect(await metric('cityops_broker_unauthenticated_sockets', '')).toBe(0), { timeout: 10_000 });
  });

  it('caps sockets not yet past CONNECT over all addresses', async () => {
    const before = await metric('cityops_broker_refused_sockets_total', 'reason="unauthenticated_sockets"');
    const sockets: Socket[] = [];
    await whileGatewayPublishes(async () => {
      for (const address of ['127.0.1.1', '127.0.1.2', '127.0.1.3', '127.0.1.4']) {
        for (let i = 0; i < 60; i++) sockets.push(rawSocket(address));
      }
      await vi.waitFor(async () => expect(await metric('cityops_broker_refused_sockets_total', 'reason="unauthenticated_sockets"')).toBeGreaterThanOrEqual(before + 40), { timeout: 10_000 });
      expect(await metric('cityops_broker_unauthenticated_sockets', '')).toBeLessThanOrEqual(UNAUTHENTICATED);
    });
    for (const s of sockets) s.destroy();
    await vi.waitFor(async () => expect(await metric('cityops_broker_unauthenticated_sockets', '')).toBe(0), { timeout: 10_000 });
  });
});

/** An ingest service of its own with `wire` limits, for a test that needs other limits than the shared one. */
async function withIngest(wire: Record<string, number>, run: (service: IngestService, mqttPort: number) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cityops-wire-guard-own-'));
  const warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
  const service = createIngestService({ dataDir: dir, mqtt: { port: 0, wire }, http: { port: 0 }, writer: { flushIntervalMs: 20 } }, { warehouse, logger: pino({ level: 'silent' }) });
  try {
    const { mqttPort } = await service.start();
    await run(service, mqttPort);
  } finally {
    await service.stop();
    await warehouse.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('a CONNECT in pieces', () => {
  it('logs in a device whose CONNECT and PUBLISH arrive one byte per TCP segment', async () => {
    // A deadline far away: on a loaded machine a byte per turn of the loop can take longer than the shared suite's 1.5 s.
    await withIngest({ connectTimeoutMs: 600_000 }, async (service, mqttPort) => {
      const { secret } = await service.registry.add({ id: 'gw-bytewise', kind: 'gateway', place: parsePlace('huangpu/nanjing-east/g001') });
      const bytes = Buffer.concat([connectPacket('gw-bytewise', 'gw-bytewise', secret), publishPacket('gw-bytewise', 2)]);
      const socket = connect({ host: '127.0.0.1', port: mqttPort });
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      socket.setNoDelay(true);
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      // Each byte written once the previous one has left, then a turn of the loop (the broker's poll for
      // reads, in this process), so the broker reads them one at a time.
      for (let i = 0; i < bytes.length; i++) {
        await new Promise<void>((resolve, reject) => socket.write(bytes.subarray(i, i + 1), (err) => (err ? reject(err) : resolve())));
        await new Promise((resolve) => setImmediate(resolve));
      }
      // CONNACK accepted (§3.2), then the PUBACK of packet 2 (§3.4).
      await vi.waitFor(() => expect(Buffer.concat(received).subarray(0, 8)).toEqual(Buffer.from([0x20, 2, 0, 0, 0x40, 2, 0, 2])), { timeout: 10_000 });
      socket.destroy();
    });
  });
});

describe('the broker stopping with sockets not past CONNECT', () => {
  it('closes idle and half-sent CONNECT sockets at stop instead of waiting for their peers', async () => {
    await withIngest({ connectTimeoutMs: 600_000 }, async (service, mqttPort) => {
      const sockets = Array.from({ length: 20 }, (_, i) => {
        const socket = connect({ host: '127.0.0.1', port: mqttPort });
        socket.on('error', () => undefined);
        // Half of them start a CONNECT and never finish it.
        if (i % 2 === 0) socket.once('connect', () => socket.write(Buffer.from([0x10, 90, 0, 4])));
        return socket;
      });
      await Promise.all(sockets.map((s) => once(s, 'connect')));
      const text = async () => service.metrics.registry.metrics();
      await vi.waitFor(async () => expect(await text()).toMatch(/^cityops_broker_unauthenticated_sockets 20$/m), { timeout: 15_000 });
      const closed = sockets.map((s) => once(s, 'close'));
      // The CONNECT deadline is ten minutes away: only the stop can close them.
      await service.stop();
      await Promise.all(closed);
    });
  });
});
