import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevelopmentIssuer } from '@cityops/protocol';
import { identifierHash } from '../src/identifier-hashes.ts';
import { createReferenceStore, type ReloadOutcome } from '../src/reference-store.ts';
import { parseRevocationList } from '../src/revocation-list.ts';
import { createSourceReader } from '../src/source-reader.ts';
import { effectiveColour, parseStatusFeed } from '../src/status-feed.ts';
import { parseTrustList } from '../src/trust-list.ts';
import { parseVenuePolicies } from '../src/venue-policies.ts';
import { staleSources } from '../src/verification-context.ts';
import { createWorkerTrustViews } from '../src/worker-trust-view.ts';

const logger = pino({ level: 'silent' });
const a = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });
const b = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], trustForm: 'public-key', alg: 'EdDSA' });

describe('trust list', () => {
  it('parses certificates and SPKI keys once, groups entries by kid, defaults kinds to all', () => {
    const snapshot = parseTrustList(JSON.stringify([a.trustEntry, b.trustEntry, { kid: a.trustEntry.kid, publicKey: b.trustEntry.publicKey }, { kid: 'AAAA', publicKey: b.trustEntry.publicKey }]), 7);
    expect(snapshot.version).toBe(7);
    expect(snapshot.size).toBe(4);
    expect(snapshot.kids).toBe(3);
    const keysOfA = snapshot.keysFor(a.trustEntry.kid)!;
    expect(keysOfA).toHaveLength(2);
    expect(keysOfA[0]!.certificate).toBeDefined();
    expect(keysOfA[0]!.publicKey.asymmetricKeyType).toBe('ec');
    // The same KeyObject every time: parsed at load, never per request.
    expect(snapshot.keysFor(a.trustEntry.kid)![0]!.publicKey).toBe(keysOfA[0]!.publicKey);
    expect(snapshot.keysFor(b.trustEntry.kid)![0]!.publicKey.asymmetricKeyType).toBe('ed25519');
    expect(snapshot.keysFor('AAAA')![0]!.kinds).toEqual(['eu-dcc', 'health-code', 'site-code', 'licence']);
    expect(snapshot.keysFor('nope')).toBeUndefined();
    expect(Object.isFrozen(snapshot)).toBe(true);
  });

  it('refuses a whole list for one bad entry, naming every problem', () => {
    const bad = [a.trustEntry, { kid: 'AAAA', publicKey: 'AAAA' }, { kid: 'BBBB', certificate: 'BBBB' }];
    expect(() => parseTrustList(bad, 1)).toThrow(/entry 1 \(kid AAAA\).*entry 2 \(kid BBBB\)/);
    expect(() => parseTrustList([{ kid: 'AAAA' }], 1)).toThrow(expect.objectContaining({ code: 'VERIFIER_ERR_TRUST_LIST' }));
    expect(() => parseTrustList([{ kid: 'AAAA', publicKey: 'x', certificate: 'y' }], 1)).toThrow(/oneOf/);
    expect(() => parseTrustList([{ ...a.trustEntry, kinds: ['passport'] }], 1)).toThrow(/kinds/);
    expect(() => parseTrustList('{not json', 1)).toThrow(/not JSON/);
  });

  it('reaches workers as a shared table, parsed once per version and kid', () => {
    const snapshot = parseTrustList([a.trustEntry, b.trustEntry], 3);
    const views = createWorkerTrustViews();
    const view = views.viewOf(3, snapshot.workerTable());
    expect(view.keysFor(a.trustEntry.kid)![0]!.publicKey.equals(snapshot.keysFor(a.trustEntry.kid)![0]!.publicKey)).toBe(true);
    for (let i = 0; i < 100; i++) views.viewOf(3, snapshot.workerTable()).keysFor(a.trustEntry.kid);
    expect(views.parsedKeys).toBe(1);
    views.viewOf(3, snapshot.workerTable()).keysFor(b.trustEntry.kid);
    expect(views.parsedKeys).toBe(2);
    // A new version is a new table: its keys are parsed again, once.
    const next = parseTrustList([a.trustEntry], 4);
    views.viewOf(4, next.workerTable()).keysFor(a.trustEntry.kid);
    views.viewOf(4, next.workerTable()).keysFor(a.trustEntry.kid);
    expect(views.parsedKeys).toBe(3);
    expect(() => views.viewOf(5, snapshot.workerTable())).toThrow(/version 3, task says 5/);
  });
});

describe('revocation, status and policies', () => {
  it('revocation lists hold digests only', () => {
    const list = parseRevocationList({ codes: [identifierHash('c-1')], subjects: [identifierHash('p-1')] }, 1, 1e-6);
    expect(list.isCodeRevoked(identifierHash('c-1'))).toBe(true);
    expect(list.isSubjectRevoked(identifierHash('p-1'))).toBe(true);
    expect(list.isCodeRevoked(identifierHash('p-1'))).toBe(false);
    expect(() => parseRevocationList({ codes: ['c-1'] }, 1, 1e-6)).toThrow(expect.objectContaining({ code: 'VERIFIER_ERR_REVOCATION_LIST' }));
  });

  it('the status feed downgrades codes issued before its time, never upgrades', () => {
    const since = Date.UTC(2026, 10, 26, 8);
    const feed = parseStatusFeed({ entries: [{ subject: identifierHash('p-1'), colour: 'green', since: since - 1000 }, { subject: identifierHash('p-1'), colour: 'red', since: new Date(since).toISOString() }] }, 1);
    const status = feed.statusOf(identifierHash('p-1'));
    expect(status).toEqual({ colour: 'red', since });
    expect(effectiveColour('green', since - 1, status)).toBe('red');
    expect(effectiveColour('green', since, status)).toBe('green');
    expect(effectiveColour('yellow', since - 1, { colour: 'green', since })).toBe('yellow');
    expect(() => parseStatusFeed({ entries: [{ subject: identifierHash('x'), colour: 'red', since: 'yesterday!' }] }, 1)).toThrow(/since is not a time/);
  });

  it('venue policies inherit from the default, which inherits from the city default', () => {
    const policies = parseVenuePolicies({ default: { colours: ['green', 'yellow'] }, venues: { 'mall-1': { kinds: ['health-code'] }, 'clinic-2': { dccTypes: ['v'] } } }, 1);
    expect([...policies.policyFor(undefined).colours]).toEqual(['green', 'yellow']);
    expect([...policies.policyFor('unknown-venue').kinds]).toEqual(['eu-dcc', 'health-code', 'site-code', 'licence']);
    expect([...policies.policyFor('mall-1').kinds]).toEqual(['health-code']);
    expect([...policies.policyFor('mall-1').colours]).toEqual(['green', 'yellow']);
    expect([...policies.policyFor('clinic-2').dccTypes]).toEqual(['v']);
    expect(() => parseVenuePolicies({ venues: { 'bad venue!': {} } }, 1)).toThrow(expect.objectContaining({ code: 'VERIFIER_ERR_POLICIES' }));
  });
});

describe('sources and the reference store', () => {
  let dir: string;
  let server: Server;
  let feedUrl: string;
  let feedBody = '[]';
  let feedEtag = '"v1"';
  let requests: { ifNoneMatch: string | undefined }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-verifier-ref-'));
    server = createServer((req, res) => {
      requests.push({ ifNoneMatch: req.headers['if-none-match'] });
      if (req.headers['if-none-match'] === feedEtag) {
        res.writeHead(304).end();
        return;
      }
      res.writeHead(200, { etag: feedEtag, 'content-type': 'application/json' }).end(feedBody);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    feedUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/trust.json`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('a feed is read with If-None-Match: 304 renews freshness without a new text', async () => {
    let clock = 1_000;
    const reader = createSourceReader(feedUrl, { maxBytes: 1 << 20, timeoutMs: 5000 }, { now: () => clock });
    requests = [];
    feedBody = JSON.stringify([a.trustEntry]);
    expect(await reader.read()).toEqual({ bytes: Buffer.from(feedBody), freshAt: 1_000, validator: '"v1"' });
    clock = 2_000;
    expect(await reader.read()).toEqual({ freshAt: 2_000, validator: '"v1"' });
    expect(requests.map((r) => r.ifNoneMatch)).toEqual([undefined, '"v1"']);
    reader.forget();
    expect((await reader.read()).bytes?.toString()).toBe(feedBody);
    // A validator restored from a persisted copy is sent again (the scanner after a restart).
    reader.remember('"v1"');
    expect((await reader.read()).bytes).toBeUndefined();
    const small = createSourceReader(feedUrl, { maxBytes: 10, timeoutMs: 5000 }, { now: () => clock });
    await expect(small.read()).rejects.toThrow(/larger than 10 bytes/);
    const missing = createSourceReader(join(dir, 'missing.json'), { maxBytes: 1 << 20, timeoutMs: 5000 }, { now: () => clock });
    await expect(missing.read()).rejects.toMatchObject({ code: 'VERIFIER_ERR_SOURCE' });
  });

  it('swaps atomically, keeps the old data when a reload fails, and ages it by file time', async () => {
    const trustFile = join(dir, 'trust.json');
    await writeFile(trustFile, JSON.stringify([a.trustEntry]));
    const t0 = Date.UTC(2026, 10, 26, 8);
    await utimes(trustFile, t0 / 1000, t0 / 1000);
    feedEtag = '"rev-1"';
    feedBody = JSON.stringify({ codes: [identifierHash('c-1')] });
    const revocationUrl = feedUrl.replace('trust.json', 'revocation.json');
    let clock = t0 + 1000;
    const outcomes: string[] = [];
    const store = createReferenceStore(
      {
        trust: { source: trustFile, refreshMs: 3_600_000, maxAgeMs: 60_000 },
        revocation: { source: revocationUrl, refreshMs: 3_600_000, maxAgeMs: 60_000, filterFalsePositiveRate: 1e-6 },
        maxSourceBytes: 1 << 20,
        sourceTimeoutMs: 5000,
      },
      { now: () => clock, logger, onReload: (kind, outcome: ReloadOutcome) => outcomes.push(`${kind}:${outcome}`) },
    );
    const swaps: number[] = [];
    store.onChange((c) => swaps.push(c.generation));
    const first = await store.start();
    expect(first.trust.keysFor(a.trustEntry.kid)).toHaveLength(1);
    expect(first.revocation.isCodeRevoked(identifierHash('c-1'))).toBe(true);
    expect(first.freshness.trust?.freshAt).toBe(t0);
    expect(staleSources(first, clock)).toEqual([]);
    expect(staleSources(first, t0 + 60_001)).toEqual(['trust']);

    // Rotation: the new list holds both kids; the context a request holds does not change under it.
    await writeFile(trustFile, JSON.stringify([a.trustEntry, b.trustEntry]));
    await store.reload('trust');
    const second = store.current();
    expect(second.generation).toBeGreaterThan(first.generation);
    expect(second.trust.keysFor(b.trustEntry.kid)).toHaveLength(1);
    expect(first.trust.keysFor(b.trustEntry.kid)).toBeUndefined();
    expect(second.revocation).toBe(first.revocation);

    // A broken file is refused; the list in use stays and keeps its age.
    await writeFile(trustFile, '[{"kid": "AAAA"}]');
    await expect(store.reload('trust')).rejects.toMatchObject({ code: 'VERIFIER_ERR_TRUST_LIST' });
    expect(store.current().trust).toBe(second.trust);
    await expect(store.reload('trust')).rejects.toMatchObject({ code: 'VERIFIER_ERR_TRUST_LIST' });
    expect(store.current().freshness.trust?.freshAt).toBe(second.freshness.trust?.freshAt);

    // The feed answers 304: same list, renewed freshness.
    clock += 5000;
    await store.reload('revocation');
    expect(store.current().revocation).toBe(first.revocation);
    expect(store.current().freshness.revocation?.freshAt).toBe(clock);
    expect(outcomes).toEqual(['trust:changed', 'trust:failed', 'trust:failed', 'revocation:unchanged']);
    expect(swaps.length).toBe(3);
    await store.stop();
    await store.stop();
  });

  it('refuses to start when a source cannot be read', async () => {
    const store = createReferenceStore(
      { trust: { source: join(dir, 'nowhere.json'), refreshMs: 1000, maxAgeMs: 1000 }, maxSourceBytes: 1024, sourceTimeoutMs: 1000 },
      { now: Date.now, logger },
    );
    await expect(store.start()).rejects.toMatchObject({ code: 'VERIFIER_ERR_SOURCE' });
    expect(() => store.current()).toThrow(/not started/);
  });
});
