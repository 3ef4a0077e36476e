import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCityopsError, type Place, type Reading } from '@cityops/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ENGINE_MEMORY_METRICS, openWarehouse, readEngineMemory, type ChdbWarehouseConfig, type StoredBatch, type Warehouse } from '../src/index.ts';
import { INSERT_TMP_DIR } from '../src/chdb-backend.ts';

// chDB binds one data directory per process (and this file runs in its own forked process), so
// every test opens the same store and cleans its tables up instead of opening a fresh path.
let dir: string;
let path: string;
let wh: Warehouse | undefined;

const PLACE_A: Place = { district: 'pudong', subdistrict: 'lujiazui', grid: 'g-07', building: 'tower-2' };
const PLACE_B: Place = { district: 'xuhui', subdistrict: 'tianping', grid: 'g-01', building: '' };
/** A UTC midnight ten days ago: inside the default 90-day retention of the store's now() on any date. */
const DAY = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 10 * 86_400_000;

function batch(device: string, place: Place, boot: number, seq: number, readings: Reading[], receivedAt = DAY + 3_600_000): StoredBatch {
  return { device, place, boot, seq, receivedAt, readings };
}

function readings(n: number, start: number, step = 1000, metric = 'pm25'): Reading[] {
  return Array.from({ length: n }, (_, i) => ({ sensor: `s${i % 3}`, metric, ts: start + i * step, value: i + 0.25, ...(i % 4 === 0 ? { alarm: true } : {}) }));
}

type ChdbOptions = Omit<ChdbWarehouseConfig, 'backend' | 'path'>;

async function open(extra: Partial<ChdbOptions> = {}, now?: () => number): Promise<Warehouse> {
  wh = await openWarehouse({ backend: 'chdb', path, ...extra }, now === undefined ? {} : { now });
  return wh;
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<Error> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isCityopsError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
  return err as Error;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-warehouse-'));
  path = join(dir, 'store');
});

afterEach(async () => {
  if (wh !== undefined) {
    await wh.command('TRUNCATE TABLE IF EXISTS readings').catch(() => undefined);
    await wh.command('TRUNCATE TABLE IF EXISTS dead_letters').catch(() => undefined);
    await wh.close();
  }
  wh = undefined;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('migrations', () => {
  it('applies every migration once, in order, and a second open changes nothing', async () => {
    const first = await open({}, () => Date.UTC(2026, 0, 1));
    const applied = await first.query<{ version: number; name: string; applied_at: string }>(
      'SELECT version, name, applied_at FROM schema_migrations ORDER BY version',
    );
    expect(applied.map((m) => [m.version, m.name])).toEqual([
      [1, 'create_readings'],
      [2, 'create_dead_letters'],
      [3, 'create_devices'],
      [4, 'create_schema_changes'],
      [5, 'create_verification_events'],
      [6, 'create_rollups'],
      [7, 'create_alert_events'],
      [8, 'verification_event_ids'],
      [9, 'create_audit_reads'],
      [10, 'add_device_departments'],
      [11, 'create_credential_flags'],
      [12, 'create_device_sensors'],
      [13, 'create_device_configs'],
      [14, 'add_alert_ratings'],
    ]);
    expect(applied.every((m) => m.applied_at === '2026-01-01 00:00:00.000')).toBe(true);
    const tables = await first.query<{ name: string }>(
      "SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN ('readings', 'dead_letters', 'devices') ORDER BY name",
    );
    expect(tables.map((t) => t.name)).toEqual(['dead_letters', 'devices', 'readings']);
    await first.close();

    const second = await open({}, () => Date.UTC(2027, 0, 1));
    const again = await second.query('SELECT version, name, applied_at FROM schema_migrations ORDER BY version');
    expect(again).toEqual(applied);
  });

  it('with migrate: false runs no DDL at all', async () => {
    const w = await open({ migrate: false, retentionDays: 7 });
    const [row] = await w.query<{ engine_full: string }>(
      "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'readings'",
    );
    expect(row?.engine_full).not.toContain('toIntervalDay(7)');
  });
});

describe('readings', () => {
  it('round-trips batches and filters by device, metric, time range and limit, ordered by ts, device, sensor', async () => {
    const w = await open();
    const t0 = DAY + 10_000;
    await w.insertBatches([
      batch('gw-a', PLACE_A, 7, 1, readings(6, t0)),
      batch('gw-b', PLACE_B, 2, 9, readings(6, t0, 1000, 'noise_db')),
      batch('gw-a', PLACE_A, 7, 2, [{ sensor: 's9', metric: 'pm25', ts: t0 + 500, value: -1.5, alarm: false }]),
    ]);

    const all = await w.queryReadings({ limit: 100 });
    expect(all).toHaveLength(13);
    const keys = all.map((r) => [r.ts, r.device, r.sensor]);
    const sorted = [...keys].sort((x, y) => (x[0] as number) - (y[0] as number) || String(x[1]).localeCompare(String(y[1])) || String(x[2]).localeCompare(String(y[2])));
    expect(keys).toEqual(sorted);
    expect(all[0]).toEqual({
      device: 'gw-a', sensor: 's0', metric: 'pm25', ts: t0, value: 0.25, alarm: true,
      district: 'pudong', subdistrict: 'lujiazui', grid: 'g-07', building: 'tower-2', boot: 7, seq: 1, idx: 0,
    });
    const lone = all.find((r) => r.sensor === 's9');
    expect(lone).toMatchObject({ ts: t0 + 500, value: -1.5, alarm: false, seq: 2, idx: 0 });

    const b = await w.queryReadings({ device: 'gw-b', limit: 100 });
    expect(b).toHaveLength(6);
    expect(b.every((r) => r.device === 'gw-b' && r.metric === 'noise_db' && r.building === '' && r.grid === 'g-01')).toBe(true);
    expect(b.map((r) => r.idx)).toEqual([0, 1, 2, 3, 4, 5]);

    const pm = await w.queryReadings({ metric: 'pm25', limit: 100 });
    expect(pm).toHaveLength(7);

    // from inclusive, to exclusive
    const window = await w.queryReadings({ device: 'gw-a', from: t0 + 1000, to: t0 + 3000, limit: 100 });
    expect(window.map((r) => r.ts)).toEqual([t0 + 1000, t0 + 2000]);

    const limited = await w.queryReadings({ limit: 3 });
    expect(limited).toEqual(all.slice(0, 3));
  });

  it('counts each reading exactly once by (device, boot, seq, idx), even when the same insert is retried', async () => {
    const w = await open();
    const batches = Array.from({ length: 20 }, (_, i) => batch(`gw-${i % 4}`, PLACE_A, 1, i, readings(50, DAY + i * 60_000)));
    await w.insertBatches(batches);
    // A retry of the same call (say the first one timed out after the engine committed it).
    await w.insertBatches(batches);
    const [row] = await w.query<{ rows: number; keys: number }>(
      'SELECT count() AS rows, uniqExact(device, boot, seq, idx) AS keys FROM readings',
    );
    expect(row).toEqual({ rows: 1000, keys: 1000 });
    // A different set of batches is a different insert, even when it overlaps in time.
    await w.insertBatches([batch('gw-0', PLACE_A, 2, 0, readings(5, DAY))]);
    // Across midnight the insert forms one part per day; a retry still writes neither twice.
    const midnight = [batch('gw-9', PLACE_B, 1, 1, readings(10, DAY - 5000))];
    await w.insertBatches(midnight);
    await w.insertBatches(midnight);
    const [after] = await w.query<{ rows: number; keys: number }>(
      'SELECT count() AS rows, uniqExact(device, boot, seq, idx) AS keys FROM readings',
    );
    expect(after).toEqual({ rows: 1015, keys: 1015 });
  });

  it('lands a 100k-row insert as one part and leaves no temp file behind', async () => {
    const w = await open();
    await w.command('SYSTEM STOP MERGES readings');
    try {
      // All in one day: a partition is a day, and an insert forms one part per partition it touches.
      const batches = Array.from({ length: 1000 }, (_, i) => batch(`gw-${i % 50}`, PLACE_A, 3, i, readings(100, DAY + i * 60_000, 10)));
      await w.insertBatches(batches);
      const parts = await w.query<{ rows: number }>(
        "SELECT rows FROM system.parts WHERE database = currentDatabase() AND table = 'readings' AND active",
      );
      expect(parts).toEqual([{ rows: 100_000 }]);
      expect(await readdir(join(path, INSERT_TMP_DIR))).toEqual([]);
    } finally {
      await w.command('SYSTEM START MERGES readings');
    }
  });

  it('inserts packed batches as they are, empty ones among them, and refuses a batch packed for a server wherever it sits', async () => {
    const w = await open();
    const packed = [batch('gw-p', PLACE_A, 1, 1, readings(3, DAY)), batch('gw-p', PLACE_A, 1, 2, []), batch('gw-p', PLACE_A, 1, 3, readings(2, DAY))].map((b) => w.pack(b));
    expect(packed[1]?.data).toEqual({ format: 'rowbinary', bytes: Buffer.alloc(0) });
    const json = { device: 'gw-j', boot: 1, seq: 1, rows: 1, data: { format: 'json', rows: [{ device: 'gw-j' }] } } as const;
    await expectCode(w.insertPacked([packed[0]!, json, packed[2]!]), 'WAREHOUSE_ERR_ARGUMENT');
    expect(await readdir(join(path, INSERT_TMP_DIR))).toEqual([]);
    await w.insertPacked(packed);
    const rows = await w.query<{ seq: number; idx: number }>('SELECT seq, idx FROM readings ORDER BY seq, idx');
    expect(rows).toEqual([{ seq: 1, idx: 0 }, { seq: 1, idx: 1 }, { seq: 1, idx: 2 }, { seq: 3, idx: 0 }, { seq: 3, idx: 1 }]);
  });

  it("reads the engine's own memory account: tracked allocations and each cache", async () => {
    const w = await open();
    await w.insertBatches([batch('gw-mem', PLACE_A, 1, 1, readings(10, DAY))]);
    await w.query('SELECT count() FROM readings WHERE device = {d:String}', { d: 'gw-mem' });
    const memory = await readEngineMemory(w);
    expect(Object.keys(memory).sort()).toEqual(Object.values(ENGINE_MEMORY_METRICS).sort());
    // A global counter of what the engine's allocator tracks: allocations made before tracking
    // began and freed since can leave it a little below zero when the engine is nearly idle.
    expect(Number.isFinite(memory.tracked)).toBe(true);
    // The query read marks of the part just written.
    expect(memory.mark_cache).toBeGreaterThan(0);
  });

  it('treats injection strings in parameters as plain values', async () => {
    const w = await open();
    const evil = "x' OR 1=1 --";
    await w.insertBatches([batch(evil, PLACE_A, 1, 1, readings(2, DAY)), batch('gw-ok', PLACE_A, 1, 1, readings(3, DAY))]);
    const hits = await w.queryReadings({ device: evil, limit: 100 });
    expect(hits.map((r) => r.device)).toEqual([evil, evil]);
    expect(await w.queryReadings({ device: "gw-ok' OR '1'='1", limit: 100 })).toEqual([]);
    expect(await w.queryReadings({ metric: "pm25') OR (1=1", limit: 100 })).toEqual([]);
    const [row] = await w.query<{ n: number }>('SELECT count() AS n FROM readings WHERE device = {d:String}', { d: "' OR ''='" });
    expect(row?.n).toBe(0);
    const [tables] = await w.query<{ n: number }>("SELECT count() AS n FROM system.tables WHERE name = 'readings'");
    expect(tables?.n).toBe(1);
  });

  it('refuses bad arguments with WAREHOUSE_ERR_ARGUMENT before reaching the engine', async () => {
    const w = await open({ maxInsertRows: 10 });
    await expectCode(w.queryReadings({ limit: 0 }), 'WAREHOUSE_ERR_ARGUMENT');
    await expectCode(w.queryReadings({ limit: 10, from: 1.5 }), 'WAREHOUSE_ERR_ARGUMENT');
    await expectCode(w.insertBatches([batch('gw', PLACE_A, 1, 1, readings(11, DAY))]), 'WAREHOUSE_ERR_ARGUMENT');
    await expectCode(w.insertBatches([batch('gw', PLACE_A, 2 ** 32, 1, readings(1, DAY))]), 'WAREHOUSE_ERR_ARGUMENT');
    await expectCode(w.insertRows('readings; DROP TABLE devices', [{ a: 1 }]), 'WAREHOUSE_ERR_ARGUMENT');
    const [row] = await w.query<{ n: number }>('SELECT count() AS n FROM readings');
    expect(row?.n).toBe(0);
  });
});

describe('dead letters and plain rows', () => {
  it('stores a dead letter payload byte for byte, including bytes that are not UTF-8', async () => {
    const w = await open();
    const payload = new Uint8Array([0x00, 0xff, 0xfe, 0xc3, 0x28, 0x80, 0x22, 0x5c, 0x0a, 0xed, 0xa0, 0x80, 0x7b]);
    await w.insertDeadLetters([
      { receivedAt: DAY + 1, device: 'gw-bad', topic: 'cityops/v1/telemetry/gw-bad', reason: 'PROTOCOL_ERR_PAYLOAD_DECODE', detail: 'not msgpack', payload },
      { receivedAt: DAY + 2, device: 'gw-bad', topic: 'cityops/v1/telemetry/gw-bad', reason: 'PROTOCOL_ERR_PAYLOAD_EMPTY', detail: '', payload: new Uint8Array() },
    ]);
    const rows = await w.query<{ b64: string; len: number; reason: string; ts: number }>(
      'SELECT base64Encode(payload) AS b64, length(payload) AS len, reason, toUnixTimestamp64Milli(received_at) AS ts FROM dead_letters ORDER BY received_at',
    );
    expect(rows).toHaveLength(2);
    expect(Buffer.from(rows[0]!.b64, 'base64').equals(Buffer.from(payload))).toBe(true);
    expect(rows[0]).toMatchObject({ len: payload.length, reason: 'PROTOCOL_ERR_PAYLOAD_DECODE', ts: DAY + 1 });
    expect(rows[1]).toMatchObject({ b64: '', len: 0 });
  });

  it('inserts plain rows into the device registry through JSONEachRow', async () => {
    const w = await open();
    await w.insertRows('devices', [
      { id: 'gw-1', kind: 'gateway', district: 'pudong', subdistrict: 'lujiazui', grid: 'g-07', building: '', secret_hash: 'h1', revoked: false, updated_at: '2026-11-20 00:00:00.000' },
      { id: 'gw-1', kind: 'gateway', district: 'pudong', subdistrict: 'lujiazui', grid: 'g-07', building: '', secret_hash: 'h2', revoked: true, updated_at: '2026-11-21 00:00:00.000' },
    ]);
    const rows = await w.query<{ id: string; secret_hash: string; revoked: boolean }>('SELECT id, secret_hash, revoked FROM devices FINAL');
    expect(rows).toEqual([{ id: 'gw-1', secret_hash: 'h2', revoked: true }]);
    await w.command('TRUNCATE TABLE devices');
  });
});

describe('retention', () => {
  it('applies a changed retention with MODIFY TTL at open and logs it once', async () => {
    const ttl = async (w: Warehouse) =>
      (await w.query<{ engine_full: string }>(
        "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'readings'",
      ))[0]?.engine_full;
    const changes = (w: Warehouse) =>
      w.query<{ change: string; detail: string }>("SELECT change, detail FROM schema_changes WHERE object = 'readings' ORDER BY changed_at");

    let w = await open({ retentionDays: 90 });
    expect(await ttl(w)).toContain('TTL toDateTime(ts) + toIntervalDay(90)');
    const before = await changes(w);
    await w.close();

    w = await open({ retentionDays: 30 });
    expect(await ttl(w)).toContain('TTL toDateTime(ts) + toIntervalDay(30)');
    expect(await changes(w)).toEqual([...before, { change: 'MODIFY TTL', detail: 'retention 90 -> 30 days' }]);
    await w.close();

    w = await open({ retentionDays: 30 });
    expect(await changes(w)).toHaveLength(before.length + 1);
    await w.close();

    // back to the default, so the other tests see the table as they expect
    w = await open();
    expect(await ttl(w)).toContain('toIntervalDay(90)');
  });
});

describe('errors and lifecycle', () => {
  it('reports every config problem in one WAREHOUSE_ERR_CONFIG', async () => {
    const err = await expectCode(
      openWarehouse({ backend: 'chdb', path: '', retentionDays: 0, migrate: 'yes' } as never),
      'WAREHOUSE_ERR_CONFIG',
    );
    expect(err.message).toMatch(/\/path/);
    expect(err.message).toMatch(/\/retentionDays/);
    expect(err.message).toMatch(/\/migrate/);
    const server = await expectCode(
      openWarehouse({ backend: 'server', url: 'ftp://x', requestTimeoutMs: 1, database: 'a-b' } as never),
      'WAREHOUSE_ERR_CONFIG',
    );
    expect(server.message).toMatch(/\/url/);
    expect(server.message).toMatch(/\/requestTimeoutMs/);
    expect(server.message).toMatch(/\/database/);
    await expectCode(openWarehouse({ backend: 'sqlite' } as never), 'WAREHOUSE_ERR_CONFIG');
  });

  it('maps engine errors to WAREHOUSE_ERR_QUERY and keeps the ClickHouse code', async () => {
    const w = await open();
    const unknown = await expectCode(w.query('SELECT * FROM no_such_table'), 'WAREHOUSE_ERR_QUERY');
    expect(unknown).toMatchObject({ clickhouseCode: 60 });
    expect(unknown.message).toContain('ClickHouse code 60');
    expect(unknown.cause).toBeInstanceOf(Error);
    const syntax = await expectCode(w.command('SELEC 1'), 'WAREHOUSE_ERR_QUERY');
    expect(syntax).toMatchObject({ clickhouseCode: 62 });
  });

  it('waits for work in flight on close, is idempotent, and refuses every call afterwards', async () => {
    const w = await open();
    const pending = w.insertBatches([batch('gw-late', PLACE_A, 1, 1, readings(10, DAY))]);
    const closed = w.close();
    expect(w.close()).toBe(closed);
    await pending;
    await closed;
    await w.close();
    wh = undefined;
    await expectCode(w.ping(), 'WAREHOUSE_ERR_CLOSED');
    await expectCode(w.query('SELECT 1'), 'WAREHOUSE_ERR_CLOSED');
    await expectCode(w.command('SELECT 1'), 'WAREHOUSE_ERR_CLOSED');
    await expectCode(w.queryReadings({ limit: 1 }), 'WAREHOUSE_ERR_CLOSED');
    await expectCode(w.insertBatches([]), 'WAREHOUSE_ERR_CLOSED');
    await expectCode(w.insertDeadLetters([]), 'WAREHOUSE_ERR_CLOSED');
    await expectCode(w.insertRows('devices', []), 'WAREHOUSE_ERR_CLOSED');

    const reopened = await open();
    expect(await reopened.queryReadings({ device: 'gw-late', limit: 100 })).toHaveLength(10);
  });

  it('refuses a second data directory in the same process with WAREHOUSE_ERR_UNAVAILABLE', async () => {
    await open();
    await expectCode(openWarehouse({ backend: 'chdb', path: join(dir, 'other') }), 'WAREHOUSE_ERR_UNAVAILABLE');
  });
});
