import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BASE45_ALPHABET, createTokenAuthenticator } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { buildHttpApi } from '../src/http-api.ts';
import { createRequesterDirectory } from '../src/requester.ts';
import { REASON_CODES } from '../src/reasons.ts';
import type { Verdict } from '../src/verdict.ts';
import { createVerifierService, type VerifierService } from '../src/verifier-service.ts';
import { createTestIssuers, dccVaccination, PSEUDONYM_KEY, trustEntries } from './code-fixtures.ts';
import { createDataDir } from './service-harness.ts';

/**
 * Hostile bodies on the verifier's HTTP routes, through `app.inject()` (no network): a verdict with a
 * documented reason (never INTERNAL_ERROR or MALFORMED_INPUT, which would mean a throw nobody foresaw),
 * or a 4xx whose JSON body has a `code`; never a 5xx. Injection text is audited as data.
 */

const MAX_QR_CHARS = 4296;
const MAX_BATCH = 16;
const issuers = createTestIssuers();
const logger = pino({ level: 'silent' });

const INJECTIONS = [
  "'",
  "'; DROP TABLE verification_events --",
  "1' OR '1'='1",
  '{venue:String}',
  "\\'; DROP TABLE verification_events; --",
  '\0',
  "\u2019; DROP TABLE verification_events; --",
  "HC1:'; DROP TABLE verification_events --",
  "CHC1:' OR 1=1 --",
];

/** Venue and scanner ids that pass their patterns yet read like SQL: stored, they must stay text. */
const SQL_LOOKING_VENUES = ['v--DROP-TABLE-verification_events', 'v/--/x', 'v:1/OR/1.1', 'v.--'];
const SQL_LOOKING_SCANNER = 'sc--DROP-TABLE-verification_events';

const validCodes = [
  issuers.health.issueHealthCode({ subject: 'p-1', colour: 'green' }),
  issuers.site.issueSiteCode({ venue: 'v-1', place: 'huangpu/nanjing-east/g001', risk: 'low' }),
  issuers.dcc.issueDcc({ payload: dccVaccination() }),
  issuers.rogue.issueHealthCode({ subject: 'p-2', colour: 'red' }),
];

const mutatedCode = fc
  .tuple(fc.constantFrom(...validCodes), fc.array(fc.tuple(fc.nat(), fc.constantFrom(...BASE45_ALPHABET, 'a', '\0', '"', '\u{1F600}')), { minLength: 1, maxLength: 3 }))
  .map(([qr, edits]) => {
    const chars = [...qr];
    for (const [at, c] of edits) chars[5 + (at % (chars.length - 5))] = c;
    return chars.join('');
  });

const hostileQr = fc.oneof(
  fc.constantFrom(...validCodes, ...INJECTIONS),
  mutatedCode,
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.tuple(fc.constantFrom('HC1:', 'CHC1:', 'CSC1:'), fc.string({ unit: fc.constantFrom(...BASE45_ALPHABET), maxLength: 400 })).map(([p, s]) => p + s),
  fc.integer({ min: MAX_QR_CHARS - 2, max: MAX_QR_CHARS * 2 + 2 }).map((n) => `HC1:${'0'.repeat(n)}`),
);

const hostileId = fc.oneof(
  fc.constantFrom(...INJECTIONS, ...SQL_LOOKING_VENUES, 'clinic-1', 'v-1', '', ' ', 'a'.repeat(201)),
  // Names an object lookup would find on every object: the policies, trust and caches must not.
  fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty', 'prototype'),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,30}$/),
);

/** Any JSON-ish value in a field: wrong types, nulls, nested objects. */
const wrongType = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom<unknown>(42, null, true, [], {}, ['HC1:'], { qr: 'HC1:' }));

const item = fc.record(
  { qr: fc.oneof(hostileQr, hostileQr, wrongType), venue: fc.oneof(hostileId, wrongType), extra: wrongType },
  { requiredKeys: [] },
);

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

function checked(response: { statusCode: number; body: string }, what: string): Reply {
  const { statusCode: status } = response;
  expect(status, `${what} -> ${status} ${response.body.slice(0, 300)}`).toBeLessThan(500);
  const body = response.body === '' ? {} : (JSON.parse(response.body) as Record<string, unknown>);
  if (status >= 400) {
    expect(typeof body.code, `${what} -> ${status} ${response.body.slice(0, 300)}`).toBe('string');
    expect(body.code as string).toMatch(/^[A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+$/);
  }
  return { status, body };
}

/** A verdict's reason is documented and says the verifier understood what went wrong. */
function expectKnownReason(verdict: Partial<Verdict>, what: string): void {
  expect(REASON_CODES, what).toContain(verdict.reason);
  expect(['INTERNAL_ERROR', 'MALFORMED_INPUT', 'OVERLOADED'], `${what}: ${JSON.stringify(verdict)}`).not.toContain(verdict.reason);
  expect(['allow', 'deny']).toContain(verdict.verdict);
}

describe('verifier HTTP API under hostile bodies', () => {
  let data: Awaited<ReturnType<typeof createDataDir>>;
  let warehouse: Warehouse;
  let service: VerifierService;
  let app: ReturnType<typeof buildHttpApi>;
  /** Verdicts answered (each is one audit row). */
  let verdicts = 0;

  beforeAll(async () => {
    data = await createDataDir('cityops-verifier-hostile-');
    warehouse = await openWarehouse({ backend: 'chdb', path: join(data.dir, 'warehouse') });
    await data.write('trust.json', trustEntries(issuers));
    await data.write('revocation.json', { codes: [], subjects: [] });
    await data.write('policies.json', { venues: { 'clinic-1': { kinds: ['eu-dcc'] } } });
    service = createVerifierService(
      {
        http: { port: 0, maxBatchItems: MAX_BATCH },
        trust: { source: data.path('trust.json'), refreshMs: 3_600_000 },
        revocation: { source: data.path('revocation.json'), refreshMs: 3_600_000 },
        policies: { source: data.path('policies.json'), refreshMs: 3_600_000 },
        pool: { threads: 1 },
        audit: { pseudonymKey: PSEUDONYM_KEY, flushIntervalMs: 20, retentionDays: 7 },
      },
      { warehouse, logger },
    );
    await service.start();
    // The routes as the verifier builds them, over the running service's engine (pool, cache, audit).
    // Open mode: hostile bodies reach the routes without credentials (who asks: verify-requesters.test.ts).
    app = buildHttpApi(
      { maxBatchItems: MAX_BATCH, maxQrChars: MAX_QR_CHARS },
      {
        engine: { verify: (request) => service.verify(request) },
        reference: service.reference,
        metrics: service.metrics,
        logger,
        ready: () => true,
        requesters: createRequesterDirectory('open', { tokens: createTokenAuthenticator([]) }),
      },
    );
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await service?.stop();
    await warehouse?.close();
    await data?.remove();
  });

  async function post(url: string, payload: string, contentType = 'application/json'): Promise<Reply> {
    return checked(await app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload }), `${url} ${payload.slice(0, 200)}`);
  }

  it('POST /v1/verify: any body answers a verdict with a documented reason, or 400 with a code', async () => {
    const reasons = new Set<string>();
    // A body naming a scanner is refused here (403: open mode's anonymous requester is no scanner,
    // issue 16), so most bodies name none and reach the decoder.
    const body = fc.oneof(
      fc.record({ qr: hostileQr, venue: hostileId }, { requiredKeys: ['qr'] }),
      fc.record({ qr: hostileQr, venue: hostileId, scanner: hostileId }, { requiredKeys: ['qr'] }),
      item,
      item,
      wrongType,
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const text = JSON.stringify(b) ?? 'null';
        const { status, body: reply } = await post('/v1/verify', text);
        if (status !== 200) return;
        verdicts++;
        expectKnownReason(reply, text.slice(0, 200));
        reasons.add(reply.reason as string);
      }),
      { numRuns: 250 },
    );
    for (const reason of ['MALFORMED_PREFIX', 'MALFORMED_BASE45']) expect(reasons).toContain(reason);
  });

  it('POST /v1/verify: broken JSON, wrong content types and huge bodies answer 4xx with a code', async () => {
    const raw = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 100 }),
      fc.constantFrom('', '{', '{"qr":', '{"qr":"HC1:"', '[]', 'null', '{"qr":"HC1:","qr":"CHC1:"}', '{"__proto__":{"qr":"x"}}', '{"constructor":{"prototype":{"qr":1}}}'),
      fc.nat({ max: 200_000 }).map((n) => `{"qr":"${'['.repeat(n % 50_000)}`),
    );
    const type = fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'multipart/form-data');
    await fc.assert(
      fc.asyncProperty(raw, type, async (payload, contentType) => {
        const { status, body } = await post('/v1/verify', payload, contentType);
        if (status === 200) {
          verdicts++;
          expectKnownReason(body, payload.slice(0, 100));
        }
      }),
      { numRuns: 150 },
    );
    const { status } = await post('/v1/verify', JSON.stringify({ qr: 'x'.repeat(2 * 1024 * 1024) }));
    expect(status).toBe(413);
  });

  it('POST /v1/verify/batch: any list answers one documented verdict per item, or 4xx with a code', async () => {
    const body = fc.oneof(
      fc.record({ items: fc.array(item, { maxLength: MAX_BATCH + 4 }), scanner: fc.oneof(hostileId, wrongType) }, { requiredKeys: ['items'] }),
      fc.record({ items: fc.array(fc.record({ qr: hostileQr, venue: fc.constantFrom('clinic-1', 'v-1') }, { requiredKeys: ['qr'] }), { maxLength: MAX_BATCH }) }),
      wrongType,
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const text = JSON.stringify(b) ?? 'null';
        const { status, body: reply } = await post('/v1/verify/batch', text);
        if (status === 413) expect(reply.code).toBe('VERIFIER_ERR_BATCH_TOO_LARGE');
        if (status !== 200) return;
        const results = reply.results as Verdict[];
        expect(results).toHaveLength((b as { items: unknown[] }).items.length);
        verdicts += results.length;
        for (const v of results) expectKnownReason(v, text.slice(0, 200));
      }),
      { numRuns: 120 },
    );
  });

  it('GET /v1/revocation/filter: any If-None-Match answers 200 or 304', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('"revocation-0"', '*', '""', 'W/"x"')), async (tag) => {
        const response = await app.inject({ method: 'GET', url: '/v1/revocation/filter', headers: { 'if-none-match': tag } });
        expect([200, 304]).toContain(response.statusCode);
      }),
      { numRuns: 50 },
    );
  });

  it('unknown and mistyped paths answer 404 with a code, never fastify\'s codeless one', async () => {
    const path = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }).map((s) => `/v1/verify/${s}`),
      fc.constantFrom('/v1/verify/', '/v1/verif', '/v1//verify', '/v1/verify/batch/', '/v1/revocation', '/', '/%zz', '/v1/verify/..'),
    );
    await fc.assert(
      fc.asyncProperty(path, fc.constantFrom('GET' as const, 'POST' as const, 'PUT' as const), async (raw, method) => {
        const url = raw.replace(/[?#]/g, '');
        let response;
        try {
          response = await app.inject({ method, url, payload: method === 'GET' ? undefined : { qr: validCodes[0] } });
        } catch {
          return; // light-my-request refuses a URL it cannot send: not a request the server sees
        }
        const { status, body } = checked(response, `${method} ${url.slice(0, 100)}`);
        if (status === 200) {
          verdicts += Array.isArray(body.results) ? body.results.length : 1;
        }
      }),
      { numRuns: 100 },
    );
  });

  it('SQL injection gets nowhere: tables unchanged, one audit row per verdict, named venues and scanners never stored', async () => {
    await service.audit!.flush();
    const tables = async () => (await warehouse.query<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name')).map((t) => t.name);
    const count = async () => Number((await warehouse.query<{ n: string }>('SELECT count() AS n FROM verification_events'))[0]?.n ?? 0);
    await vi.waitFor(async () => expect(await count()).toBe(verdicts), { timeout: 10_000 });
    const tablesBefore = await tables();
    let answered = 0;
    for (const text of INJECTIONS) {
      // In the QR text: a malformed code, audited like any other verdict.
      const { status, body } = await post('/v1/verify', JSON.stringify({ qr: text }));
      expect(status).toBe(200);
      expect(body.reason).toMatch(/^MALFORMED_/);
      answered++;
      // In the venue or the scanner: refused by the pattern before anything runs.
      expect((await post('/v1/verify', JSON.stringify({ qr: validCodes[0], venue: text }))).status).toBe(400);
      expect((await post('/v1/verify', JSON.stringify({ qr: validCodes[0], scanner: text }))).status).toBe(400);
      expect((await post('/v1/verify/batch', JSON.stringify({ items: [{ qr: validCodes[0], venue: text }] }))).status).toBe(400);
    }
    for (const venue of SQL_LOOKING_VENUES) {
      // A venue that passes its pattern reaches the policy lookup only (open mode: recorded for none).
      const { status } = await post('/v1/verify', JSON.stringify({ qr: validCodes[0], venue }));
      expect(status).toBe(200);
      answered++;
      // A scanner named in the body is not who asks: refused, nothing recorded (issue 16).
      expect(await post('/v1/verify', JSON.stringify({ qr: validCodes[0], venue, scanner: SQL_LOOKING_SCANNER }))).toMatchObject({
        status: 403,
        body: { code: 'VERIFIER_ERR_VENUE_MISMATCH' },
      });
    }
    verdicts += answered;
    await service.audit!.flush();
    await vi.waitFor(async () => expect(await count()).toBe(verdicts), { timeout: 10_000 });
    expect(await tables()).toEqual(tablesBefore);
    const stored = await warehouse.query<{ venue: string; scanner: string }>("SELECT venue, scanner FROM verification_events WHERE venue != '' OR scanner != ''");
    expect(stored).toEqual([]);
  });
});
