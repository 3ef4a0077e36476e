import { createHash, createHmac } from 'node:crypto';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDevelopmentIssuer, topics } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { dateTime64 } from '../src/audit-writer.ts';
import { bloomFilterFromBytes } from '../src/bloom-filter.ts';
import { identifierHash, pseudonym } from '../src/identifier-hashes.ts';
import { REASON_CODES } from '../src/reasons.ts';
import { revocationFilterKey } from '../src/revocation-list.ts';
import type { Verdict } from '../src/verdict.ts';
import { createVerifierService, type VerifierAddresses, type VerifierService } from '../src/verifier-service.ts';
import { createTestIssuers, dccVaccination, MALFORMED, PSEUDONYM_KEY, trustEntries } from './code-fixtures.ts';
import { registerDevices, type RegisteredDevice } from './registry-fixtures.ts';
import { createDataDir, post as postJson, startPlainBroker } from './service-harness.ts';

const issuers = createTestIssuers();
/** Where the scanners of this test are registered (issue 16: the venue comes from the registry). */
const MALL_3 = 'huangpu/nanjing-east/g002/mall-3';
const CLINIC_1 = 'huangpu/nanjing-east/g001/clinic-1';
let gate: RegisteredDevice;
let clinic: RegisteredDevice;
let auditGate: RegisteredDevice;
/** Requests come from scanner gate-1 (at MALL_3) unless another's credentials are given. */
const post = <T = Record<string, unknown>>(url: string, body: unknown, authorization = gate.basic) => postJson<T>(url, body, authorization);
/** Offline verdicts two hours old, on the minute: inside the audit's 7-day retention whatever the date. */
const OFFLINE_AT = Math.floor((Date.now() - 2 * 3_600_000) / 60_000) * 60_000;
let serial = 100_000;
/** A distinct green health code each call (no cache hits), with its subject. */
function freshCode(issuer = issuers.health, codeId?: Buffer): { qr: string; subject: string } {
  const subject = `p-${serial++}`;
  return { qr: issuer.issueHealthCode({ subject, colour: 'green', ...(codeId === undefined ? {} : { codeId }) }), subject };
}

describe('verifier service (pool, HTTP, MQTT, audit in chDB)', () => {
  let data: Awaited<ReturnType<typeof createDataDir>>;
  let broker: Awaited<ReturnType<typeof startPlainBroker>>;
  let warehouse: Warehouse;
  let service: VerifierService;
  let addresses: VerifierAddresses;
  let scanner: MqttClient | undefined;
  const verifyUrl = () => `${addresses.httpUrl}/v1/verify`;

  beforeAll(async () => {
    data = await createDataDir('cityops-verifier-service-');
    broker = await startPlainBroker();
    warehouse = await openWarehouse({ backend: 'chdb', path: join(data.dir, 'warehouse') });
    await data.write('trust.json', trustEntries(issuers));
    await data.write('revocation.json', { codes: [], subjects: [] });
    await data.write('status.json', { entries: [] });
    await data.write('policies.json', { venues: { [CLINIC_1]: { kinds: ['eu-dcc'] } } });
    [gate, clinic, auditGate] = (await registerDevices(warehouse, [
      { id: 'gate-1', at: MALL_3 },
      { id: 'clinic-door', at: CLINIC_1 },
      { id: 'gate-audit', at: MALL_3 },
      { id: 'scanner-7', at: MALL_3 },
    ])) as [RegisteredDevice, RegisteredDevice, RegisteredDevice];
    service = createVerifierService(
      {
        http: { port: 0, maxBatchItems: 16 },
        mqtt: { url: broker.url, clientId: 'verifier-test' },
        trust: { source: data.path('trust.json'), refreshMs: 3_600_000 },
        revocation: { source: data.path('revocation.json'), refreshMs: 3_600_000 },
        status: { source: data.path('status.json'), refreshMs: 3_600_000 },
        policies: { source: data.path('policies.json'), refreshMs: 3_600_000 },
        pool: { threads: 2 },
        audit: { pseudonymKey: PSEUDONYM_KEY, flushIntervalMs: 20, retentionDays: 7 },
        // These tests drive a few scanners far past a door's rate (streams of requests, 600 audited
        // verdicts); the per-credential limit has its own tests (credential-throttle, verify-requesters).
        rates: { enabled: false },
      },
      { warehouse, logger: pino({ level: 'silent' }) },
    );
    addresses = await service.start();
  });

  afterAll(async () => {
    await scanner?.endAsync();
    await service?.stop();
    await service?.stop();
    await broker?.stop();
    await warehouse?.close();
    await data?.remove();
  });

  it('answers POST /v1/verify through the pool with a reason for every outcome', async () => {
    const cases: [unknown, string, string?][] = [
      [{ qr: freshCode().qr }, 'OK'],
      [{ qr: issuers.dcc.issueDcc({ payload: dccVaccination() }), venue: CLINIC_1 }, 'OK', clinic.basic],
      [{ qr: freshCode().qr }, 'POLICY_DENIED', clinic.basic],
      [{ qr: freshCode(issuers.rogue).qr }, 'UNKNOWN_KEY'],
      [{ qr: freshCode(issuers.siteOnly).qr }, 'KEY_NOT_ALLOWED_FOR_KIND'],
      [{ qr: issuers.health.issueHealthCode({ subject: 'p-1', colour: 'green', issuedAt: Date.now() - 7_200_000, validMinutes: 60 }) }, 'EXPIRED'],
      ...MALFORMED.map((m): [unknown, string] => [{ qr: m.qr }, m.reason]),
    ];
    const answers = await Promise.all(cases.map(([body, , from]) => post<Verdict>(verifyUrl(), body, from)));
    expect(answers.map((a) => a.status)).toEqual(cases.map(() => 200));
    expect(answers.map((a) => a.body.reason)).toEqual(cases.map(([, reason]) => reason));
    for (const a of answers) expect(REASON_CODES).toContain(a.body.reason);

    const invalid = await post(verifyUrl(), { qr: 42 });
    expect(invalid).toMatchObject({ status: 400, body: { code: 'VERIFIER_ERR_REQUEST_INVALID' } });
    expect((await post(verifyUrl(), { qr: 'x', venue: 'no spaces allowed' })).status).toBe(400);
  });

  it('rotates the trust list under a stream of requests: none fails, the next request sees the new list', async () => {
    const next = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });
    const codes = Array.from({ length: 600 }, (_, i) => ({ issuer: i % 2 === 0 ? 'old' : 'new', ...freshCode(i % 2 === 0 ? issuers.health : next) }));
    let answered = 0;
    let cursor = 0;
    const results: { issuer: string; status: number; reason: string }[] = [];
    // 24 clients, each posting one code after another, while the list changes twice under them.
    const clients = Array.from({ length: 24 }, async () => {
      while (cursor < codes.length) {
        const code = codes[cursor++]!;
        const { status, body } = await post<Verdict>(verifyUrl(), { qr: code.qr });
        results.push({ issuer: code.issuer, status, reason: body.reason });
        answered++;
      }
    });
    await vi.waitFor(() => expect(answered).toBeGreaterThanOrEqual(100), { interval: 2, timeout: 30_000 });
    // Overlap: old and new keys both trusted.
    await data.write('trust.json', [...trustEntries(issuers), next.trustEntry]);
    await service.reference.reload('trust');
    const overlap = await post<Verdict>(verifyUrl(), { qr: freshCode(next).qr });
    expect(overlap.body.reason).toBe('OK');
    await vi.waitFor(() => expect(answered).toBeGreaterThanOrEqual(300), { interval: 2, timeout: 30_000 });
    // The old key retired.
    await data.write('trust.json', [next.trustEntry, ...trustEntries(issuers).slice(1)]);
    await service.reference.reload('trust');
    const retired = await post<Verdict>(verifyUrl(), { qr: freshCode(issuers.health).qr });
    expect(retired.body).toMatchObject({ verdict: 'deny', reason: 'UNKNOWN_KEY' });
    await Promise.all(clients);

    expect(results).toHaveLength(600);
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(new Set(results.map((r) => r.reason))).toEqual(new Set(['OK', 'UNKNOWN_KEY']));
    // Old codes: allowed until the retirement; new codes: refused only before the overlap began.
    expect(results.filter((r) => r.issuer === 'old' && r.reason === 'OK').length).toBeGreaterThan(0);
    expect(results.filter((r) => r.issuer === 'new' && r.reason === 'OK').length).toBeGreaterThan(0);
    expect((await post<Verdict>(verifyUrl(), { qr: freshCode(next).qr })).body.reason).toBe('OK');
    expect((await post<Verdict>(verifyUrl(), { qr: freshCode(issuers.health).qr })).body.reason).toBe('UNKNOWN_KEY');
    // Keys were parsed per kid and trust version in each thread, not per request.
    const metrics = await (await fetch(`${addresses.httpUrl}/metrics`)).text();
    const parsed = Number(/^cityops_verifier_worker_keys_parsed (\d+)/m.exec(metrics)?.[1]);
    expect(parsed).toBeGreaterThan(0);
    expect(parsed).toBeLessThanOrEqual(2 * 3 * 2);
    // Restore the list the other tests expect.
    await data.write('trust.json', [...trustEntries(issuers), next.trustEntry]);
    await service.reference.reload('trust');
  });

  it('revokes a code, a subject and downgrades a colour on the next request, cache or not', async () => {
    const codeId = Buffer.from('a1b2c3d4e5f60718', 'hex');
    const revocable = freshCode(issuers.health, codeId);
    const person = freshCode();
    const traced = freshCode();
    for (const code of [revocable, person, traced]) {
      expect((await post<Verdict>(verifyUrl(), { qr: code.qr })).body.reason).toBe('OK');
    }
    // Asked again: answered from the cache.
    expect((await post<Verdict>(verifyUrl(), { qr: revocable.qr })).body.reason).toBe('OK');
    const hits = (await service.metrics.cacheLookups.get()).values.find((v) => v.labels.result === 'hit');
    expect(hits?.value).toBeGreaterThanOrEqual(1);

    const background = Array.from({ length: 200 }, () => post<Verdict>(verifyUrl(), { qr: freshCode().qr }));
    await data.write('revocation.json', { codes: [identifierHash(codeId.toString('hex'))], subjects: [identifierHash(person.subject)] });
    await data.write('status.json', { entries: [{ subject: identifierHash(traced.subject), colour: 'red', since: Date.now() + 1000 }] });
    await service.reference.reload();
    expect((await post<Verdict>(verifyUrl(), { qr: revocable.qr })).body).toMatchObject({ verdict: 'deny', reason: 'REVOKED', detail: 'code' });
    expect((await post<Verdict>(verifyUrl(), { qr: person.qr })).body).toMatchObject({ verdict: 'deny', reason: 'REVOKED', detail: 'subject' });
    expect((await post<Verdict>(verifyUrl(), { qr: traced.qr })).body).toMatchObject({ verdict: 'deny', reason: 'COLOUR_DOWNGRADED', colour: 'red', issuedColour: 'green' });
    const answers = await Promise.all(background);
    expect(answers.every((a) => a.status === 200 && a.body.reason === 'OK')).toBe(true);

    // The scanners' offline filter follows, with an ETag.
    const filterResponse = await fetch(`${addresses.httpUrl}/v1/revocation/filter`);
    const etag = filterResponse.headers.get('etag');
    const filter = bloomFilterFromBytes(Buffer.from(await filterResponse.arrayBuffer()));
    expect(filter.has(revocationFilterKey.code(identifierHash(codeId.toString('hex'))))).toBe(true);
    expect(filter.has(revocationFilterKey.subject(identifierHash(person.subject)))).toBe(true);
    expect(filter.has(revocationFilterKey.subject(identifierHash(traced.subject)))).toBe(false);
    expect((await fetch(`${addresses.httpUrl}/v1/revocation/filter`, { headers: { 'if-none-match': etag! } })).status).toBe(304);
  });

  it('answers batches in order, bounded in size', async () => {
    const items = [{ qr: freshCode().qr }, { qr: 'XX1:nope' }, { qr: freshCode(issuers.rogue).qr }, { qr: freshCode().qr, venue: MALL_3 }];
    const { status, body } = await post<{ results: Verdict[] }>(`${addresses.httpUrl}/v1/verify/batch`, { items, scanner: 'gate-1' });
    expect(status).toBe(200);
    expect(body.results.map((r) => r.reason)).toEqual(['OK', 'MALFORMED_PREFIX', 'UNKNOWN_KEY', 'OK']);
    // The clinic's door is judged by the clinic's policy: its registered venue.
    const atClinic = await post<{ results: Verdict[] }>(`${addresses.httpUrl}/v1/verify/batch`, { items: [{ qr: freshCode().qr }] }, clinic.basic);
    expect(atClinic.body.results.map((r) => r.reason)).toEqual(['POLICY_DENIED']);
    const tooMany = await post(`${addresses.httpUrl}/v1/verify/batch`, { items: Array.from({ length: 17 }, () => ({ qr: 'x' })) });
    expect(tooMany).toMatchObject({ status: 413, body: { code: 'VERIFIER_ERR_BATCH_TOO_LARGE' } });
  });

  it('answers scanners over MQTT request/response', async () => {
    scanner = await connectAsync(broker.url, { clientId: 'scanner-7', protocolVersion: 4, reconnectPeriod: 0 });
    await scanner.subscribeAsync(topics.verifyResponse('scanner-7'), { qos: 1 });
    const replies = new Map<unknown, Record<string, unknown>>();
    scanner.on('message', (_topic, payload) => {
      const reply = JSON.parse(payload.toString()) as Record<string, unknown>;
      replies.set(reply.id, reply);
    });
    const code = freshCode();
    await scanner.publishAsync(topics.verifyRequest('scanner-7'), JSON.stringify({ id: 'r-1', qr: code.qr, venue: MALL_3 }), { qos: 1 });
    await scanner.publishAsync(topics.verifyRequest('scanner-7'), JSON.stringify({ id: 2, qr: freshCode(issuers.rogue).qr }), { qos: 1 });
    await scanner.publishAsync(topics.verifyRequest('scanner-7'), JSON.stringify({ id: 'r-3', qr: 7 }), { qos: 1 });
    await scanner.publishAsync(topics.verifyRequest('scanner-7'), 'not json', { qos: 1 });
    await vi.waitFor(() => expect(replies.size).toBe(3));
    expect(replies.get('r-1')).toMatchObject({ id: 'r-1', verdict: 'allow', reason: 'OK', kind: 'health-code' });
    expect(replies.get(2)).toMatchObject({ verdict: 'deny', reason: 'UNKNOWN_KEY' });
    expect(replies.get('r-3')).toMatchObject({ verdict: 'deny', reason: 'MALFORMED_REQUEST', kind: null });
    await vi.waitFor(async () => {
      const dropped = (await service.metrics.mqttRequests.get()).values.find((v) => v.labels.outcome === 'dropped');
      expect(dropped?.value).toBe(1);
    });

    // Verdicts given offline arrive later, with the subject's digest only; the upload is acknowledged.
    // Two hours ago, so that they are inside the audit's retention on any date the suite runs.
    const offline = {
      id: 'upload-1',
      events: [
        { at: OFFLINE_AT, venue: MALL_3, kind: 'health-code', verdict: 'allow', reason: 'OK', issuer: 'city-health', subjectHash: identifierHash('p-offline') },
        { at: OFFLINE_AT + 60_000, venue: MALL_3, kind: null, verdict: 'deny', reason: 'MALFORMED_BASE45' },
        { at: 'yesterday', verdict: 'allow', reason: 'OK' },
      ],
    };
    await scanner.publishAsync(topics.verifyEvents('scanner-7'), JSON.stringify(offline), { qos: 1 });
    await vi.waitFor(() => expect(replies.get('upload-1')).toEqual({ id: 'upload-1', accepted: 2, refused: 1, duplicates: 0 }));
  });

  it('audits every verdict with a keyed pseudonym, never the subject or the code, kept for the configured days', async () => {
    const code = freshCode();
    await post(verifyUrl(), { qr: code.qr, venue: MALL_3, scanner: 'gate-audit' }, auditGate.basic);
    await service.audit!.flush();
    const rows = await warehouse.query<Record<string, unknown>>('SELECT * FROM verification_events ORDER BY at');
    expect(rows.length).toBeGreaterThan(600);
    const mine = rows.filter((r) => r.scanner === 'gate-audit');
    expect(mine).toEqual([
      expect.objectContaining({
        venue: MALL_3,
        kind: 'health-code',
        verdict: 'allow',
        reason: 'OK',
        issuer: 'city-health',
        pseudonym: createHmac('sha256', PSEUDONYM_KEY).update(createHash('sha256').update(code.subject).digest('hex')).digest('hex'),
        transport: 'http',
        offline: false,
        stale: false,
      }),
    ]);
    const text = JSON.stringify(rows);
    expect(text).not.toContain(code.subject);
    expect(text).not.toMatch(/"p-1\d{5}"/);
    expect(text).not.toContain(code.qr.slice(5, 40));
    expect(rows.filter((r) => r.transport === 'mqtt').map((r) => r.scanner)).toEqual(expect.arrayContaining(['scanner-7']));
    const offline = rows.filter((r) => r.offline === true);
    expect(offline).toEqual([
      expect.objectContaining({ at: dateTime64(OFFLINE_AT), scanner: 'scanner-7', transport: 'offline', reason: 'OK', pseudonym: pseudonym(PSEUDONYM_KEY, identifierHash('p-offline')) }),
      expect.objectContaining({ at: dateTime64(OFFLINE_AT + 60_000), kind: '', reason: 'MALFORMED_BASE45', pseudonym: '' }),
    ]);
    for (const r of rows) expect(REASON_CODES).toContain(r.reason);

    const [table] = await warehouse.query<{ engine_full: string }>("SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'verification_events'");
    expect(table?.engine_full).toMatch(/TTL toDateTime\(at\) \+ toIntervalDay\((_CAST\()?7/);
    const changes = await warehouse.query<{ detail: string }>("SELECT detail FROM schema_changes WHERE object = 'verification_events'");
    expect(changes.map((c) => c.detail)).toEqual(['retention 30 -> 7 days']);
    expect((await service.metrics.auditEvents.get()).values.find((v) => v.labels.outcome === 'written')?.value).toBe(rows.length);
  });

  it('exposes metrics by verdict and reason, latency, pool, cache and data ages, and probes', async () => {
    const text = await (await fetch(`${addresses.httpUrl}/metrics`)).text();
    for (const name of [
      'cityops_verifier_verdicts_total',
      'cityops_verifier_verify_seconds_bucket',
      'cityops_verifier_pool_batch_items_bucket',
      'cityops_verifier_pool_queue_batches',
      'cityops_verifier_pool_utilization',
      'cityops_verifier_pool_threads 2',
      'cityops_verifier_trust_age_seconds',
      'cityops_verifier_revocation_age_seconds',
      'cityops_verifier_status_age_seconds',
      'cityops_verifier_trust_keys',
      'cityops_verifier_cache_lookups_total',
      'cityops_verifier_audit_events_total',
      'cityops_verifier_reference_reloads_total{source="trust",outcome="changed"}',
      'cityops_verifier_process_cpu_seconds_total',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/cityops_verifier_verdicts_total\{verdict="deny",reason="REVOKED",kind="health-code",transport="http"\} [1-9]/);
    // Labels are closed sets: no subject, venue or scanner id.
    expect(text).not.toMatch(/p-1\d{5}|mall-3|gate-1|scanner-7/);
    expect((await fetch(`${addresses.httpUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${addresses.httpUrl}/readyz`)).status).toBe(200);
  });
});
