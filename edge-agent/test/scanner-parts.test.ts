import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createDevelopmentIssuer } from '@cityops/protocol';
import { createBloomFilter, identifierHash, revocationFilterKey } from '@cityops/verifier';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemTimers } from '../src/agent-deps.ts';
import { createQrLinesSource, parseScannerAgentConfig, type ScanInput } from '../src/index.ts';
import { createOfflineVerifier } from '../src/scanner/offline-verifier.ts';
import { createReferenceCache } from '../src/scanner/reference-cache.ts';

const silent = pino({ level: 'silent' });

describe('scanner configuration', () => {
  it('reports every problem together with SCANNER_ERR_CONFIG', () => {
    const attempt = () =>
      parseScannerAgentConfig({
        scannerId: 'bad id',
        dataDir: '/tmp/x',
        mqtt: { url: 'http://nope', reconnectMinMs: 100, reconnectMaxMs: 10 },
        reference: { trust: { source: 'trust.json' } },
        spool: { maxBytes: 16 * 1024, segmentBytes: 8 * 1024 },
      });
    expect(attempt).toThrow(expect.objectContaining({ code: 'SCANNER_ERR_CONFIG' }));
    try {
      attempt();
    } catch (err) {
      expect((err as Error).message).toMatch(/\/scannerId.*\/mqtt\/url/s);
    }
    const ok = parseScannerAgentConfig({ scannerId: 'gate-1', dataDir: '/tmp/x', mqtt: { url: 'mqtt://h:1883' }, reference: { trust: { source: 't' } } });
    expect(ok).toMatchObject({ verify: { timeoutMs: 1500, maxInFlight: 256 }, spool: { whenFull: 'drop-oldest', uploadBatch: 200 } });
    expect(Object.isFrozen(ok.spool)).toBe(true);
    expect(() => parseScannerAgentConfig({ scannerId: 'gate-1', dataDir: '/x', mqtt: { url: 'mqtt://h:1', reconnectMinMs: 100, reconnectMaxMs: 10 }, reference: { trust: { source: 't' } } })).toThrow(
      /reconnectMaxMs \(10\) is below reconnectMinMs \(100\)/,
    );
  });
});

describe('QR lines source', () => {
  async function read(text: string, maxLineBytes?: number): Promise<{ inputs: ScanInput[]; stats: unknown; bad: [number, string][] }> {
    const input = new PassThrough();
    input.end(text);
    const bad: [number, string][] = [];
    const source = createQrLinesSource(input, maxLineBytes === undefined ? {} : { maxLineBytes }, { logger: silent, onBadLine: (line, reason) => bad.push([line, reason]) });
    const inputs: ScanInput[] = [];
    for await (const item of source) inputs.push(item);
    return { inputs, stats: source.stats(), bad };
  }

  it('reads raw QR texts and {"qr","venue"} lines, skips blanks, counts bad and over-long lines', async () => {
    const { inputs, stats, bad } = await read(
      ['CHC1:ABC', '', '  ', '{"qr":"HC1:XYZ","venue":"mall-3"}', '{"qr":7}', '{not json', 'x'.repeat(100), 'CSC1:DEF\r', 'CHC1:LAST'].join('\n'),
      64,
    );
    expect(inputs).toEqual([{ qr: 'CHC1:ABC' }, { qr: 'HC1:XYZ', venue: 'mall-3' }, { qr: 'CSC1:DEF' }, { qr: 'CHC1:LAST' }]);
    expect(stats).toEqual({ lines: 9, codes: 4, badLines: 3 });
    expect(bad).toEqual([[5, '"qr" must be a non-empty string'], [6, expect.stringMatching(/^not JSON/) as string], [7, 'longer than 64 bytes']]);
  });
});

describe('reference cache and offline verification', () => {
  const issuer = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });
  const other = createDevelopmentIssuer({ issuer: 'other', kinds: ['health-code'] });
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-scanner-parts-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('refuses a bad trust file and keeps the good copy in use and on disk; revocation from the filter', async () => {
    const trustPath = join(dir, 'trust.json');
    const filterPath = join(dir, 'filter.cbf');
    await writeFile(trustPath, JSON.stringify([issuer.trustEntry]));
    const filter = createBloomFilter(10, 1e-6);
    filter.add(revocationFilterKey.subject(identifierHash('p-revoked')));
    await writeFile(filterPath, filter.toBytes());
    const cache = createReferenceCache(
      {
        dir: join(dir, 'reference'),
        trust: { source: trustPath, refreshMs: 3_600_000, maxAgeMs: 3_600_000 },
        revocation: { source: filterPath, refreshMs: 3_600_000, maxAgeMs: 3_600_000 },
        maxSourceBytes: 1024 * 1024,
        sourceTimeoutMs: 1000,
      },
      { now: Date.now, logger: silent, timers: systemTimers },
    );
    await cache.start();
    const local = createOfflineVerifier({ clockSkewMs: 30_000, staleAction: 'warn', maxQrChars: 4296, maxInflatedBytes: 65_536 }, { context: () => cache.current() });
    const at = Date.now();
    expect(local.verify(issuer.issueHealthCode({ subject: 'p-1', colour: 'green' }), 'mall-3', at)).toMatchObject({
      verdict: { verdict: 'allow', reason: 'OK' },
      event: { at, venue: 'mall-3', kind: 'health-code', verdict: 'allow', reason: 'OK', issuer: 'city-health', subjectHash: identifierHash('p-1') },
    });
    expect(local.verify(issuer.issueHealthCode({ subject: 'p-revoked', colour: 'green' }), undefined, at).verdict).toMatchObject({ reason: 'REVOKED', detail: 'subject' });
    expect(local.verify(other.issueHealthCode({ subject: 'p-2', colour: 'green' }), undefined, at).event).toMatchObject({ reason: 'UNKNOWN_KEY', subjectHash: identifierHash('p-2') });

    await writeFile(trustPath, '[{"kid": 42}]');
    await expect(cache.refresh('trust')).rejects.toMatchObject({ code: 'SCANNER_ERR_REFERENCE' });
    expect(local.verify(issuer.issueHealthCode({ subject: 'p-3', colour: 'green' }), undefined, at).verdict.reason).toBe('OK');
    expect(JSON.parse(await readFile(join(dir, 'reference', 'trust.json'), 'utf8'))).toEqual([issuer.trustEntry]);
    expect(cache.stats()).toMatchObject({ trust: { loaded: true, refreshes: 1, failures: 1, persistFailures: 0 }, revocation: { refreshes: 1, failures: 0, persistFailures: 0 } });

    // Past maxAgeMs the verdicts say so, as the verifier's do.
    expect(local.verify(issuer.issueHealthCode({ subject: 'p-4', colour: 'green' }), undefined, at + 2 * 3_600_000).verdict).toMatchObject({
      stale: true,
      staleSources: ['trust', 'revocation'],
    });
    await cache.stop();
  });
});
