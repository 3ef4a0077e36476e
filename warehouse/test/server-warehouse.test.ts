import { isCityopsError } from '@cityops/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../test-peers/free-port.ts';
import { startClickhouseServer, type ClickhouseServer } from '../../test-peers/clickhouse-server.ts';
import { openWarehouse, readEngineMemory, type ServerWarehouseConfig, type Warehouse } from '../src/index.ts';

// The server backend's transport against a real clickhouse-server. Debian ships 18.16, which has no
// query parameters, DateTime64, LowCardinality or TTL: the schema is not migrated here (migrate:
// false) and the tests use a table 18.16 understands. The full schema is covered on chDB.
let server: ClickhouseServer;

type ServerOptions = Partial<Omit<ServerWarehouseConfig, 'backend'>>;

function open(extra: ServerOptions = {}): Promise<Warehouse> {
  return openWarehouse({
    backend: 'server',
    url: server.url,
    username: server.username,
    password: server.password,
    migrate: false,
    requestTimeoutMs: 5000,
    ...extra,
  });
}

/** Expects a rejection with `code`; an error mapped from a failure underneath must keep it as cause. */
async function expectCode(promise: Promise<unknown>, code: string, hasCause = true): Promise<Error & { clickhouseCode?: number }> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isCityopsError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
  if (hasCause) expect((err as Error).cause, 'a mapped error keeps its cause').toBeInstanceOf(Error);
  return err as Error & { clickhouseCode?: number };
}

beforeAll(async () => {
  server = await startClickhouseServer();
});

afterAll(async () => {
  await server?.stop();
});

describe('server backend against clickhouse-server', () => {
  it('pings, creates a table, inserts rows as JSONEachRow and reads them back', async () => {
    const wh = await open();
    try {
      expect(wh.backend).toBe('server');
      await wh.ping();
      await wh.command(
        'CREATE TABLE IF NOT EXISTS events (id String, n UInt32, ts DateTime, ok UInt8, note String) ENGINE = MergeTree ORDER BY id',
      );
      await wh.insertRows('events', [
        { id: 'a', n: 1, ts: '2026-11-20 08:00:00', ok: 1, note: 'plain' },
        { id: 'b', n: 4294967295, ts: '2026-11-20 08:00:01', ok: 0, note: "x' OR 1=1 --" },
        { id: 'c', n: 3, ts: '2026-11-20 08:00:02', ok: 1, note: 'quote " backslash \\ newline \n 上海' },
      ]);
      await wh.insertRows('events', []);
      const rows = await wh.query<{ id: string; n: number; ts: string; ok: number; note: string }>(
        'SELECT id, n, ts, ok, note FROM events ORDER BY id',
      );
      expect(rows).toEqual([
        { id: 'a', n: 1, ts: '2026-11-20 08:00:00', ok: 1, note: 'plain' },
        { id: 'b', n: 4294967295, ts: '2026-11-20 08:00:01', ok: 0, note: "x' OR 1=1 --" },
        { id: 'c', n: 3, ts: '2026-11-20 08:00:02', ok: 1, note: 'quote " backslash \\ newline \n 上海' },
      ]);
      // Servers quote 64-bit integers in JSON by default; the warehouse asks for numbers, as chDB gives.
      const [count] = await wh.query<{ c: number; big: number }>('SELECT count() AS c, toUInt64(4294967296) AS big FROM events');
      expect(count).toEqual({ c: 3, big: 4294967296 });
    } finally {
      await wh.close();
    }
  });

  it('maps server errors to WAREHOUSE_ERR_QUERY with the ClickHouse code', async () => {
    const wh = await open();
    try {
      const unknown = await expectCode(wh.query('SELECT * FROM no_such_table'), 'WAREHOUSE_ERR_QUERY');
      expect(unknown.clickhouseCode).toBe(60);
      expect(unknown.message).toContain('ClickHouse code 60');
      const syntax = await expectCode(wh.command('SELEC 1'), 'WAREHOUSE_ERR_QUERY');
      expect(syntax.clickhouseCode).toBe(62);
      // Query parameters arrived in 19.x: 18.16 refuses the param_* setting (115 UNKNOWN_SETTING).
      const params = await expectCode(wh.query('SELECT {x:String} AS x', { x: 'a' }), 'WAREHOUSE_ERR_QUERY');
      expect(params.clickhouseCode).toBe(115);
    } finally {
      await wh.close();
    }
  });

  it("reads the engine's memory account from an old server, which lacks the newer caches' metrics", async () => {
    const wh = await open();
    try {
      const memory = await readEngineMemory(wh);
      expect(memory.tracked).toBeGreaterThan(0);
      expect(memory.primary_index_cache).toBeUndefined();
    } finally {
      await wh.close();
    }
  });

  it('refuses a wrong password at open with WAREHOUSE_ERR_AUTH', async () => {
    const err = await expectCode(open({ password: 'not-the-password' }), 'WAREHOUSE_ERR_AUTH');
    expect(err.clickhouseCode).toBe(193);
    const unknownUser = await expectCode(open({ username: 'nobody' }), 'WAREHOUSE_ERR_AUTH');
    expect(unknownUser.clickhouseCode).toBe(192);
  });

  it('reports a port with nothing listening as WAREHOUSE_ERR_UNAVAILABLE', async () => {
    const port = await freePort();
    await expectCode(open({ url: `http://127.0.0.1:${port}` }), 'WAREHOUSE_ERR_UNAVAILABLE');
  });

  it('reports a request that outlives requestTimeoutMs as WAREHOUSE_ERR_UNAVAILABLE', async () => {
    const wh = await open({ requestTimeoutMs: 200 });
    try {
      await expectCode(wh.query('SELECT sleep(1)'), 'WAREHOUSE_ERR_UNAVAILABLE');
    } finally {
      await wh.close();
    }
  });

  it('closes idempotently and refuses calls after close with WAREHOUSE_ERR_CLOSED', async () => {
    const wh = await open();
    const closing = wh.close();
    expect(wh.close()).toBe(closing);
    await closing;
    await expectCode(wh.ping(), 'WAREHOUSE_ERR_CLOSED', false);
    await expectCode(wh.query('SELECT 1'), 'WAREHOUSE_ERR_CLOSED', false);
    await expectCode(wh.command('SELECT 1'), 'WAREHOUSE_ERR_CLOSED', false);
    await expectCode(wh.insertRows('events', [{ id: 'z' }]), 'WAREHOUSE_ERR_CLOSED', false);
  });

  it('turns a server that stopped under an open warehouse into WAREHOUSE_ERR_UNAVAILABLE', async () => {
    const own = await startClickhouseServer();
    const wh = await openWarehouse({ backend: 'server', url: own.url, password: own.password, migrate: false });
    try {
      await wh.ping();
      await own.stop();
      await expectCode(wh.query('SELECT 1'), 'WAREHOUSE_ERR_UNAVAILABLE');
      await expectCode(wh.ping(), 'WAREHOUSE_ERR_UNAVAILABLE');
    } finally {
      await wh.close();
      await own.stop();
    }
  });
});
