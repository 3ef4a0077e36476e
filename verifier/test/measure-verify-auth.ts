/**
 * What asking with credentials costs the verifier per request (issue 16), in one run:
 *   node --import tsx verifier/test/measure-verify-auth.ts [--requests 20000]
 * - a scanner's first check (scrypt of its secret), and 100 concurrent first requests of one scanner
 *   (they share one scrypt);
 * - POST /v1/verify through fastify's inject over an engine that answers at once, so only the route's
 *   own work is timed: open without a header (the route as it was), open with the lockout hooks, and
 *   a scanner's Basic credentials (64 scanners, their secrets verified before: the cached path).
 * Prints one JSON document (µs per request: the median of 3 rounds).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createAddressGuard, createTokenAuthenticator } from '@cityops/protocol';
import { createDeviceRegistry, openWarehouse } from '@cityops/warehouse';
import { buildHttpApi } from '../src/http-api.ts';
import { createRequesterDirectory, type VerifyAccessMode } from '../src/requester.ts';
import { parseVerifierConfig } from '../src/verifier-config.ts';
import { createVerifierMetrics } from '../src/verifier-metrics.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '20000' } } });
const requests = Number(values.requests);
const dir = await mkdtemp(join(tmpdir(), 'cityops-measure-auth-'));
const warehouse = await openWarehouse({ backend: 'chdb', path: join(dir, 'warehouse') });
const registry = createDeviceRegistry({ refreshMs: 3_600_000 }, { warehouse });
await registry.start();
const place = (i: number) => ({ district: 'bench', subdistrict: 'bench-s01', grid: 'g001', building: `b${i}` });
const scanners = await Promise.all(Array.from({ length: 65 }, (_, i) => registry.add({ id: `scn-${i}`, kind: 'scanner', place: place(i) })));
const basic = (s: { id: string; secret: string }) => `Basic ${Buffer.from(`${s.id}:${s.secret}`).toString('base64')}`;

let t = performance.now();
await registry.authenticate(scanners[64]!.id, scanners[64]!.secret);
const firstCheckMs = performance.now() - t;
t = performance.now();
await Promise.all(Array.from({ length: 100 }, () => registry.authenticate(scanners[0]!.id, scanners[0]!.secret)));
const hundredFirstMs = performance.now() - t;

const limits = parseVerifierConfig({ trust: { source: 'unused' } }).limits;
const verdict = { verdict: 'allow', reason: 'OK', kind: 'health-code' } as const;
function app(mode: VerifyAccessMode, guard: boolean) {
  return buildHttpApi(
    { maxBatchItems: 256, maxQrChars: 4296 },
    {
      engine: { verify: () => Promise.resolve(verdict) },
      reference: {} as never,
      metrics: createVerifierMetrics(),
      logger: pino({ level: 'silent' }),
      ready: () => true,
      requesters: createRequesterDirectory(mode, { registry, tokens: createTokenAuthenticator([]) }),
      ...(guard ? { guard: createAddressGuard(limits, { now: Date.now }) } : {}),
    },
  );
}
const body = JSON.stringify({ qr: `HC1:${'A'.repeat(300)}` });
const authorizations = scanners.slice(0, 64).map(basic);
async function usPerRequest(mode: VerifyAccessMode, guard: boolean, withAuth: boolean): Promise<number> {
  const a = app(mode, guard);
  await a.ready();
  const send = (i: number) =>
    a.inject({ method: 'POST', url: '/v1/verify', headers: { 'content-type': 'application/json', ...(withAuth ? { authorization: authorizations[i % 64]! } : {}) }, payload: body });
  for (let i = 0; i < 1000; i++) await send(i);
  const started = performance.now();
  for (let i = 0; i < requests; i++) {
    const r = await send(i);
    if (r.statusCode !== 200) throw new Error(`${r.statusCode} ${r.body}`);
  }
  await a.close();
  return ((performance.now() - started) * 1000) / requests;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
const rounds: Record<string, number[]> = { open_no_hooks: [], open_lockout_hooks: [], scanner_basic_lockout_hooks: [] };
for (let round = 0; round < 3; round++) {
  rounds.open_no_hooks!.push(await usPerRequest('open', false, false));
  rounds.open_lockout_hooks!.push(await usPerRequest('open', true, false));
  rounds.scanner_basic_lockout_hooks!.push(await usPerRequest('credentials', true, true));
}
await registry.stop();
await warehouse.close();
await rm(dir, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify(
    {
      first_check_scrypt_ms: Math.round(firstCheckMs),
      hundred_concurrent_first_requests_ms: Math.round(hundredFirstMs),
      us_per_request: Object.fromEntries(Object.entries(rounds).map(([k, v]) => [k, Number(median(v).toFixed(1))])),
      requests_per_round: requests,
    },
    null,
    2,
  )}\n`,
);
