import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { topics } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { identifierHash } from '../src/identifier-hashes.ts';
import { createOfflineEventStore } from '../src/offline-event-store.ts';
import { createVerifierMetrics } from '../src/verifier-metrics.ts';
import { createVerifierService, type VerifierService } from '../src/verifier-service.ts';
import { createTestIssuers, PSEUDONYM_KEY, trustEntries } from './code-fixtures.ts';
import { registerDevices } from './registry-fixtures.ts';
import { createDataDir, startPlainBroker } from './service-harness.ts';

const SCANNER = 'gate-9';
/** Where SCANNER is registered: its events are recorded there. */
const VENUE = 'huangpu/nanjing-east/g001/b09';
/** Verdicts of the last few hours (on the hour, minus 3 h): inside the audit's retention whatever the date. */
const BASE = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000;
const at = (minute: number) => BASE + minute * 60_000;
const event = (id: string | undefined, minute: number) => ({
  ...(id === undefined ? {} : { id }),
  at: at(minute),
  venue: VENUE,
  kind: 'health-code',
  verdict: 'allow',
  reason: 'OK',
  issuer: 'city-health',
  subjectHash: identifierHash(`p-${id ?? minute}`),
});

describe('offline uploads are stored exactly once', () => {
  let data: Awaited<ReturnType<typeof createDataDir>>;
  let broker: Awaited<ReturnType<typeof startPlainBroker>>;
  let warehouse: Warehouse;
  let scanner: MqttClient;
  const replies = new Map<string, Record<string, unknown>>();

  const start = async (store: Warehouse = warehouse): Promise<VerifierService> => {
    const service = createVerifierService(
      {
        http: { port: 0 },
        mqtt: { url: broker.url, clientId: 'verifier-once' },
        trust: { source: data.path('trust.json'), refreshMs: 3_600_000 },
        pool: { enabled: false },
        audit: { pseudonymKey: PSEUDONYM_KEY, flushIntervalMs: 20 },
      },
      { warehouse: store, logger: pino({ level: 'silent' }) },
    );
    await service.start();
    return service;
  };

  async function upload(id: string, events: unknown[]): Promise<Record<string, unknown>> {
    await scanner.publishAsync(topics.verifyEvents(SCANNER), JSON.stringify({ id, events }), { qos: 1 });
    return vi.waitFor(() => {
      const reply = replies.get(id);
      expect(reply).toBeDefined();
      return reply!;
    });
  }

  const rows = () =>
    warehouse.query<{ event_id: string; n: number }>(
      'SELECT event_id, toUInt32(count()) AS n FROM verification_events WHERE scanner = {scanner:String} GROUP BY event_id ORDER BY event_id',
      { scanner: SCANNER },
    );
  const rolledUp = async () => {
    const [row] = await warehouse.query<{ n: number }>(
      'SELECT toUInt32(sum(events)) AS n FROM verification_events_1m WHERE scanner = {scanner:String}',
      { scanner: SCANNER },
    );
    return Number(row?.n ?? 0);
  };

  beforeAll(async () => {
    data = await createDataDir('cityops-verifier-once-');
    broker = await startPlainBroker();
    warehouse = await openWarehouse({ backend: 'chdb', path: join(data.dir, 'warehouse') });
    await data.write('trust.json', trustEntries(createTestIssuers()));
    await registerDevices(warehouse, [{ id: SCANNER, at: VENUE }]);
    scanner = await connectAsync(broker.url, { clientId: SCANNER, protocolVersion: 4, reconnectPeriod: 0 });
    scanner.on('message', (_topic, payload) => {
      const body = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
      replies.set(String(body.id), body);
    });
    await scanner.subscribeAsync(topics.verifyResponse(SCANNER), { qos: 1 });
  });

  afterAll(async () => {
    await scanner?.endAsync();
    await broker?.stop();
    await warehouse?.close();
    await data?.remove();
  });

  it('adds no row for a resend, an overlapping upload or an upload after a verifier restart', async () => {
    let verifier = await start();
    try {
      const first = [event('b1-0', 0), event('b1-1', 1), event('b1-2', 2)];
      expect(await upload('u1', first)).toEqual({ id: 'u1', accepted: 3, refused: 0, duplicates: 0 });
      // The answer was lost: the scanner sends the same events again, and a newer one with them.
      expect(await upload('u2', first)).toEqual({ id: 'u2', accepted: 3, refused: 0, duplicates: 3 });
      expect(await upload('u3', [...first, event('b1-3', 3)])).toEqual({ id: 'u3', accepted: 4, refused: 0, duplicates: 3 });
    } finally {
      await verifier.stop();
    }

    // A new verifier process over the same warehouse: its memory of recent ids is empty.
    verifier = await start();
    try {
      expect(await upload('u4', [event('b1-2', 2), event('b1-3', 3), event('b1-4', 4)])).toEqual({
        id: 'u4',
        accepted: 3,
        refused: 0,
        duplicates: 2,
      });
      // An event without an id (a scanner before event ids) is named by its content: a resend is one too.
      expect(await upload('u5', [event(undefined, 5)])).toMatchObject({ accepted: 1, duplicates: 0 });
      expect(await upload('u6', [event(undefined, 5), event(undefined, 5)])).toMatchObject({ accepted: 2, duplicates: 2 });
    } finally {
      await verifier.stop();
    }

    const stored = await rows();
    expect(stored.map((r) => (r.event_id.startsWith('h-') ? 'h-…' : r.event_id))).toEqual(['b1-0', 'b1-1', 'b1-2', 'b1-3', 'b1-4', 'h-…']);
    expect(stored.every((r) => Number(r.n) === 1)).toBe(true);
    // The per-minute rollup counts each verdict once too.
    expect(await rolledUp()).toBe(6);
  });

  it('answers deferred when the warehouse fails; the resend is stored once, also after an insert that committed but reported an error', async () => {
    let mode: 'fail' | 'commit-then-fail' | 'ok' = 'fail';
    const flaky = new Proxy(warehouse, {
      get(target, key) {
        if (key === 'command') {
          return async (sql: string, params?: Parameters<Warehouse['command']>[1]) => {
            if (!sql.startsWith('INSERT') || mode === 'ok') return target.command(sql, params);
            if (mode === 'commit-then-fail') await target.command(sql, params);
            throw new Error(`warehouse ${mode}`);
          };
        }
        const value: unknown = Reflect.get(target, key);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const verifier = await start(flaky);
    try {
      const events = [event('d-0', 20), event('d-1', 21)];
      expect(await upload('d1', events)).toEqual({ id: 'd1', accepted: 0, refused: 0, duplicates: 0, deferred: true });
      mode = 'commit-then-fail';
      expect(await upload('d2', events)).toMatchObject({ deferred: true });
      mode = 'ok';
      // The rows of d2 are there although the verifier saw an error: the resend finds them.
      expect(await upload('d3', events)).toEqual({ id: 'd3', accepted: 2, refused: 0, duplicates: 2 });
      const failed = (await verifier.metrics.offlineEvents.get()).values.find((v) => v.labels.outcome === 'failed');
      expect(failed?.value).toBe(4);
    } finally {
      await verifier.stop();
    }
    const stored = (await rows()).filter((r) => r.event_id.startsWith('d-'));
    expect(stored).toEqual([
      { event_id: 'd-0', n: 1 },
      { event_id: 'd-1', n: 1 },
    ]);
  });

  it('writes one block when the same upload is inserted twice at once (the deduplication token)', async () => {
    const metrics = createVerifierMetrics();
    const audit = (id: string, minute: number) => ({
      at: at(minute),
      venue: 'mall-3',
      kind: 'health-code',
      verdict: 'allow' as const,
      reason: 'OK' as const,
      issuer: '',
      pseudonym: '',
      scanner: 'gate-10',
      transport: 'offline' as const,
      offline: true,
      stale: false,
      eventId: id,
    });
    // Two verifiers (two stores, no shared memory) taking the same upload during a membership change.
    const a = createOfflineEventStore({ recentIds: 10 }, { warehouse, metrics, logger: pino({ level: 'silent' }) });
    const b = createOfflineEventStore({ recentIds: 10 }, { warehouse, metrics, logger: pino({ level: 'silent' }) });
    const events = [audit('c-1', 10), audit('c-2', 11)];
    await Promise.all([a.store('gate-10', events), b.store('gate-10', events)]);
    const [row] = await warehouse.query<{ n: number }>("SELECT toUInt32(count()) AS n FROM verification_events WHERE scanner = 'gate-10'");
    expect(Number(row?.n)).toBe(2);
  });
});
