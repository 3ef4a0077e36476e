import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createScannerAgent, type ScannerAgent } from '@cityops/edge-agent';
import { createIngestService, type IngestService } from '@cityops/ingest';
import { createDevelopmentIssuer, parsePlace, referenceTopics } from '@cityops/protocol';
import { bloomFilterFromBytes, createVerifierService, identifierHash, parseReferenceSigningKey, revocationFilterKey, sealReference, type VerifierService } from '@cityops/verifier';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Issue 18: the trust list and the revocation filter reach scanners as retained, signed, versioned
// MQTT messages through the real ingest broker (its ACL: services publish, scanners read), so a
// door learns of a revocation within seconds, not at its next HTTP poll (an hour here).

const PLACE = parsePlace('jingan/jingan-s01/g001/b01');
const VENUE = 'jingan/jingan-s01/g001/b01';
const silent = pino({ level: 'silent' });
const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], trustForm: 'public-key' });
const revokedCodeId = Buffer.from('5ca11ed000000042', 'hex');
const revokedQr = health.issueHealthCode({ subject: 'p-push', colour: 'green', codeId: revokedCodeId });
const revokedKey = revocationFilterKey.code(identifierHash(revokedCodeId.toString('hex')));

function pemPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}
const publisher = pemPair();

describe('trust and revocation pushed to scanners over retained MQTT', () => {
  let dir: string;
  let warehouse: Warehouse;
  let ingest: IngestService;
  let mqttUrl: string;
  let verifier: VerifierService;
  let httpUrl: string;
  const secrets = new Map<string, string>();
  const agents: ScannerAgent[] = [];
  const clients: MqttClient[] = [];

  async function client(id: string): Promise<MqttClient> {
    const c = await connectAsync(mqttUrl, { clientId: id, username: id, password: secrets.get(id)!, protocolVersion: 4, reconnectPeriod: 0 });
    clients.push(c);
    return c;
  }

  function scanner(id: string, revocationSource: string): ScannerAgent {
    const agent = createScannerAgent(
      {
        scannerId: id,
        venue: VENUE,
        dataDir: join(dir, id),
        mqtt: { url: mqttUrl, password: secrets.get(id)!, reconnectMinMs: 10, reconnectMaxMs: 100, stopTimeoutMs: 300 },
        verify: { timeoutMs: 2000, probeIntervalMs: 3_600_000 },
        // Polled once at start, then not for an hour: anything newer in this test came by the push.
        reference: {
          trust: { source: join(dir, 'trust.json'), refreshMs: 3_600_000 },
          revocation: { source: revocationSource, refreshMs: 3_600_000 },
          push: { publisherKey: publisher.publicPem },
        },
        spool: { fsync: 'off' },
      },
      { logger: silent },
    );
    agents.push(agent);
    return agent;
  }

  /** The scanner's persisted revocation filter holds the revoked code (the copy offline verdicts use). */
  async function holdsRevocation(id: string): Promise<boolean> {
    return bloomFilterFromBytes(await readFile(join(dir, id, 'reference', 'revocation.cbf'))).has(revokedKey);
  }

  const pushed = (agent: ScannerAgent) => agent.stats().referencePush!;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-reference-push-'));
    warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
    ingest = createIngestService({ dataDir: dir, mqtt: { port: 0 }, http: { port: 0, adminToken: 'test-admin-token-0123456789' } }, { warehouse, logger: silent });
    mqttUrl = (await ingest.start()).mqttUrl;
    for (const [id, kind] of [['verifier-push', 'service'], ['svc-other', 'service'], ['door-1', 'scanner'], ['door-2', 'scanner'], ['door-raw', 'scanner'], ['gw-1', 'gateway']] as const) {
      secrets.set(id, (await ingest.registry.add({ id, kind, place: PLACE })).secret);
    }
    await writeFile(join(dir, 'trust.json'), JSON.stringify([health.trustEntry]));
    await writeFile(join(dir, 'revocation.json'), JSON.stringify({ codes: [] }));
    verifier = createVerifierService(
      {
        http: { port: 0 },
        mqtt: { url: mqttUrl, clientId: 'verifier-push', username: 'verifier-push', password: secrets.get('verifier-push')! },
        trust: { source: join(dir, 'trust.json'), refreshMs: 3_600_000 },
        revocation: { source: join(dir, 'revocation.json'), refreshMs: 3_600_000 },
        referencePush: { signingKey: publisher.privatePem },
        pool: { enabled: false },
        rates: { enabled: false },
      },
      { logger: silent, registry: ingest.registry },
    );
    httpUrl = (await verifier.start()).httpUrl;
  });

  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await verifier?.stop();
    await ingest?.stop();
    await warehouse?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a revocation reaches a connected scanner within seconds, its HTTP poll an hour away', { timeout: 60_000 }, async () => {
    const agent = scanner('door-1', `${httpUrl}/v1/revocation/filter`);
    const online = new Promise<void>((resolve) => agent.once('online', resolve));
    await agent.start();
    await online;
    // The retained copies of the verifier's start arrive on connect (the same data the poll read).
    await vi.waitFor(() => expect(pushed(agent).applied).toBe(2), { timeout: 15_000 });
    expect(await holdsRevocation('door-1')).toBe(false);

    await writeFile(join(dir, 'revocation.json'), JSON.stringify({ codes: [identifierHash(revokedCodeId.toString('hex'))] }));
    const changed = new Promise<number>((resolve) => agent.on('reference', (kind, outcome) => kind === 'revocation' && outcome === 'changed' && resolve(Date.now())));
    const t0 = Date.now();
    await verifier.reference.reload('revocation');
    const elapsedMs = (await changed) - t0;
    expect(elapsedMs).toBeLessThan(5000);
    await vi.waitFor(() => expect(pushed(agent)).toMatchObject({ applied: 3, older: 0, refused: 0 }));
    if (process.env.REFERENCE_PUSH_REPORT !== undefined) process.stderr.write(`revocation reached the scanner in ${elapsedMs} ms\n`);
    // Applied and persisted: what the door decides with offline, and after a restart.
    await vi.waitFor(async () => expect(await holdsRevocation('door-1')).toBe(true));
    // The start poll, the retained copy on connect, the new push: no other poll.
    expect(agent.stats().reference.revocation?.refreshes).toBe(3);
  });

  it('a scanner connecting later gets the latest copy from the broker, its poll source down', { timeout: 60_000 }, async () => {
    const agent = scanner('door-2', 'http://127.0.0.1:9/v1/revocation/filter');
    await agent.start();
    await vi.waitFor(() => expect(pushed(agent).applied).toBe(2), { timeout: 15_000 });
    await vi.waitFor(async () => expect(await holdsRevocation('door-2')).toBe(true));
    expect(agent.stats().reference.revocation?.failures).toBe(1);
  });

  it('ACL: scanners read the exact topics only; nobody but a service publishes there', async () => {
    const raw = await client('door-raw');
    for (const topic of Object.values(referenceTopics)) expect((await raw.subscribeAsync(topic, { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    for (const filter of ['cityops/v1/reference/+', 'cityops/v1/reference/#', '#']) {
      await expect(raw.subscribeAsync(filter, { qos: 1 }), filter).rejects.toThrow(/Subscribe error/);
    }
    const gateway = await client('gw-1');
    await expect(gateway.subscribeAsync(referenceTopics.revocation, { qos: 1 })).rejects.toThrow(/Subscribe error/);

    const denied = async () => (await ingest.metrics.denied.get()).values.find((v) => v.labels.operation === 'publish')?.value ?? 0;
    const before = await denied();
    const seen: string[] = [];
    raw.on('message', (topic) => seen.push(topic));
    // A scanner and a gateway try to replace the retained filter: refused at the broker.
    const forged = Buffer.from('CRP1 forged');
    raw.publish(referenceTopics.revocation, forged, { qos: 0, retain: true });
    gateway.publish(referenceTopics.trust, forged, { qos: 0, retain: true });
    await vi.waitFor(async () => expect(await denied()).toBe(before + 2));
    expect(seen).toEqual([]);
  });

  it('never applies an unverifiable or an older copy, even one a service publishes; the copy in use stays', { timeout: 30_000 }, async () => {
    const agent = agents[0]!;
    const other = await client('svc-other');
    const before = pushed(agent);
    const revocationCbf = await readFile(join(dir, 'door-1', 'reference', 'revocation.cbf'));
    const emptyFilter = bloomFilterFromBytes(Buffer.from(revocationCbf)).toBytes().fill(0, 13);
    const stranger = parseReferenceSigningKey(pemPair().privatePem);
    const own = parseReferenceSigningKey(publisher.privatePem);
    const far = Date.now() + 86_400_000;
    // Signed by another key; a garbage payload; a trust envelope on the revocation topic; an older version.
    await other.publishAsync(referenceTopics.revocation, sealReference({ kind: 'revocation', version: far, freshAt: far }, emptyFilter, stranger), { qos: 1 });
    await other.publishAsync(referenceTopics.revocation, Buffer.from('not an envelope'), { qos: 1 });
    await other.publishAsync(referenceTopics.revocation, sealReference({ kind: 'trust', version: far, freshAt: far }, emptyFilter, own), { qos: 1 });
    await other.publishAsync(referenceTopics.revocation, sealReference({ kind: 'revocation', version: 1, freshAt: 1 }, emptyFilter, own), { qos: 1 });
    await vi.waitFor(() => expect(pushed(agent)).toEqual({ applied: before.applied, refused: before.refused + 3, older: before.older + 1 }));
    expect(await holdsRevocation('door-1')).toBe(true);
    expect((await readFile(join(dir, 'door-1', 'reference', 'revocation.cbf'))).equals(revocationCbf)).toBe(true);
  });

  it('offline, the door denies the code revoked by the push', { timeout: 30_000 }, async () => {
    const agent = agents[0]!;
    await verifier.stop();
    const result = await agent.scan(revokedQr);
    expect(result).toMatchObject({ offline: true, verdict: 'deny', reason: 'REVOKED' });
  });
});
