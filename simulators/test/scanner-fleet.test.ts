import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePlace } from '@cityops/protocol';
import { createVerifierService, type VerifierService } from '@cityops/verifier';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startBroker } from './plain-broker.ts';
import { CODE_CLASSES, createScannerCodeMint, createScannerFleet, parseCodeMix, planScannerSites, type ScannerFleet } from '../src/index.ts';

const silent = pino({ level: 'silent' });

describe('scanner code mix', () => {
  it('parses weights and refuses unknown classes or an empty mix', () => {
    expect(parseCodeMix('valid=70, forged=5')).toEqual({ valid: 70, expired: 0, 'wrong-colour': 0, forged: 5, revoked: 0, 'wrong-issuer': 0, malformed: 0 });
    expect(() => parseCodeMix('valid=1,stolen=2')).toThrow(/unknown code class "stolen"/);
    expect(() => parseCodeMix('valid=0')).toThrow(/at least one class/);
    expect(() => parseCodeMix('valid=-1')).toThrow(/>= 0/);
  });

  it('places scanners in buildings across every district', () => {
    const sites = planScannerSites({ scanners: 32, seed: 5 });
    expect(new Set(sites.map((s) => s.place.district)).size).toBe(16);
    expect(new Set(sites.map((s) => s.id)).size).toBe(32);
    for (const s of sites) {
      expect(s.place.building).not.toBe('');
      expect(parsePlace(s.venue)).toEqual(s.place);
    }
  });
});

describe('scanner fleet against a real verifier', () => {
  let dir: string;
  let broker: Awaited<ReturnType<typeof startBroker>>;
  let verifier: VerifierService | undefined;
  const fleets: ScannerFleet[] = [];
  const mint = createScannerCodeMint({ seed: 3, revokedPool: 8 });
  const sites = planScannerSites({ scanners: 4, seed: 2 });
  const equalMix = parseCodeMix(CODE_CLASSES.map((c) => `${c}=1`).join(','));

  async function startVerifier(): Promise<string> {
    verifier = createVerifierService(
      {
        // No warehouse, so no registry: open, judged at the venue each scanner sends (its site).
        http: { port: 0, verifyAccess: 'open' },
        mqtt: { url: broker.url, clientId: 'fleet-verifier' },
        trust: { source: join(dir, 'trust.json'), refreshMs: 3_600_000 },
        revocation: { source: join(dir, 'revocation.json'), refreshMs: 3_600_000 },
        pool: { enabled: false },
      },
      { logger: silent },
    );
    return (await verifier.start()).httpUrl;
  }

  function fleet(revocationSource: string, codesPerScanner: number): ScannerFleet {
    const f = createScannerFleet(
      {
        brokerUrl: broker.url,
        sites,
        dataRoot: join(dir, 'scanners'),
        trustSource: join(dir, 'trust.json'),
        revocationSource,
        codesPerScanner,
        mix: equalMix,
        seed: fleets.length + 1,
        agent: { mqtt: { reconnectMinMs: 10, reconnectMaxMs: 50, stopTimeoutMs: 200 }, verify: { timeoutMs: 300, probeIntervalMs: 40 }, spool: { fsync: 'off', uploadTimeoutMs: 300 } },
      },
      { mint, logger: silent },
    );
    fleets.push(f);
    return f;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-scanner-fleet-'));
    await writeFile(join(dir, 'trust.json'), JSON.stringify(mint.trustEntries));
    await writeFile(join(dir, 'revocation.json'), JSON.stringify(mint.revocation));
    broker = await startBroker();
  });
  afterAll(async () => {
    for (const f of fleets) await f.stop();
    await verifier?.stop();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('gives every class its expected verdict online, with stats by reason and class', async () => {
    const httpUrl = await startVerifier();
    const f = fleet(`${httpUrl}/v1/revocation/filter`, 36);
    await f.start();
    await f.finished();
    const stats = f.stats();
    expect(stats).toMatchObject({ scanners: 4, scanned: 144, offline: 0 });
    expect(f.check()).toEqual({ ok: true, problems: [] });
    for (const c of CODE_CLASSES) expect(stats.byClass[c].scanned, c).toBeGreaterThan(0);
    expect(Object.values(stats.byReason).reduce((a, b) => a + b, 0)).toBe(144);
    expect(stats.byReason.OK).toBe(stats.byClass.valid.scanned);
    expect(stats.byReason.REVOKED).toBe(stats.byClass.revoked.scanned);
    expect(Object.keys(stats.byReason)).toEqual(expect.arrayContaining(['EXPIRED', 'KEY_NOT_ALLOWED_FOR_KIND']));
    expect(stats.latencyMs.count).toBe(144);
    await f.stop();
  });

  it('keeps the same verdicts offline while the verifier is down, and uploads the events when it is back', async () => {
    await verifier!.stop();
    verifier = undefined;
    // The scanners keep the filter they persisted; nothing answers at this address.
    const f = fleet('http://127.0.0.1:9/v1/revocation/filter', 24);
    await f.start();
    await f.finished();
    const stats = f.stats();
    expect(stats).toMatchObject({ scanned: 96, offline: 96, online: 0, spoolPending: 96 });
    expect(f.check()).toEqual({ ok: true, problems: [] });
    expect(stats.byClass.revoked.scanned).toBeGreaterThan(0);

    await startVerifier();
    await vi.waitFor(() => expect(f.stats()).toMatchObject({ online: 4, spoolPending: 0, eventsUploaded: 96 }), { timeout: 10_000 });
  });
});
