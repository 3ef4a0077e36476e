import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqtt, { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { topics } from '@cityops/protocol';
import { createDevCa } from '../../cli/src/commands/certs.ts';
import { createDevCertificates, type DevCertificates } from '../../test-peers/dev-certificates.ts';
import { freePort } from '../../test-peers/free-port.ts';
import { parseIngestConfig } from '../src/index.ts';
import { countByKey, startHarness, type Harness } from './ingest-harness.ts';

type Outcome = { outcome: 'secure'; socket: TLSSocket } | { outcome: 'refused' };

describe('MQTT over TLS only, the connection rate checked before the TLS handshake', () => {
  let certs: DevCertificates;
  let certDir: string;
  let plainPort: number;
  let tlsPort: number;
  let h: Harness;
  const open: { end(): void }[] = [];

  /** An MQTT over TLS connection from a given loopback address (Linux routes all of 127/8 to lo). */
  function mqtts(localAddress: string, clientId: string, password: string): Promise<{ outcome: 'connected' | 'refused' | 'closed'; client: MqttClient }> {
    const client = new MqttClient(
      () => tlsConnect({ socket: tcpConnect({ host: '127.0.0.1', port: tlsPort, localAddress }), host: '127.0.0.1', ca: certs.caPem }),
      { clientId, username: clientId.split(':')[0]!, password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 20_000 },
    );
    open.push({ end: () => client.end(true) });
    return new Promise((resolve) => {
      client.once('connect', () => resolve({ outcome: 'connected', client }));
      client.once('error', () => resolve({ outcome: 'refused', client }));
      client.once('close', () => resolve({ outcome: 'closed', client }));
    });
  }

  /** A bare TLS handshake from `localAddress`: secure, or refused (error or close before it completed). */
  function handshake(localAddress: string): Promise<Outcome> {
    const socket = tlsConnect({ socket: tcpConnect({ host: '127.0.0.1', port: tlsPort, localAddress }), host: '127.0.0.1', ca: certs.caPem });
    open.push({ end: () => socket.destroy() });
    return new Promise((resolve) => {
      socket.once('secureConnect', () => resolve({ outcome: 'secure', socket }));
      socket.once('error', () => resolve({ outcome: 'refused' }));
      socket.once('close', () => resolve({ outcome: 'refused' }));
    });
  }

  async function metric(name: string, labels: string): Promise<number> {
    const text = await h.service.metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  beforeAll(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'cityops-mqtts-'));
    certs = await createDevCertificates(certDir);
    // A port nothing listens on: it must stay that way with plain MQTT off.
    plainPort = await freePort();
    h = await startHarness({
      mqtt: { port: plainPort, plain: false, tls: { port: 0, key: certs.keyPem, cert: certs.certPem } },
      limits: { connectionsPerWindow: 3, connectionWindowMs: 60_000, exemptAddresses: [] },
    });
    tlsPort = Number(new URL(h.addresses.mqttsUrl!).port);
  });
  afterAll(async () => {
    for (const o of open) o.end();
    await h?.close();
    await rm(certDir, { recursive: true, force: true });
  });

  it('refuses a config with plain MQTT off and no TLS', () => {
    expect(() => parseIngestConfig({ dataDir: '/tmp/x', mqtt: { plain: false } })).toThrow(
      expect.objectContaining({ code: 'INGEST_ERR_CONFIG', message: expect.stringContaining('/mqtt/plain') as string }) as Error,
    );
  });

  it('with plain MQTT off, refuses a plain TCP connection while MQTT over TLS carries telemetry', async () => {
    expect(h.addresses).toMatchObject({ plainMqtt: false, mqttUrl: h.addresses.mqttsUrl, mqttPort: tlsPort });
    await expect(
      new Promise((resolve, reject) => tcpConnect({ host: '127.0.0.1', port: plainPort }).once('connect', resolve).once('error', reject)),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    // Plain MQTT spoken to the TLS port gets no CONNACK either.
    const plainToTls = new MqttClient(() => tcpConnect({ host: '127.0.0.1', port: tlsPort, localAddress: '127.0.0.19' }), {
      clientId: 'gw-plain', username: 'gw-plain', password: 'x', reconnectPeriod: 0, connectTimeout: 20_000,
    });
    open.push({ end: () => plainToTls.end(true) });
    await new Promise<void>((resolve, reject) => {
      plainToTls.once('connect', () => reject(new Error('plain MQTT connected to the TLS listener')));
      plainToTls.once('close', () => resolve());
    });

    const secret = await h.provision('gw-mqtts');
    const device = await mqtts('127.0.0.20', 'gw-mqtts', secret);
    expect(device.outcome).toBe('connected');
    await device.client.publishAsync(topics.telemetry('gw-mqtts'), JSON.stringify({ boot: 1, seq: 1, readings: [{ sensor: 's', metric: 'noise', ts: Date.now(), value: 1 }] }), { qos: 1 });
    await h.service.pipeline.writer().flush();
    expect(await countByKey(h.warehouse, 'gw-mqtts')).toEqual({ rows: 1, keys: 1 });
  });

  it('closes over-limit connections before any TLS handshake, counted, while other addresses are served', async () => {
    const refusedBefore = await metric('cityops_ingest_address_refused_total', 'transport="mqtt",reason="connection_rate"');
    const completedBefore = await metric('cityops_broker_tls_handshakes_total', 'outcome="completed"');
    const failedBefore = await metric('cityops_broker_tls_handshakes_total', 'outcome="failed"');

    const flood = await Promise.all(Array.from({ length: 12 }, () => handshake('127.0.0.21')));
    expect(flood.filter((f) => f.outcome === 'secure')).toHaveLength(3);
    expect(flood.filter((f) => f.outcome === 'refused')).toHaveLength(9);
    expect(await metric('cityops_ingest_address_refused_total', 'transport="mqtt",reason="connection_rate"')).toBe(refusedBefore + 9);
    // The server finished exactly the three admitted handshakes; the nine never started one.
    await vi.waitFor(async () => expect(await metric('cityops_broker_tls_handshakes_total', 'outcome="completed"')).toBe(completedBefore + 3));
    expect(await metric('cityops_broker_tls_handshakes_total', 'outcome="failed"')).toBe(failedBefore);

    // Another address is served meanwhile; its connections are counted once (on accept, not again
    // in preConnect): all three of its tokens make three MQTT sessions.
    const secret = await h.provision('gw-other');
    const others = await Promise.all([1, 2, 3].map((i) => mqtts('127.0.0.22', `gw-other:${i}`, secret)));
    expect(others.map((o) => o.outcome)).toEqual(['connected', 'connected', 'connected']);
    expect((await mqtts('127.0.0.22', 'gw-other:4', secret)).outcome).not.toBe('connected');
  });
});

describe('device certificates on MQTT over TLS, the CN bound to the device id', () => {
  let certDir: string;
  let ca: string;
  /** CN=gw-a, signed by the CA ingest trusts. */
  let deviceA: { key: string; cert: string };
  /** CN=gw-a too, but signed by a CA ingest does not trust. */
  let forged: { key: string; cert: string };
  let open: Harness | undefined;

  async function issue(out: string): Promise<{ ca: string; key: string; cert: string; serverKey: string; serverCert: string }> {
    const files = await createDevCa({ out, hosts: ['127.0.0.1'], client: 'gw-a', days: 1 });
    const [caPem, key, cert, serverKey, serverCert] = await Promise.all(
      [files.ca, files.clientKey!, files.clientCert!, files.key, files.cert].map((f) => readFile(f, 'utf8')),
    );
    return { ca: caPem!, key: key!, cert: cert!, serverKey: serverKey!, serverCert: serverCert! };
  }

  async function serve(clientCert: 'optional' | 'required', server: { serverKey: string; serverCert: string }): Promise<Harness> {
    // chDB allows one warehouse per process: the previous test's service goes first.
    await open?.close();
    open = await startHarness({ mqtt: { port: 0, plain: false, tls: { port: 0, key: server.serverKey, cert: server.serverCert, ca, clientCert } } });
    return open;
  }

  /** connected, the CONNACK return code, or 'closed' (no CONNACK: TLS refused the connection). */
  function login(h: Harness, username: string, password: string, certificate?: { key: string; cert: string }): Promise<'connected' | number | 'closed'> {
    const client = mqtt.connect(h.addresses.mqttsUrl!, {
      clientId: username, username, password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 20_000, ca, rejectUnauthorized: true,
      ...(certificate === undefined ? {} : { key: certificate.key, cert: certificate.cert }),
    });
    return new Promise((resolve) => {
      const done = (outcome: 'connected' | number | 'closed') => {
        client.end(true);
        resolve(outcome);
      };
      client.once('connect', () => done('connected'));
      client.once('error', (err) => {
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'number') done(code);
      });
      client.once('close', () => done('closed'));
    });
  }

  async function metric(h: Harness, series: string): Promise<number> {
    const text = await h.service.metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(series));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }
  const certFailures = (h: Harness) => metric(h, 'cityops_broker_auth_failures_total{reason="INGEST_ERR_CLIENT_CERT"}');

  let server: { serverKey: string; serverCert: string };
  beforeAll(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'cityops-client-certs-'));
    const trusted = await issue(join(certDir, 'trusted'));
    ca = trusted.ca;
    deviceA = trusted;
    server = trusted;
    forged = await issue(join(certDir, 'other'));
  });
  afterAll(async () => {
    await open?.close();
    await rm(certDir, { recursive: true, force: true });
  });

  it('refuses clientCert without a CA', () => {
    expect(() => parseIngestConfig({ dataDir: '/tmp/x', mqtt: { tls: { key: 'k', cert: 'c', clientCert: 'required' } } })).toThrow(
      expect.objectContaining({ code: 'INGEST_ERR_CONFIG', message: expect.stringContaining('/mqtt/tls/clientCert') as string }) as Error,
    );
  });

  it('optional: a device logs in with its secret alone or with its own certificate; CN=gw-a never as gw-b, an untrusted certificate never', async () => {
    const h = await serve('optional', server);
    const a = await h.provision('gw-a');
    const b = await h.provision('gw-b');
    expect(await login(h, 'gw-a', a)).toBe('connected');
    expect(await login(h, 'gw-a', a, deviceA)).toBe('connected');
    // MQTT 3.1.1 §3.2.2.3: 5, not authorized, even with gw-b's right secret.
    expect(await login(h, 'gw-b', b, deviceA)).toBe(5);
    expect(await login(h, 'gw-a', a, forged)).toBe(5);
    expect(await certFailures(h)).toBe(2);
    expect(await login(h, 'gw-b', b)).toBe('connected');
  });

  it('required: no trusted certificate, no session (the server fails the handshake); the CN still binds the device id', async () => {
    const h = await serve('required', server);
    const a = await h.provision('gw-a');
    const b = await h.provision('gw-b');
    expect(await login(h, 'gw-a', a)).toBe('closed');
    expect(await login(h, 'gw-a', a, forged)).toBe('closed');
    await vi.waitFor(async () => expect(await metric(h, 'cityops_broker_tls_handshakes_total{outcome="failed"}')).toBe(2));
    expect(await login(h, 'gw-a', a, deviceA)).toBe('connected');
    expect(await login(h, 'gw-b', b, deviceA)).toBe(5);
    expect(await certFailures(h)).toBe(1);
  });
});
