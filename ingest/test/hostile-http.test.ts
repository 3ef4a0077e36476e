import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTelemetryCodec, type TelemetryBatch } from '@cityops/protocol';
import { buildHttpApi } from '../src/index.ts';
import { startHarness, type Harness } from './ingest-harness.ts';

/**
 * Hostile parameters on every ingest HTTP route, through `app.inject()` (no network): any value ends
 * in a 2xx, or a 4xx whose JSON body has a `code`; never a 5xx. SQL injection text in any string
 * parameter changes no table and, where it is stored at all, is stored as the data it is.
 */

const ADMIN = 'test-admin-token-0123456789';
const MAX_PAYLOAD = 64 * 1024;
const codec = createTelemetryCodec();

/** Injection attempts against ClickHouse SQL and its `{name:Type}` parameters. */
const INJECTIONS = [
  "'",
  '"',
  '`',
  "'; DROP TABLE readings --",
  "'; DROP TABLE devices; --",
  "1' OR '1'='1",
  "' OR 1=1 --",
  "gw-1' UNION ALL SELECT name, '', '', 0, 0, 0, '', '', '', '', 0, 0, 0 FROM system.tables --",
  '{device:String}',
  '{limit:UInt32}',
  "{from:Int64}'); DROP TABLE readings; --",
  '\\',
  "\\'; DROP TABLE readings; --",
  '\0',
  "\u2019; DROP TABLE readings; --", // a typographic apostrophe
  "\uff07 OR 1=1", // a full-width apostrophe
  '1; TRUNCATE TABLE readings',
  'sleep(3)',
  "1 FORMAT JSONEachRow SETTINGS max_threads=1 --",
  '$1',
  '?',
  '%27%3B%20DROP%20TABLE%20readings%3B%20--',
];

const hostileString = fc.oneof(
  fc.constantFrom(...INJECTIONS),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/),
  fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty'),
  fc.constantFrom('', ' ', '0', '-1', '1e3', '999999999999999', '253402300800000', '0000-01-01T00:00:00Z', '2026-02-30T25:61:00Z', '9999-12-31T23:59:59.999+14:00', 'NaN', 'Infinity'),
  fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }).map(String),
  fc.integer({ min: 70, max: 5000 }).map((n) => 'x'.repeat(n)),
);

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** The reply; fails unless it is a 2xx/3xx, or a 4xx whose JSON body carries a code and a message. */
function checked(response: { statusCode: number; body: string; headers: Record<string, unknown> }, what: string): Reply {
  const { statusCode: status } = response;
  expect(status, `${what} -> ${status} ${response.body.slice(0, 300)}`).toBeLessThan(500);
  let body: Record<string, unknown> = {};
  if (response.body !== '' && String(response.headers['content-type']).includes('json')) body = JSON.parse(response.body) as Record<string, unknown>;
  if (status >= 400) {
    expect(typeof body.code, `${what} -> ${status} ${response.body.slice(0, 300)}`).toBe('string');
    expect(body.code as string).toMatch(/^[A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+$/);
    expect(typeof body.message).toBe('string');
  }
  return { status, body };
}

/** The first reading's sensor of a stored JSON payload (other dead letters are not JSON). */
function sensorOf(payload: string): unknown {
  try {
    return (JSON.parse(payload) as { readings?: { sensor?: unknown }[] }).readings?.[0]?.sensor;
  } catch {
    return undefined;
  }
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

describe('ingest HTTP API under hostile parameters', () => {
  let h: Harness;
  let app: ReturnType<typeof buildHttpApi>;
  let gatewaySecret: string;
  let scannerSecret: string;

  async function tableCounts(): Promise<{ tables: string[]; readings: number; devices: number }> {
    const tables = await h.warehouse.query<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name');
    const [r] = await h.warehouse.query<{ n: string | number }>('SELECT count() AS n FROM readings');
    const [d] = await h.warehouse.query<{ n: string | number }>('SELECT count() AS n FROM devices FINAL');
    return { tables: tables.map((t) => t.name), readings: Number(r?.n ?? 0), devices: Number(d?.n ?? 0) };
  }

  beforeAll(async () => {
    h = await startHarness({ telemetry: { maxPayloadBytes: MAX_PAYLOAD }, wal: { fsync: false } });
    gatewaySecret = await h.provision('gw-hostile', 'gateway', 'huangpu/nanjing-east/g001');
    scannerSecret = await h.provision('sc-hostile', 'scanner', 'huangpu/nanjing-east/g001');
    // The routes as ingest builds them, over the running service's registry, pipeline and warehouse.
    app = buildHttpApi(
      { maxPayloadBytes: MAX_PAYLOAD, adminToken: ADMIN },
      {
        registry: h.service.registry,
        sensors: h.service.sensors,
        pipeline: h.service.pipeline,
        warehouse: h.warehouse,
        metrics: h.service.metrics,
        logger: pino({ level: 'silent' }),
        ready: () => Promise.resolve(true),
      },
    );
    await app.ready();
    const seed: TelemetryBatch = { boot: 1, seq: 1, readings: [{ sensor: 's-1', metric: 'pm25', ts: Date.now() - 1000, value: 12 }] };
    const res = await app.inject({ method: 'POST', url: '/v1/telemetry', headers: { authorization: basic('gw-hostile', gatewaySecret), 'content-type': 'application/msgpack' }, payload: codec.encode(seed) });
    expect(res.statusCode).toBe(202);
    await vi.waitFor(async () => expect((await tableCounts()).readings).toBe(1));
  });

  afterAll(async () => {
    await app?.close();
    await h?.close();
  });

  it('GET /v1/readings: any query answers 200 with rows matching its filters, or 400 with a code', async () => {
    let ok = 0;
    // Half the values valid, so that queries also reach the warehouse and their filters can be checked.
    const either = (valid: fc.Arbitrary<string>) => fc.oneof(valid, hostileString);
    const time = fc.oneof(fc.integer({ min: 0, max: 253402300799999 }).map(String), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()));
    const params = fc.record(
      {
        device: either(fc.constantFrom('gw-hostile', 'gw-other')),
        metric: either(fc.constantFrom('pm25', 'noise')),
        from: either(time),
        to: either(time),
        limit: either(fc.integer({ min: 1, max: 10_000 }).map(String)),
        levle: hostileString,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(params, async (query) => {
        const search = new URLSearchParams(query as Record<string, string>).toString();
        const { status, body } = checked(await app.inject({ method: 'GET', url: `/v1/readings?${search}` }), search);
        if (status !== 200) return;
        ok++;
        const rows = body.readings as { device: string; metric: string }[];
        for (const row of rows) {
          if (query.device !== undefined) expect(row.device).toBe(query.device);
          if (query.metric !== undefined) expect(row.metric).toBe(query.metric);
        }
      }),
      { numRuns: 200 },
    );
    expect(ok).toBeGreaterThan(0);
  });

  it('GET /v1/readings: raw query strings (bad escapes, repeated keys, NUL) answer 200 or 400 with a code', async () => {
    const raw = fc.oneof(
      fc.constantFrom('device=%zz', 'device=%', 'device=%00', 'limit=1&limit=2', 'device=a&device=b', 'limit[]=1', 'limit=0x10', 'from=1&from=2', '&&&=', '=x', 'device', 'to=%E2%80%AE'),
      fc.string({ unit: fc.constantFrom('=', '&', '%', 'a', '0', '+', ';', '[', ']', '#', '\'', '1'), maxLength: 40 }),
    );
    await fc.assert(
      fc.asyncProperty(raw, async (q) => {
        checked(await app.inject({ method: 'GET', url: `/v1/readings?${q}` }), q);
      }),
      { numRuns: 150 },
    );
  });

  it('POST /v1/telemetry: any body, content type and credentials answer 2xx or 4xx with a code', async () => {
    const valid = (seq: number): Buffer =>
      codec.encode({ boot: 7, seq, readings: [{ sensor: 's-1', metric: 'pm25', ts: Date.now() - 500, value: seq }] });
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
      fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      fc.tuple(fc.nat({ max: 1_000_000 }), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([seq, at, byte]) => {
        const b = valid(seq);
        b[at % b.length] = byte;
        return b;
      }),
      fc.record({ sensor: hostileString, metric: hostileString, ts: fc.oneof(fc.integer(), fc.double()), value: fc.double() }).map((r) =>
        Buffer.from(JSON.stringify({ boot: 9, seq: 9, readings: [r] })),
      ),
      fc.constant(Buffer.alloc(MAX_PAYLOAD + 1, 0x7b)),
      fc.constant(Buffer.alloc(MAX_PAYLOAD * 2 + 1, 0x7b)), // beyond the body limit: 413 before the codec
      fc.constant(Buffer.alloc(0)),
    );
    const contentType = fc.constantFrom(
      'application/json',
      'application/msgpack',
      'application/x-msgpack',
      'application/octet-stream',
      'application/json; charset=utf-16',
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
      '',
      'application/json\u0000',
    );
    const authorization = fc.oneof(
      fc.constant(basic('gw-hostile', gatewaySecret)),
      fc.constant(basic('sc-hostile', scannerSecret)),
      fc.tuple(hostileString, hostileString).map(([id, secret]) => basic(id, secret)),
      fc.constantFrom('Basic', 'Basic ', 'Basic !!!', 'Basic Og==', `Bearer ${ADMIN}`, 'basic Z3c6eA==', `Basic ${'A'.repeat(9000)}`),
    );
    await fc.assert(
      fc.asyncProperty(body, contentType, authorization, async (payload, type, auth) => {
        const headers: Record<string, string> = { authorization: auth };
        if (type !== '') headers['content-type'] = type;
        let response;
        try {
          response = await app.inject({ method: 'POST', url: '/v1/telemetry', headers, payload });
        } catch (err) {
          // light-my-request refuses a header value it cannot send (a NUL): not a request the server sees.
          if ((err as { code?: string }).code === 'ERR_INVALID_CHAR') return;
          throw err;
        }
        const { status, body: reply } = checked(response, `${type} ${auth.slice(0, 40)} ${payload.length} bytes`);
        if (status === 400 && reply.storedAs === 'dead_letter') expect(reply.code).toMatch(/^(PROTOCOL|INGEST)_ERR_/);
      }),
      { numRuns: 200 },
    );
  });

  it('POST /v1/devices and DELETE /v1/devices/{id}: any body, id and token answer 2xx or 4xx with a code', async () => {
    const deviceBody = fc.oneof(
      fc.record({ id: hostileString, kind: fc.oneof(fc.constantFrom('gateway', 'scanner', 'service'), hostileString), place: hostileString }, { requiredKeys: [] }),
      fc.record({ id: fc.stringMatching(/^fz-[a-z0-9]{1,12}$/), kind: fc.constantFrom('gateway', 'scanner', 'service'), place: fc.oneof(hostileString, fc.constant('a/b/c')) }),
      fc.jsonValue({ maxDepth: 3 }),
    );
    const token = fc.constantFrom(`Bearer ${ADMIN}`, `Bearer ${ADMIN}x`, 'Bearer', ADMIN, '', `Basic ${ADMIN}`);
    await fc.assert(
      fc.asyncProperty(deviceBody, token, async (body, auth) => {
        const headers = { 'content-type': 'application/json', ...(auth === '' ? {} : { authorization: auth }) };
        const text = JSON.stringify(body) ?? 'null';
        const { status } = checked(await app.inject({ method: 'POST', url: '/v1/devices', headers, payload: text }), text.slice(0, 200));
        if (auth !== `Bearer ${ADMIN}`) expect(status).toBe(401);
      }),
      { numRuns: 150 },
    );
    await fc.assert(
      fc.asyncProperty(hostileString, token, fc.boolean(), async (id, auth, encode) => {
        const headers = auth === '' ? {} : { authorization: auth };
        const path = encode ? encodeURIComponent(id) : id.replace(/[?#]/g, '');
        let response;
        try {
          response = await app.inject({ method: 'DELETE', url: `/v1/devices/${path}`, headers });
        } catch (err) {
          if ((err as { code?: string }).code === 'ERR_UNESCAPED_CHARACTERS' || (err as Error).name === 'TypeError') return;
          throw err;
        }
        const { status } = checked(response, `DELETE ${path.slice(0, 80)}`);
        // 414: an id beyond fastify's maxParamLength, 404: one with a '/' (or a '\\' read as one): never the route.
        if (auth !== `Bearer ${ADMIN}`) expect([401, 404, 414]).toContain(status);
      }),
      { numRuns: 150 },
    );
  });

  it('the sensor routes (issue 17): any id, sensor, body and token answer 2xx or 4xx with a code', async () => {
    const token = fc.constantFrom(`Bearer ${ADMIN}`, `Bearer ${ADMIN}x`, '', `Basic ${ADMIN}`);
    const device = fc.oneof(fc.constant('gw-hostile'), hostileString);
    const sensorsBody = fc.oneof(
      fc.record({ sensors: fc.array(fc.record({ id: hostileString, metric: hostileString }, { requiredKeys: [] }), { maxLength: 5 }), maxSensors: fc.oneof(fc.integer(), fc.double(), hostileString) }, { requiredKeys: [] }),
      fc.jsonValue({ maxDepth: 3 }),
    );
    await fc.assert(
      fc.asyncProperty(device, hostileString, sensorsBody, token, fc.constantFrom('GET', 'POST', 'DELETE'), async (id, sensor, body, auth, method) => {
        const headers = { ...(auth === '' ? {} : { authorization: auth }), ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) };
        const url = `/v1/devices/${encodeURIComponent(id)}/sensors${method === 'DELETE' ? `/${encodeURIComponent(sensor)}` : ''}`;
        const payload = method === 'POST' ? (JSON.stringify(body) ?? 'null') : undefined;
        const { status } = checked(await app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) }), `${method} ${url.slice(0, 120)} ${payload?.slice(0, 120) ?? ''}`);
        if (auth !== `Bearer ${ADMIN}`) expect([401, 404, 414]).toContain(status);
      }),
      { numRuns: 200 },
    );
    // Whatever was declared, the device's set stays within its cap.
    const listed = h.service.sensors.list('gw-hostile');
    expect(listed.active + listed.decommissioned).toBeLessThanOrEqual(listed.cap);
  });

  it('SQL injection in every string parameter gets nowhere: tables and rows unchanged, text kept as data', async () => {
    // What the fuzzing above accepted is written first, so that the counts below compare like with like.
    await vi.waitFor(() => expect(h.service.pipeline.writer().load()).toBe(0), { timeout: 10_000 });
    const before = await tableCounts();
    const schemaDeadLetters = "SELECT payload FROM dead_letters WHERE device = 'gw-hostile' AND reason = 'PROTOCOL_ERR_SCHEMA'";
    const deadBefore = (await h.warehouse.query(schemaDeadLetters)).length;
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    let deadLetters = 0;
    for (const text of INJECTIONS) {
      const q = encodeURIComponent(text);
      for (const name of ['device', 'metric', 'from', 'to', 'limit']) {
        const { status } = checked(await app.inject({ method: 'GET', url: `/v1/readings?${name}=${q}` }), `${name}=${text}`);
        expect(status, `${name}=${text}`).toBe(400);
      }
      for (const body of [{ id: text, kind: 'gateway', place: 'a/b/c' }, { id: 'fz-ok', kind: text, place: 'a/b/c' }, { id: 'fz-ok', kind: 'gateway', place: text }]) {
        const { status } = checked(await app.inject({ method: 'POST', url: '/v1/devices', headers: admin, payload: JSON.stringify(body) }), JSON.stringify(body));
        expect(status).toBe(400);
      }
      const { status: deleted } = checked(await app.inject({ method: 'DELETE', url: `/v1/devices/${q}`, headers: { authorization: `Bearer ${ADMIN}` } }), `DELETE ${text}`);
      expect(deleted, `DELETE ${text}`).toBe(401); // unknown device: nothing revoked
      const { status: unknown } = checked(
        await app.inject({ method: 'POST', url: '/v1/telemetry', headers: { authorization: basic(text, text), 'content-type': 'application/json' }, payload: '{}' }),
        `telemetry as ${text}`,
      );
      expect(unknown).toBe(401);
      // An authenticated gateway sending the text in its fields: refused by the schema, kept as a dead letter.
      const payload = JSON.stringify({ boot: 1, seq: 2, readings: [{ sensor: text, metric: text, ts: Date.now(), value: 1 }] });
      const { status: dead, body } = checked(
        await app.inject({ method: 'POST', url: '/v1/telemetry', headers: { authorization: basic('gw-hostile', gatewaySecret), 'content-type': 'application/json' }, payload }),
        `telemetry with ${text}`,
      );
      expect(dead).toBe(400);
      expect(body).toMatchObject({ code: 'PROTOCOL_ERR_SCHEMA', storedAs: 'dead_letter' });
      deadLetters++;
    }
    // The dead letters hold the injected text byte for byte: data, never SQL.
    await vi.waitFor(async () => {
      const rows = await h.warehouse.query<{ payload: string }>(schemaDeadLetters);
      expect(rows.length).toBe(deadBefore + deadLetters);
      const stored = new Set(rows.map((r) => sensorOf(r.payload)));
      for (const text of INJECTIONS) expect(stored.has(text), JSON.stringify(text)).toBe(true);
    }, { timeout: 10_000 });
    expect(await tableCounts()).toEqual(before);
  });

  it('still serves after all of it', async () => {
    const { status, body } = checked(await app.inject({ method: 'GET', url: '/v1/readings?device=gw-hostile&metric=pm25&limit=5' }), 'readings');
    expect(status).toBe(200);
    expect((body.readings as unknown[]).length).toBeGreaterThan(0);
  });
});
