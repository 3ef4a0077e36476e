import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCityopsError, type Place } from '@cityops/protocol';
import { drainPending } from 'chdb';
import { createChdbConnection } from 'chdb/connection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWarehouse, type StoredBatch, type Warehouse, type WarehouseDeps } from '../src/index.ts';

type ServerConnection = NonNullable<WarehouseDeps['serverConnection']>;

// The server backend's code (migrations through client.command, JSONEachRow inserts with their
// settings and column lists, query_params) against a current engine: @clickhouse/client with chDB's
// Connection in place of HTTP. The 18.16 server test covers the HTTP transport; this covers the SQL.
let dir: string;
let wh: Warehouse;

const PLACE: Place = { district: 'jingan', subdistrict: 'nanjingxi', grid: 'g-3', building: 'mall-1' };
/** A UTC midnight ten days ago: inside the 45-day retention of the store's now() on any date. */
const DAY = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 10 * 86_400_000;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-server-on-chdb-'));
  wh = await openWarehouse(
    { backend: 'server', url: 'http://chdb.invalid:8123', retentionDays: 45 },
    // chdb types its Connection against @clickhouse/client-common's declarations, which differ in
    // detail from the copy bundled in @clickhouse/client 1.23; the runtime interface is the same.
    { serverConnection: createChdbConnection({ path: join(dir, 'store') }) as unknown as ServerConnection },
  );
});

afterAll(async () => {
  await wh?.close();
  await drainPending();
  await rm(dir, { recursive: true, force: true });
});

describe('server backend on a current engine', () => {
  it('migrates the full schema and applies the retention', async () => {
    const versions = await wh.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    const [table] = await wh.query<{ engine_full: string }>(
      'SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {t:String}',
      { t: 'readings' },
    );
    expect(table?.engine_full).toContain('toIntervalDay(45)');
  });

  it('inserts batches as JSONEachRow once, even when retried, and reads them back with parameters', async () => {
    const batches: StoredBatch[] = [
      { device: 'gw-1', place: PLACE, boot: 4, seq: 10, receivedAt: DAY + 999, readings: [
        { sensor: 'p1', metric: 'pm25', ts: DAY + 1, value: 12.5, alarm: true },
        { sensor: 'p2', metric: 'pm25', ts: DAY + 2, value: 13 },
      ] },
      { device: "gw-2' OR 1=1 --", place: PLACE, boot: 1, seq: 1, receivedAt: DAY + 999, readings: [
        { sensor: 'n1', metric: 'noise_db', ts: DAY + 3, value: 55 },
      ] },
    ];
    await wh.insertBatches(batches);
    await wh.insertBatches(batches);
    const rows = await wh.queryReadings({ from: DAY, to: DAY + 10, limit: 10 });
    expect(rows).toEqual([
      { device: 'gw-1', sensor: 'p1', metric: 'pm25', ts: DAY + 1, value: 12.5, alarm: true, ...PLACE, boot: 4, seq: 10, idx: 0 },
      { device: 'gw-1', sensor: 'p2', metric: 'pm25', ts: DAY + 2, value: 13, alarm: false, ...PLACE, boot: 4, seq: 10, idx: 1 },
      { device: "gw-2' OR 1=1 --", sensor: 'n1', metric: 'noise_db', ts: DAY + 3, value: 55, alarm: false, ...PLACE, boot: 1, seq: 1, idx: 0 },
    ]);
    expect(await wh.queryReadings({ device: "gw-2' OR 1=1 --", limit: 10 })).toHaveLength(1);
    expect(await wh.queryReadings({ device: 'gw-1', metric: 'noise_db', limit: 10 })).toEqual([]);
  });

  it('stores dead-letter bytes exactly through the EPHEMERAL base64 column', async () => {
    const payload = new Uint8Array([0xff, 0x00, 0xc0, 0xaf, 0x0a, 0x22]);
    await wh.insertDeadLetters([{ receivedAt: DAY, device: 'gw-1', topic: 'cityops/v1/telemetry/gw-1', reason: 'PROTOCOL_ERR_SCHEMA', detail: '/seq', payload }]);
    const [row] = await wh.query<{ b64: string }>('SELECT base64Encode(payload) AS b64 FROM dead_letters');
    expect(Buffer.from(row!.b64, 'base64')).toEqual(Buffer.from(payload));
  });

  it('maps a rejected statement to WAREHOUSE_ERR_QUERY with the code the client parsed', async () => {
    const err: unknown = await wh.query('SELECT * FROM no_such_table').catch((e: unknown) => e);
    expect(isCityopsError(err, 'WAREHOUSE_ERR_QUERY')).toBe(true);
    expect(err).toMatchObject({ clickhouseCode: 60 });
  });
});
