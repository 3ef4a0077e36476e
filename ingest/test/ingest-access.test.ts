import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintAccessToken } from '@cityops/protocol';
import { buildHttpApi, parseIngestConfig } from '../src/index.ts';
import { startHarness, type Harness } from './ingest-harness.ts';

/** Role tokens on ingest's HTTP routes (issue 6, item 3): readings need analyst or above, devices admin. */

const ADMIN = 'test-admin-token-0123456789';
const tokens = Object.fromEntries(
  (['admin', 'operator', 'analyst', 'auditor'] as const).map((role) => [role, mintAccessToken(`${role} one`, role)]),
) as Record<'admin' | 'operator' | 'analyst' | 'auditor', ReturnType<typeof mintAccessToken>>;
const department = mintAccessToken('pudong water', 'department', ['pudong-water']);

describe('ingest HTTP access by role', () => {
  let h: Harness;
  let secured: ReturnType<typeof buildHttpApi>;
  let open: ReturnType<typeof buildHttpApi>;
  const warnings: string[] = [];

  beforeAll(async () => {
    h = await startHarness({ wal: { fsync: false } });
    const deps = {
      registry: h.service.registry,
      sensors: h.service.sensors,
      pipeline: h.service.pipeline,
      warehouse: h.warehouse,
      metrics: h.service.metrics,
      ready: () => Promise.resolve(true),
    };
    secured = buildHttpApi(
      { maxPayloadBytes: 65536, adminToken: ADMIN, tokens: [...Object.values(tokens), department].map((t) => t.entry) },
      { ...deps, logger: pino({ level: 'silent' }) },
    );
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    open = buildHttpApi({ maxPayloadBytes: 65536, adminToken: ADMIN }, { ...deps, logger });
    await Promise.all([secured.ready(), open.ready()]);
  });

  afterAll(async () => {
    await secured?.close();
    await open?.close();
    await h?.close();
  });

  const get = (app: typeof secured, token?: string) =>
    app.inject({ method: 'GET', url: '/v1/readings?limit=1', ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }) });

  it('GET /v1/readings: 401 without a known token, 403 for department and auditor, 200 for analyst, operator, admin', async () => {
    const wrong = 'z'.repeat(43);
    for (const token of [undefined, wrong, tokens.analyst.token.slice(0, 20)]) {
      const r = await get(secured, token);
      expect([r.statusCode, r.json<{ code: string }>().code]).toEqual([401, 'INGEST_ERR_UNAUTHORIZED']);
      if (token !== undefined) expect(r.body).not.toContain(token);
    }
    for (const t of [department, tokens.auditor]) {
      const r = await get(secured, t.token);
      expect([r.statusCode, r.json<{ code: string }>().code], t.entry.role).toEqual([403, 'INGEST_ERR_ROLE_FORBIDDEN']);
    }
    for (const token of [tokens.analyst.token, tokens.operator.token, tokens.admin.token, ADMIN]) expect((await get(secured, token)).statusCode).toBe(200);
  });

  it('device provisioning: the admin token or role admin; analyst and operator get 401 before the body is looked at', async () => {
    const body = { id: 'gw-access-1', kind: 'gateway', place: 'pudong/pudong-s01/g001' };
    for (const token of [tokens.analyst.token, tokens.operator.token]) {
      const r = await secured.inject({ method: 'POST', url: '/v1/devices', headers: { authorization: `Bearer ${token}` }, payload: { nonsense: 1 } });
      expect(r.statusCode).toBe(401);
    }
    const r = await secured.inject({ method: 'POST', url: '/v1/devices', headers: { authorization: `Bearer ${tokens.admin.token}` }, payload: body });
    expect(r.statusCode).toBe(201);
    expect((await secured.inject({ method: 'DELETE', url: '/v1/devices/gw-access-1', headers: { authorization: `Bearer ${ADMIN}` } })).statusCode).toBe(204);
  });

  it('without tokens (development) readings stay open and a warning says so, once', async () => {
    expect((await get(open)).statusCode).toBe(200);
    expect((await get(open)).statusCode).toBe(200);
    expect(warnings.filter((w) => w.includes('no http.tokens'))).toHaveLength(1);
  });

  it('checks token entries at config time', () => {
    expect(() => parseIngestConfig({ dataDir: '/tmp/unused', http: { tokens: [{ ...department.entry, departments: undefined }] } })).toThrow(/role department needs departments/);
    expect(() => parseIngestConfig({ dataDir: '/tmp/unused', http: { tokens: [{ name: 'x', role: 'analyst', tokenSha256: 'not-hex' }] } })).toThrow(/tokenSha256/);
  });
});
