import { createServer } from 'node:net';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCodeIssuer, createDevelopmentIssuer, parsePlace } from '@cityops/protocol';
import { createVerifierService, identifierHash, pseudonym, type VerifierService } from '@cityops/verifier';
import { createDeviceRegistry, openWarehouse, type Warehouse } from '@cityops/warehouse';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createScannerAgent, type ScanResult, type ScannerAgent, type ScannerAgentConfigInput } from '../src/index.ts';
import { startAedesBroker, type TestBroker } from './aedes-broker.ts';

const PSEUDONYM_KEY = 'scanner-test-pseudonym-key-0123456789';
const SCANNER = 'scanner-1';
const VENUE = 'jingan/jingan-s01/g001/b01';
const silent = pino({ level: 'silent' });

const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], trustForm: 'public-key' });
const siteOffice = createDevelopmentIssuer({ issuer: 'jingan-office', kinds: ['site-code'] });
const rogue = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });
// Signs with its own key but names the trusted key's kid: a forgery the signature check must catch.
const impersonator = createCodeIssuer({ kid: health.kid, privateKey: rogue.privateKey, alg: 'ES256', issuer: 'city-health' });
const revokedCodeId = Buffer.from('5ca11ed000000001', 'hex');

/** One code of each class the door must tell apart, with its subject where it has one. */
const CODES: readonly { readonly name: string; readonly qr: string; readonly subject?: string; readonly reason: string }[] = [
  { name: 'valid', qr: health.issueHealthCode({ subject: 'p-valid-1', colour: 'green' }), subject: 'p-valid-1', reason: 'OK' },
  { name: 'valid site code', qr: siteOffice.issueSiteCode({ venue: 'mall-3', place: 'jingan/jingan-s01/g001/b01', risk: 'low' }), reason: 'OK' },
  { name: 'expired', qr: health.issueHealthCode({ subject: 'p-old', colour: 'green', issuedAt: Date.now() - 7_200_000, validMinutes: 60 }), subject: 'p-old', reason: 'EXPIRED' },
  { name: 'revoked code', qr: health.issueHealthCode({ subject: 'p-rc', colour: 'green', codeId: revokedCodeId }), subject: 'p-rc', reason: 'REVOKED' },
  { name: 'revoked subject', qr: health.issueHealthCode({ subject: 'p-revoked', colour: 'green' }), subject: 'p-revoked', reason: 'REVOKED' },
  { name: 'red', qr: health.issueHealthCode({ subject: 'p-red', colour: 'red' }), subject: 'p-red', reason: 'POLICY_DENIED' },
  { name: 'forged, unknown key', qr: rogue.issueHealthCode({ subject: 'p-forged', colour: 'green' }), subject: 'p-forged', reason: 'UNKNOWN_KEY' },
  { name: 'forged, trusted kid', qr: impersonator.issueHealthCode({ subject: 'p-valid-1', colour: 'green' }), subject: 'p-valid-1', reason: 'BAD_SIGNATURE' },
  { name: 'wrong issuer for the kind', qr: siteOffice.issueHealthCode({ subject: 'p-wrong', colour: 'green' }), subject: 'p-wrong', reason: 'KEY_NOT_ALLOWED_FOR_KIND' },
  { name: 'malformed base45', qr: 'CHC1:GGW', reason: 'MALFORMED_BASE45' },
  { name: 'malformed prefix', qr: 'XX1:ABCDEF', reason: 'MALFORMED_PREFIX' },
];

const withoutOffline = ({ offline: _offline, ...verdict }: ScanResult) => verdict;

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('scanner agent with a real verifier', () => {
  let dir: string;
  let broker: TestBroker;
  let warehouse: Warehouse;
  let verifier: VerifierService | undefined;
  let httpUrl: string;
  const scanners: ScannerAgent[] = [];
  const online = new Map<string, ScanResult>();

  function startVerifier(port = 0): Promise<{ httpUrl: string }> {
    verifier = createVerifierService(
      {
        http: { port },
        mqtt: { url: broker.url, clientId: 'verifier-test' },
        trust: { source: join(dir, 'trust.json'), refreshMs: 3_600_000 },
        revocation: { source: join(dir, 'revocation.json'), refreshMs: 3_600_000 },
        pool: { enabled: false },
        audit: { pseudonymKey: PSEUDONYM_KEY, flushIntervalMs: 20 },
      },
      { warehouse, logger: silent },
    );
    return verifier.start();
  }

  function scanner(config: Partial<ScannerAgentConfigInput> & { mqttUrl: string; trust: string; revocation: string }): ScannerAgent {
    const { mqttUrl, trust, revocation, ...rest } = config;
    const agent = createScannerAgent(
      {
        scannerId: SCANNER,
        venue: VENUE,
        dataDir: join(dir, 'scanner'),
        mqtt: { url: mqttUrl, reconnectMinMs: 10, reconnectMaxMs: 100, stopTimeoutMs: 300 },
        // Long enough that a loaded machine still gets the verifier's answer in the online tests
        // (400 ms went offline under a busy CI host); the offline test waits for it once.
        verify: { timeoutMs: 5000, probeIntervalMs: 50 },
        reference: { trust: { source: trust }, revocation: { source: revocation } },
        spool: { fsync: 'off', uploadTimeoutMs: 400 },
        ...rest,
      },
      { logger: silent },
    );
    scanners.push(agent);
    return agent;
  }

  async function auditRows(): Promise<Record<string, unknown>[]> {
    await verifier!.audit!.flush();
    return warehouse.query<Record<string, unknown>>('SELECT * FROM verification_events WHERE scanner = {s:String} ORDER BY at', { s: SCANNER });
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-scanner-'));
    broker = await startAedesBroker('unused');
    warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
    // The verifier records the scanner's verdicts at its registered venue (issue 16).
    const registry = createDeviceRegistry({ refreshMs: 3_600_000 }, { warehouse });
    await registry.start();
    await registry.add({ id: SCANNER, kind: 'scanner', place: parsePlace(VENUE) });
    await registry.stop();
    await writeFile(join(dir, 'trust.json'), JSON.stringify([health.trustEntry, siteOffice.trustEntry]));
    await writeFile(
      join(dir, 'revocation.json'),
      JSON.stringify({ codes: [identifierHash(revokedCodeId.toString('hex'))], subjects: [identifierHash('p-revoked')] }),
    );
    httpUrl = (await startVerifier()).httpUrl;
  });

  afterAll(async () => {
    for (const agent of scanners) await agent.stop();
    await verifier?.stop();
    await broker?.stop();
    await warehouse?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('asks the verifier over MQTT and shows its verdicts', async () => {
    const agent = scanner({ mqttUrl: broker.url, trust: join(dir, 'trust.json'), revocation: `${httpUrl}/v1/revocation/filter` });
    const isOnline = new Promise<void>((resolve) => agent.once('online', resolve));
    await agent.start();
    await isOnline;
    for (const code of CODES) {
      const result = await agent.scan(code.qr);
      expect({ name: code.name, reason: result.reason, offline: result.offline }).toEqual({ name: code.name, reason: code.reason, offline: false });
      online.set(code.name, result);
    }
    expect(agent.stats()).toMatchObject({ online: true, onlineVerdicts: CODES.length, offlineVerdicts: 0, spool: { pending: 0 } });
    // The offline copies are on disk for a restart: the trust list and the revocation filter.
    expect((await readdir(join(dir, 'scanner', 'reference'))).sort()).toEqual(['meta.json', 'revocation.cbf', 'trust.json']);
  });

  it('keeps giving the verifier’s verdicts offline while the verifier is down, and spools their events without codes or subjects', async () => {
    const agent = scanners[0]!;
    const wentOffline = new Promise<string>((resolve) => agent.once('offline', resolve));
    await verifier!.stop();
    verifier = undefined;
    for (const code of CODES) {
      const result = await agent.scan(code.qr);
      expect(result.offline, code.name).toBe(true);
      expect(withoutOffline(result), code.name).toEqual(withoutOffline(online.get(code.name)!));
    }
    expect(await wentOffline).toBe('timeout');
    const stats = agent.stats();
    // Only the first waited for an answer; the door then verified at once.
    expect(stats.offlineByCause).toEqual({ timeout: 1, unreachable: CODES.length - 1, busy: 0, overloaded: 0 });
    expect(stats.spool).toMatchObject({ pending: CODES.length, appended: CODES.length, dropped: { oldest: 0, newest: 0, backlog: 0 } });

    const segments = join(dir, 'scanner', 'spool', 'routine');
    const spooled = (await Promise.all((await readdir(segments)).filter((f) => f.endsWith('.seg')).map((f) => readFile(join(segments, f), 'latin1')))).join('');
    expect(spooled).toContain(identifierHash('p-valid-1'));
    for (const code of CODES) {
      expect(spooled).not.toContain(code.qr.slice(5, 60));
      if (code.subject !== undefined) expect(spooled).not.toContain(`"${code.subject}"`);
    }
  });

  it('uploads the offline events when the verifier is back: in its audit trail once, flagged offline, pseudonymised', async () => {
    const agent = scanners[0]!;
    const back = new Promise<void>((resolve) => agent.once('online', resolve));
    httpUrl = (await startVerifier()).httpUrl;
    await back;
    await vi.waitFor(() => expect(agent.stats().spool.pending).toBe(0));
    expect(agent.stats().uploads).toMatchObject({ eventsAccepted: CODES.length, eventsRefused: 0 });

    // Back online: the next verdict is the verifier's again, and no upload repeats.
    const after = await agent.scan(CODES[0]!.qr);
    expect(after).toMatchObject({ offline: false, reason: 'OK' });
    const rows = await vi.waitFor(async () => {
      const all = await auditRows();
      // The first test's online verdicts, and this one.
      expect(all.filter((r) => r.transport === 'mqtt')).toHaveLength(CODES.length + 1);
      return all;
    });
    const offline = rows.filter((r) => r.offline === true);
    expect(offline).toHaveLength(CODES.length);
    expect(offline.map((r) => r.reason).sort()).toEqual(CODES.map((c) => c.reason).sort());
    for (const r of offline) expect(r).toMatchObject({ transport: 'offline', scanner: SCANNER, venue: VENUE });
    const valid = offline.find((r) => r.reason === 'OK' && r.kind === 'health-code');
    expect(valid?.pseudonym).toBe(pseudonym(PSEUDONYM_KEY, identifierHash('p-valid-1')));
    expect(offline.find((r) => r.reason === 'UNKNOWN_KEY')?.pseudonym).toBe(pseudonym(PSEUDONYM_KEY, identifierHash('p-forged')));
    expect(offline.find((r) => r.reason === 'MALFORMED_PREFIX')).toMatchObject({ kind: '', pseudonym: '' });
    const text = JSON.stringify(rows);
    for (const code of CODES) {
      expect(text).not.toContain(code.qr.slice(5, 60));
      if (code.subject !== undefined) expect(text).not.toContain(`"${code.subject}"`);
    }
  });

  it('a restarted scanner with no network verifies offline from the copies it persisted', async () => {
    await scanners[0]!.stop();
    const nowhere = `mqtt://127.0.0.1:${await deadPort()}`;
    const agent = scanner({ mqttUrl: nowhere, trust: join(dir, 'missing-trust.json'), revocation: `http://127.0.0.1:${await deadPort()}/v1/revocation/filter` });
    await agent.start();
    expect(agent.stats().reference).toMatchObject({ trust: { loaded: true, failures: 1 }, revocation: { loaded: true, failures: 1 } });
    for (const code of CODES) {
      const result = await agent.scan(code.qr);
      expect(result.offline, code.name).toBe(true);
      expect(withoutOffline(result), code.name).toEqual(withoutOffline(online.get(code.name)!));
    }
    expect(agent.stats()).toMatchObject({ connected: false, spool: { pending: CODES.length } });
  });
});
