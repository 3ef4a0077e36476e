import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mintAccessToken } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { createAuditTrailReader } from '../src/audit-trail-reader.ts';
import { identifierHash, pseudonym } from '../src/identifier-hashes.ts';
import { createVerifierService, type VerifierAddresses, type VerifierService } from '../src/verifier-service.ts';
import { createTestIssuers, PSEUDONYM_KEY, trustEntries } from './code-fixtures.ts';
import { httpFrom } from '../../test-peers/http-from.ts';
import { createDataDir } from './service-harness.ts';

/** GET /v1/audit (issue 6, item 3): auditors read pseudonyms, never codes, and every read is itself recorded. */

const issuers = createTestIssuers();
const auditor = mintAccessToken('audit office', 'auditor');
const analyst = mintAccessToken('ana', 'analyst');
const operator = mintAccessToken('duty officer', 'operator');
/** The venue whose verdicts the auditor reads, asking with its venue token (issue 16). */
const GATE_1 = 'huangpu/nanjing-east/g001/b01';
const gate = mintAccessToken('gate 1', 'venue', undefined, GATE_1);

describe('verifier access: the audit trail', () => {
  let data: Awaited<ReturnType<typeof createDataDir>>;
  let warehouse: Warehouse;
  let service: VerifierService;
  let addresses: VerifierAddresses;
  const t0 = Date.now() - 60_000;
  const qr = issuers.health.issueHealthCode({ subject: 'p-audit-1', colour: 'green' });

  const audit = (query: string, token?: string) =>
    fetch(`${addresses.httpUrl}/v1/audit?${query}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  const auditReads = () =>
    warehouse.query<{ reader: string; role: string; filter: string; rows: number; route: string }>('SELECT reader, role, route, filter, rows FROM audit_reads ORDER BY at');

  beforeAll(async () => {
    data = await createDataDir('cityops-verifier-access-');
    warehouse = await openWarehouse({ backend: 'chdb', path: join(data.dir, 'warehouse') });
    await data.write('trust.json', trustEntries(issuers));
    await data.write('policies.json', { venues: { [GATE_1]: { kinds: ['health-code'] } } });
    service = createVerifierService(
      {
        http: { port: 0, tokens: [auditor.entry, analyst.entry, operator.entry, gate.entry] },
        trust: { source: data.path('trust.json'), refreshMs: 3_600_000 },
        policies: { source: data.path('policies.json'), refreshMs: 3_600_000 },
        pool: { threads: 1 },
        audit: { pseudonymKey: PSEUDONYM_KEY, flushIntervalMs: 20, retentionDays: 7 },
        // 127.0.0.1 (fetch) stays exempt; the lockout test plays other loopback addresses.
        limits: { failedLoginsPerWindow: 3, lockoutMs: 60_000, exemptAddresses: ['127.0.0.1'] },
      },
      { warehouse, logger: pino({ level: 'silent' }) },
    );
    addresses = await service.start();
    // The venue asks with its token; an auditor's token may not ask for verdicts.
    const asking = (token: string) => fetch(`${addresses.httpUrl}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ qr }) });
    expect((await asking(auditor.token)).status).toBe(403);
    expect((await asking(gate.token)).status).toBe(200);
    await vi.waitFor(async () => expect((await warehouse.query('SELECT 1 FROM verification_events')).length).toBe(1), { timeout: 10_000 });
  });

  afterAll(async () => {
    await service?.stop();
    await warehouse?.close();
    await data?.remove();
  });

  it('refuses a missing or unknown token (401) and analyst or operator roles (403), before validating the query, and records nothing', async () => {
    for (const token of [undefined, 'q'.repeat(43)]) {
      const r = await audit(`venue=${GATE_1}&from=x`, token);
      expect(r.status).toBe(401);
      const body = await r.text();
      expect(JSON.parse(body)).toMatchObject({ code: 'VERIFIER_ERR_UNAUTHENTICATED' });
      if (token !== undefined) expect(body).not.toContain(token);
    }
    for (const t of [analyst, operator]) {
      const r = await audit(`from=${t0}&to=${Date.now() + 60_000}`, t.token);
      expect([r.status, ((await r.json()) as { code: string }).code], t.entry.role).toEqual([403, 'VERIFIER_ERR_ROLE_FORBIDDEN']);
    }
    expect(await auditReads()).toEqual([]);
  });

  it("gives an auditor the venue's verdicts with pseudonyms only, and records the read in audit_reads", async () => {
    const to = Date.now() + 60_000;
    const r = await audit(`venue=${GATE_1}&from=${t0}&to=${to}&limit=10`, auditor.token);
    expect(r.status).toBe(200);
    const text = await r.text();
    const { rows } = JSON.parse(text) as { rows: Record<string, unknown>[] };
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ venue: GATE_1, verdict: 'allow', kind: 'health-code', pseudonym: pseudonym(PSEUDONYM_KEY, identifierHash('p-audit-1')) });
    expect(text).not.toContain('p-audit-1');
    expect(text).not.toContain(qr.slice(0, 20));

    const other = await audit(`venue=huangpu/nanjing-east/g001/b02&from=${t0}&to=${to}`, auditor.token);
    expect(((await other.json()) as { rows: unknown[] }).rows).toEqual([]);

    const reads = await auditReads();
    expect(reads).toHaveLength(2);
    expect(reads[0]).toMatchObject({ reader: 'audit office', role: 'auditor', route: 'GET /v1/audit', rows: 1 });
    expect(JSON.parse(reads[0]!.filter)).toEqual({ venue: GATE_1, from: t0, to, limit: 10 });
    expect(reads[1]).toMatchObject({ rows: 0 });
    expect(JSON.stringify(reads)).not.toContain(auditor.token);
  });

  it('refuses a range that is empty or longer than 31 days', async () => {
    for (const q of [`from=${t0}&to=${t0}`, `from=0&to=${32 * 86_400_000}`, `from=${t0}`]) {
      expect((await audit(q, auditor.token)).status, q).toBe(400);
    }
  });

  it('locks an address out of the audit trail and verification after repeated 401s (issue 16: verification has credentials too)', async () => {
    const url = `${addresses.httpUrl}/v1/audit?from=${t0}&to=${Date.now() + 60_000}`;
    const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 3; i++) expect((await httpFrom('127.0.0.20', url, bearer(`guess-${i}`.padEnd(43, 'x')))).status).toBe(401);
    // Even the right token is refused from there now, before it is looked at.
    expect(await httpFrom('127.0.0.20', url, bearer(auditor.token))).toMatchObject({ status: 429, retryAfter: '60', body: { code: 'VERIFIER_ERR_LOCKED_OUT' } });
    const verify = await httpFrom('127.0.0.20', `${addresses.httpUrl}/v1/verify`, { method: 'POST', headers: { authorization: `Bearer ${gate.token}` }, body: JSON.stringify({ qr }) });
    expect(verify).toMatchObject({ status: 429, body: { code: 'VERIFIER_ERR_LOCKED_OUT' } });
    // Another address is not locked out (403 for an analyst: past the lockout, and records no read).
    expect(await httpFrom('127.0.0.21', url, bearer(analyst.token))).toMatchObject({ status: 403, body: { code: 'VERIFIER_ERR_ROLE_FORBIDDEN' } });
    const metrics = await (await fetch(`${addresses.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^cityops_verifier_address_lockouts_total 1$/m);
    expect(metrics).toMatch(/^cityops_verifier_address_refused_total 2$/m);
  });

  it('returns no rows when the read cannot be recorded (no unaudited read of personal data)', async () => {
    const failing = {
      query: () => Promise.resolve([{ at: '2026-01-01 00:00:00.000', venue: 'gate-1', pseudonym: 'x', offline: 0, stale: 0 }]),
      insertRows: () => Promise.reject(new Error('warehouse down')),
    } as unknown as Warehouse;
    const reader = createAuditTrailReader({ warehouse: failing, now: Date.now });
    await expect(reader.read({ from: 0, to: 1, limit: 1 }, auditor.entry, '127.0.0.1')).rejects.toThrow('warehouse down');
  });
});
