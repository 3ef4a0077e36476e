import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevelopmentIssuer, referenceTopics } from '@cityops/protocol';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { bloomFilterFromBytes } from '../src/bloom-filter.ts';
import { identifierHash } from '../src/identifier-hashes.ts';
import { openReference, parseReferencePublisherKey, type OpenedReference } from '../src/reference-envelope.ts';
import { createReferencePublisher, type PublishOutcome } from '../src/reference-publisher.ts';
import { createReferenceStore } from '../src/reference-store.ts';
import { revocationFilterKey } from '../src/revocation-list.ts';
import { startPlainBroker } from './service-harness.ts';

const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], trustForm: 'public-key' });
const keys = generateKeyPairSync('ed25519');
const signingKey = keys.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const publisherKey = parseReferencePublisherKey(keys.publicKey.export({ format: 'pem', type: 'spki' }).toString());
const silent = pino({ level: 'silent' });

describe('reference publisher', () => {
  let dir: string;
  let broker: { url: string; stop(): Promise<void> };
  let reader: MqttClient;
  const received: OpenedReference[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-reference-publisher-'));
    broker = await startPlainBroker();
    await writeFile(join(dir, 'trust.json'), JSON.stringify([health.trustEntry]));
    await writeFile(join(dir, 'revocation.json'), JSON.stringify({ codes: [] }));
    reader = await connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    reader.on('message', (_topic, payload) => received.push(openReference(payload, publisherKey, 1 << 20)));
  });
  afterAll(async () => {
    await reader?.endAsync(true);
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function store() {
    return createReferenceStore(
      {
        trust: { source: join(dir, 'trust.json'), refreshMs: 3_600_000, maxAgeMs: 86_400_000 },
        revocation: { source: join(dir, 'revocation.json'), refreshMs: 3_600_000, maxAgeMs: 86_400_000, filterFalsePositiveRate: 0.000001 },
        maxSourceBytes: 1 << 20,
        sourceTimeoutMs: 5000,
      },
      { now: Date.now, logger: silent },
    );
  }

  it('publishes both kinds retained at start, and a change as a new, higher version of that kind only', async () => {
    await writeFile(join(dir, 'revocation.json'), JSON.stringify({ codes: [] }));
    const reference = store();
    await reference.start();
    const outcomes: string[] = [];
    const publisher = createReferencePublisher(
      { url: broker.url, clientId: 'verifier-1', keepaliveSec: 10, signingKey, maxPayloadBytes: 1 << 20 },
      { reference, logger: silent, now: Date.now, onPublish: (kind, outcome) => outcomes.push(`${kind}:${outcome}`) },
    );
    try {
      await publisher.start();
      expect(outcomes.sort()).toEqual(['revocation:published', 'trust:published']);
      const first = publisher.versions();
      // Retained: a subscriber arriving now gets both.
      await reader.subscribeAsync([referenceTopics.trust, referenceTopics.revocation], { qos: 1 });
      await vi.waitFor(() => expect(received.map((r) => r.header.kind).sort()).toEqual(['revocation', 'trust']));
      const trust = received.find((r) => r.header.kind === 'trust')!;
      expect(JSON.parse(trust.body.toString('utf8'))).toEqual([health.trustEntry]);

      const revoked = identifierHash('c0de');
      await writeFile(join(dir, 'revocation.json'), JSON.stringify({ codes: [revoked] }));
      await reference.reload('revocation');
      await vi.waitFor(() => expect(received).toHaveLength(3));
      const pushed = received[2]!;
      expect(pushed.header.kind).toBe('revocation');
      expect(pushed.header.version).toBeGreaterThan(first.revocation);
      expect(bloomFilterFromBytes(pushed.body).has(revocationFilterKey.code(revoked))).toBe(true);
      // The trust list did not change: not sealed again.
      expect(publisher.versions().trust).toBe(first.trust);
      // An unchanged reload publishes nothing.
      await reference.reload('revocation');
      expect(outcomes).toHaveLength(3);
    } finally {
      await publisher.stop();
      await publisher.stop();
      await reference.stop();
    }
  });

  it('does not publish an envelope over maxPayloadBytes (counted), and fails fast on a broker that is not there', async () => {
    // 2,000 revocations: a filter of ~7 KB; the trust list's envelope is a few hundred bytes.
    await writeFile(join(dir, 'revocation.json'), JSON.stringify({ codes: Array.from({ length: 2000 }, (_, i) => identifierHash(`code-${i}`)) }));
    const reference = store();
    await reference.start();
    const outcomes: string[] = [];
    const publisher = createReferencePublisher(
      { url: broker.url, clientId: 'verifier-2', keepaliveSec: 10, signingKey, maxPayloadBytes: 4096 },
      { reference, logger: silent, now: Date.now, onPublish: (kind, outcome: PublishOutcome) => outcomes.push(`${kind}:${outcome}`) },
    );
    try {
      await publisher.start();
      expect(outcomes.sort()).toEqual(['revocation:too_large', 'trust:published']);
    } finally {
      await publisher.stop();
      await reference.stop();
    }
    const nowhere = createReferencePublisher(
      { url: 'mqtt://127.0.0.1:9', clientId: 'verifier-3', keepaliveSec: 10, signingKey, maxPayloadBytes: 1024 },
      { reference, logger: silent, now: Date.now },
    );
    await expect(nowhere.start()).rejects.toMatchObject({ code: 'VERIFIER_ERR_MQTT' });
  });
});
