import { utimes } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Warehouse } from '@cityops/warehouse';
import { createAuditWriter, type AuditEvent } from '../src/audit-writer.ts';
import type { Verdict } from '../src/verdict.ts';
import { createVerifierMetrics } from '../src/verifier-metrics.ts';
import { createVerifierService, type VerifierService } from '../src/verifier-service.ts';
import { createTestIssuers, dccVaccination, trustEntries } from './code-fixtures.ts';
import { createDataDir, post } from './service-harness.ts';

const logger = pino({ level: 'silent' });
const issuers = createTestIssuers();
let data: Awaited<ReturnType<typeof createDataDir>>;

beforeAll(async () => {
  data = await createDataDir('cityops-verifier-limits-');
  await data.write('trust.json', trustEntries(issuers));
});
afterAll(async () => {
  await data?.remove();
});

async function gauge(service: VerifierService, name: string): Promise<number | undefined> {
  const metric = service.metrics.registry.getSingleMetric(name);
  return (await metric?.get())?.values[0]?.value;
}

describe('overload', () => {
  let service: VerifierService | undefined;
  afterEach(async () => {
    await service?.stop();
  });

  it('answers deny OVERLOADED (503 with Retry-After on the single route) when the pool queue is full, and counts it', async () => {
    service = createVerifierService(
      {
        // Open (no credentials): this is about the pool's queue, not about who asks.
        http: { port: 0, verifyAccess: 'open' },
        trust: { source: data.path('trust.json') },
        pool: { threads: 1, concurrentTasksPerWorker: 1, maxQueue: 1, batchMaxItems: 2000, batchMaxDelayMs: 1 },
        cache: { maxEntries: 0 },
      },
      { logger },
    );
    const { httpUrl } = await service.start();
    const dcc = issuers.dcc.issueDcc({ payload: dccVaccination() });
    // One long batch keeps the only thread busy; the next batch waits in the queue, which is then full.
    const busy = Promise.all(Array.from({ length: 2000 }, () => service!.verify({ qr: dcc })));
    const queued = service.verify({ qr: dcc });
    await vi.waitFor(async () => expect(await gauge(service!, 'cityops_verifier_pool_queue_batches')).toBe(1), { interval: 1 });
    const refused = await post<Verdict>(`${httpUrl}/v1/verify`, { qr: dcc });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body).toEqual({ verdict: 'deny', reason: 'OVERLOADED', kind: null });
    expect((await busy).every((v) => v.reason === 'OK')).toBe(true);
    expect((await queued).reason).toBe('OK');
    expect((await service.metrics.overloaded.get()).values[0]?.value).toBe(1);
    // Once the queue drains, the same request is verified.
    expect((await post<Verdict>(`${httpUrl}/v1/verify`, { qr: dcc })).body.reason).toBe('OK');
  });

  it('answers INTERNAL_ERROR, not a crash, for a request that reaches a stopped pool', async () => {
    service = createVerifierService({ http: { port: 0 }, trust: { source: data.path('trust.json') }, pool: { threads: 1 } }, { logger });
    await service.start();
    await service.stop();
    const verdict = await service.verify({ qr: issuers.health.issueHealthCode({ subject: 'p-1', colour: 'green' }) });
    expect(verdict).toMatchObject({ verdict: 'deny', reason: 'INTERNAL_ERROR', detail: 'VERIFIER_ERR_STOPPED' });
  });
});

describe('stale data', () => {
  it('marks verdicts past maxAgeMs (warn), or denies them STALE_DATA (deny); the age is a metric', async () => {
    const fileTime = Date.UTC(2026, 10, 1);
    const now = () => fileTime + 120_000;
    const qr = issuers.health.issueHealthCode({ subject: 'p-1', colour: 'green', issuedAt: now() });
    const stale = [];
    for (const staleAction of ['warn', 'deny'] as const) {
      await data.write(`trust-${staleAction}.json`, trustEntries(issuers).slice(0, 1));
      const path = data.path(`trust-${staleAction}.json`);
      await utimes(path, fileTime / 1000, fileTime / 1000);
      const service = createVerifierService(
        { http: { port: 0 }, trust: { source: path, maxAgeMs: 60_000 }, staleAction, pool: { enabled: false } },
        { logger, now },
      );
      await service.start();
      try {
        stale.push(await service.verify({ qr }));
        expect(await gauge(service, 'cityops_verifier_trust_age_seconds')).toBe(120);
      } finally {
        await service.stop();
      }
    }
    expect(stale).toEqual([
      expect.objectContaining({ verdict: 'allow', reason: 'OK', stale: true, staleSources: ['trust'] }),
      expect.objectContaining({ verdict: 'deny', reason: 'STALE_DATA', detail: 'trust', stale: true }),
    ]);
  });
});

describe('config', () => {
  it('reports every problem at once, and wants a pseudonym key with a warehouse', () => {
    expect(() => createVerifierService({ trust: { source: '' }, pool: { batchMaxItems: 0 } })).toThrow(/VERIFIER_ERR_CONFIG|configuration/);
    try {
      createVerifierService({ trust: { source: '' }, pool: { batchMaxItems: 0 } });
    } catch (err) {
      expect((err as { code: string }).code).toBe('VERIFIER_ERR_CONFIG');
      expect((err as Error).message).toMatch(/\/trust\/source.*\/pool\/batchMaxItems/);
    }
    expect(() => createVerifierService({ trust: { source: 'x' } }, { warehouse: {} as Warehouse, logger })).toThrow(/pseudonymKey is required/);
  });
});

describe('start', () => {
  it('fails fast, and leaves nothing running, when the broker cannot be reached', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const service = createVerifierService(
      { http: { port: 0 }, trust: { source: data.path('trust.json') }, pool: { enabled: false }, mqtt: { url: `mqtt://127.0.0.1:${port}` } },
      { logger },
    );
    await expect(service.start()).rejects.toMatchObject({ code: 'VERIFIER_ERR_MQTT' });
    await service.stop();
  });
});

describe('audit writer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const event = (i: number): AuditEvent => ({
    at: Date.UTC(2026, 10, 26) + i,
    venue: 'v',
    kind: 'health-code',
    verdict: 'allow',
    reason: 'OK',
    issuer: 'city-health',
    pseudonym: 'x'.repeat(64),
    scanner: '',
    transport: 'http',
    offline: false,
    stale: false,
  });

  it('keeps events while the warehouse is down (bounded, overflow counted), retries with backoff, writes them when it is back', async () => {
    vi.useFakeTimers();
    let down = true;
    const inserted: Record<string, unknown>[][] = [];
    const attempts: number[] = [];
    const warehouse = {
      insertRows: (table: string, rows: Record<string, unknown>[]) => {
        attempts.push(Date.now());
        expect(table).toBe('verification_events');
        if (down) return Promise.reject(new Error('warehouse down (test)'));
        inserted.push(rows);
        return Promise.resolve();
      },
    } as unknown as Warehouse;
    const metrics = createVerifierMetrics();
    const writer = createAuditWriter(
      { flushEvents: 100, flushIntervalMs: 10, maxBufferedEvents: 3, retryMinMs: 100, retryMaxMs: 400 },
      { warehouse, metrics, logger },
    );
    writer.start();
    for (let i = 0; i < 5; i++) writer.record(event(i));
    expect(writer.buffered).toBe(3);
    const start = Date.now();
    await vi.advanceTimersByTimeAsync(10 + 100 + 200 + 400 + 400);
    expect(attempts.map((t) => t - start)).toEqual([10, 110, 310, 710, 1110]);
    expect(writer.buffered).toBe(3);
    down = false;
    await vi.advanceTimersByTimeAsync(400);
    expect(inserted).toHaveLength(1);
    expect(inserted[0]!.map((r) => r.at)).toEqual(['2026-11-26 00:00:00.000', '2026-11-26 00:00:00.001', '2026-11-26 00:00:00.002']);
    const counts: Record<string, number> = {};
    for (const v of (await metrics.auditEvents.get()).values) counts[String(v.labels.outcome)] = v.value;
    expect(counts).toEqual({ dropped: 2, written: 3 });
    expect((await metrics.auditWriteErrors.get()).values[0]?.value).toBe(5);

    // At stop, what the warehouse does not take is dropped and counted.
    down = true;
    writer.record(event(9));
    await writer.stop();
    expect((await metrics.auditEvents.get()).values.find((v) => v.labels.outcome === 'dropped')?.value).toBe(3);
  });
});
