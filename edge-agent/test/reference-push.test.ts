import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevelopmentIssuer, referenceTopics } from '@cityops/protocol';
import { buildRevocationSnapshot, identifierHash, parseReferenceSigningKey, sealReference } from '@cityops/verifier';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemTimers } from '../src/agent-deps.ts';
import { createReferenceCache } from '../src/scanner/reference-cache.ts';
import { createReferencePush } from '../src/scanner/reference-push.ts';

const silent = pino({ level: 'silent' });
const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], trustForm: 'public-key' });
const pair = generateKeyPairSync('ed25519');
const signing = parseReferenceSigningKey(pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
const publisherKey = pair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
const revoked = identifierHash('c0de-1');

function filterWith(codes: string[]): Buffer {
  return buildRevocationSnapshot({ codes }, 1, 0.000001).filter().toBytes();
}

describe('pushed reference data on the scanner', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-reference-push-'));
    await writeFile(join(dir, 'trust.json'), JSON.stringify([health.trustEntry]));
    await writeFile(join(dir, 'revocation.cbf'), filterWith([]));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function cache(name: string) {
    return createReferenceCache(
      {
        dir: join(dir, name),
        trust: { source: join(dir, 'trust.json'), refreshMs: 3_600_000, maxAgeMs: 86_400_000 },
        revocation: { source: join(dir, 'revocation.cbf'), refreshMs: 3_600_000, maxAgeMs: 86_400_000 },
        maxSourceBytes: 1 << 20,
        sourceTimeoutMs: 5000,
      },
      { now: Date.now, logger: silent, timers: systemTimers },
    );
  }

  it('keeps the version it applied across a restart: the older retained copy is ignored afterwards', async () => {
    const first = cache('restart');
    await first.start();
    const push = createReferencePush({ publisherKey, kinds: ['trust', 'revocation'], maxBytes: 1 << 20 }, { cache: first, logger: silent });
    expect(push.topics).toEqual([referenceTopics.trust, referenceTopics.revocation]);
    const now = Date.now();
    const older = sealReference({ kind: 'revocation', version: now - 1000, freshAt: now - 1000 }, filterWith([]), signing);
    const newer = sealReference({ kind: 'revocation', version: now, freshAt: now }, filterWith([revoked]), signing);
    push.onMessage(referenceTopics.revocation, newer);
    await vi.waitFor(() => expect(push.stats()).toEqual({ applied: 1, older: 0, refused: 0 }));
    expect(first.current().revocation.isCodeRevoked(revoked)).toBe(true);
    // A copy pushed with a freshAt ahead of the scanner's clock counts as fresh now, not in the future.
    expect(first.stats().revocation?.freshAt).toBeLessThanOrEqual(Date.now());
    await first.stop();

    const second = cache('restart');
    await second.start();
    expect(second.pushedVersion('revocation')).toBe(now);
    const again = createReferencePush({ publisherKey, kinds: ['trust', 'revocation'], maxBytes: 1 << 20 }, { cache: second, logger: silent });
    // On reconnect the broker hands over what it retained; here an older copy than the one held.
    again.onMessage(referenceTopics.revocation, older);
    again.onMessage(referenceTopics.revocation, newer);
    await vi.waitFor(() => expect(again.stats()).toEqual({ applied: 0, older: 2, refused: 0 }));
    // The pushed copy was persisted; the poll at start finds its source unchanged (the validator it
    // kept) and does not take the push back.
    expect(second.current().revocation.isCodeRevoked(revoked)).toBe(true);
    await second.stop();
  });

  it('ignores a kind it does not keep and an empty (clearing) message; refuses a signed body its parser refuses', async () => {
    const c = cache('kinds');
    await c.start();
    const push = createReferencePush({ publisherKey, kinds: ['trust'], maxBytes: 1 << 20 }, { cache: c, logger: silent });
    expect(push.topics).toEqual([referenceTopics.trust]);
    const now = Date.now();
    push.onMessage(referenceTopics.revocation, sealReference({ kind: 'revocation', version: now, freshAt: now }, filterWith([revoked]), signing));
    push.onMessage(referenceTopics.trust, Buffer.alloc(0));
    push.onMessage(referenceTopics.trust, sealReference({ kind: 'trust', version: now, freshAt: now }, Buffer.from('[{"kid":"!!"}]'), signing));
    await vi.waitFor(() => expect(push.stats()).toEqual({ applied: 0, older: 0, refused: 1 }));
    expect(c.stats().trust?.failures).toBe(1);
    // The version of the refused copy is spent: the same bytes again are ignored, not parsed again.
    push.onMessage(referenceTopics.trust, sealReference({ kind: 'trust', version: now, freshAt: now }, Buffer.from('[{"kid":"!!"}]'), signing));
    await vi.waitFor(() => expect(push.stats().older).toBe(1));
    expect(c.current().trust.size).toBe(1);
    await c.stop();
  });
});
