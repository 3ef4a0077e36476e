import { mkdtemp, rm } from 'node:fs/promises';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { topics } from '@cityops/protocol';
import { createDevCertificates, type DevCertificates } from '../../test-peers/dev-certificates.ts';
import { startHarness, type Harness } from './ingest-harness.ts';

describe('the wire guard under MQTT over TLS', () => {
  const PER_ADDRESS = 3;
  let certs: DevCertificates;
  let certDir: string;
  let tlsPort: number;
  let h: Harness;
  const open: { end(): void }[] = [];

  async function metric(name: string, labels: string): Promise<number> {
    const text = await h.service.metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(labels === '' ? `${name} ` : `${name}{${labels}}`));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  function tls(localAddress: string): TLSSocket {
    const socket = tlsConnect({ socket: tcpConnect({ host: '127.0.0.1', port: tlsPort, localAddress }), host: '127.0.0.1', ca: certs.caPem });
    socket.on('error', () => undefined);
    open.push({ end: () => socket.destroy() });
    return socket;
  }

  const closed = (socket: Socket) => new Promise<void>((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));

  beforeAll(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'cityops-wire-tls-'));
    certs = await createDevCertificates(certDir);
    h = await startHarness({
      mqtt: { port: 0, plain: false, tls: { port: 0, key: certs.keyPem, cert: certs.certPem }, wire: { maxConnectionsPerAddress: PER_ADDRESS } },
      limits: { connectionsPerWindow: 1000, connectionWindowMs: 60_000, exemptAddresses: [] },
    });
    tlsPort = Number(new URL(h.addresses.mqttsUrl!).port);
  });
  afterAll(async () => {
    for (const o of open) o.end();
    await h?.close();
    await rm(certDir, { recursive: true, force: true });
  });

  it('scans the decrypted stream, caps the raw sockets per address, and releases a socket once its device is in', async () => {
    // An oversized CONNECT inside TLS: closed at its header.
    const hostile = tls('127.0.2.1');
    await new Promise((resolve) => hostile.once('secureConnect', resolve));
    hostile.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]));
    hostile.write(Buffer.alloc(1 << 20));
    await closed(hostile);
    expect(await metric('cityops_broker_refused_packets_total', 'reason="too_large",type="connect"')).toBe(1);

    // Idle TLS sockets from one address: beyond the cap, destroyed at accept (before a handshake).
    const idle = Array.from({ length: PER_ADDRESS + 2 }, () => tls('127.0.2.2'));
    await vi.waitFor(async () => expect(await metric('cityops_broker_refused_sockets_total', 'reason="address_connections"')).toBe(2));
    await vi.waitFor(async () => expect(await metric('cityops_broker_unauthenticated_sockets', '')).toBe(PER_ADDRESS));
    for (const s of idle) s.destroy();
    await vi.waitFor(async () => expect(await metric('cityops_broker_unauthenticated_sockets', '')).toBe(0));

    // A device over TLS counts as unauthenticated only until its CONNACK: the TLS socket maps back to its TCP socket.
    const secret = await h.provision('gw-wire-tls');
    const client = new MqttClient(
      () => tlsConnect({ socket: tcpConnect({ host: '127.0.0.1', port: tlsPort, localAddress: '127.0.2.3' }), host: '127.0.0.1', ca: certs.caPem }),
      { clientId: 'gw-wire-tls', username: 'gw-wire-tls', password: secret, protocolVersion: 4, reconnectPeriod: 0 },
    );
    open.push({ end: () => client.end(true) });
    await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
    await client.publishAsync(topics.telemetry('gw-wire-tls'), JSON.stringify({ boot: 1, seq: 1, readings: [{ sensor: 's', metric: 'noise', ts: Date.now(), value: 1 }] }), { qos: 1 });
    expect(await metric('cityops_broker_unauthenticated_sockets', '')).toBe(0);
  });
});
