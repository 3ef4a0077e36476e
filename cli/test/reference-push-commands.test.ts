import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createDevelopmentIssuer, referenceTopics } from '@cityops/protocol';
import { openReference, parseReferencePublisherKey, type OpenedReference } from '@cityops/verifier';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { scanCommand } from '../src/commands/scan.ts';
import { verifierCommand } from '../src/commands/verifier.ts';
import { createShutdown } from '../src/shutdown.ts';
import { startMosquitto, type Mosquitto } from '../../test-peers/mosquitto.ts';

// `cityops verifier --push-key FILE` pushes its reference data through a real broker (Debian's
// mosquitto), and `cityops scan --push-key FILE` takes the public half.

const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], trustForm: 'public-key' });

describe('--push-key on cityops verifier and cityops scan', () => {
  let dir: string;
  let broker: Mosquitto;
  const pair = generateKeyPairSync('ed25519');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-push-commands-'));
    broker = await startMosquitto();
    await writeFile(join(dir, 'trust.json'), JSON.stringify([health.trustEntry]));
    await writeFile(join(dir, 'revocation.json'), JSON.stringify({ codes: [] }));
    await writeFile(join(dir, 'push.key'), pair.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    await writeFile(join(dir, 'push.pub'), pair.publicKey.export({ format: 'pem', type: 'spki' }));
  });
  afterAll(async () => {
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('the verifier publishes its trust list and revocation filter, signed and retained', { timeout: 60_000 }, async () => {
    process.env.LOG_LEVEL = 'silent';
    const shutdown = createShutdown();
    try {
      const out = new PassThrough();
      await verifierCommand(
        ['--trust', join(dir, 'trust.json'), '--revocation', join(dir, 'revocation.json'), '--mqtt', broker.url, '--data', join(dir, 'verifier'), '--http-port', '0', '--push-key', join(dir, 'push.key')],
        out,
        shutdown,
      );
      const reader = await connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
      const key = parseReferencePublisherKey(pair.publicKey.export({ format: 'pem', type: 'spki' }).toString());
      const opened: OpenedReference[] = [];
      reader.on('message', (_topic, payload) => opened.push(openReference(payload, key, 1 << 20)));
      await reader.subscribeAsync([referenceTopics.trust, referenceTopics.revocation], { qos: 1 });
      await vi.waitFor(() => expect(opened.map((o) => o.header.kind).sort()).toEqual(['revocation', 'trust']));
      expect(JSON.parse(opened.find((o) => o.header.kind === 'trust')!.body.toString('utf8'))).toEqual([health.trustEntry]);
      await reader.endAsync(true);
    } finally {
      await shutdown.run();
    }
  });

  it('scan refuses a push key that is not a public key it can use, with the scanner configuration error', async () => {
    await writeFile(join(dir, 'not-a-key.pem'), '-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n');
    const run = scanCommand(
      ['--scanner', 'door-1', '--trust', join(dir, 'trust.json'), '--broker', broker.url, '--data', join(dir, 'scanner'), '--push-key', join(dir, 'not-a-key.pem')],
      new PassThrough(),
      createShutdown(),
      new PassThrough(),
    );
    await expect(run).rejects.toMatchObject({ code: 'SCANNER_ERR_CONFIG', message: expect.stringMatching(/\/reference\/push\/publisherKey/) as unknown });
  });
});
