import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCityopsError } from '@cityops/protocol';
import { openWarehouse, type Warehouse } from '@cityops/warehouse';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CLICKHOUSE_SERVER_BIN } from '../../test-peers/clickhouse-server.ts';
import { freePort } from '../../test-peers/free-port.ts';

// Fault: the ClickHouse server stops under load and is started again on the same data. Debian's
// clickhouse-server 18.16 cannot hold our schema (no DateTime64, LowCardinality or query parameters),
// so this drives the server backend's transport on a table 18.16 understands: the client's errors
// must carry a code, the same Warehouse object must work again after the restart, and the retried
// batches must end up stored exactly once. The schema's own path is faults-warehouse-outage (chDB).

const ROWS = 100;
const AFTER_RESTART = 10; // batches acknowledged after the restart before the load ends

/** A clickhouse-server on fixed ports and a fixed data dir, so it can be stopped and started again. */
async function restartableServer() {
  const dir = await mkdtemp(join(tmpdir(), 'cityops-faults-ch-'));
  const password = randomBytes(12).toString('hex');
  const http = await freePort();
  const tcp = await freePort();
  const interserver = await freePort();
  const configFile = join(dir, 'config.xml');
  await writeFile(
    configFile,
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${http}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <interserver_http_port>${interserver}</interserver_http_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <mark_cache_size>67108864</mark_cache_size>
  <users><default><password>${password}</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`,
  );
  let child: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  const server = {
    url: `http://127.0.0.1:${http}`,
    password,
    start() {
      child = spawn(CLICKHOUSE_SERVER_BIN, [`--config-file=${configFile}`], { cwd: dir, stdio: 'ignore' });
      exited = once(child, 'exit');
      exited.catch(() => undefined);
    },
    /** SIGTERM, as an operator's restart does, and wait for the process to be gone. */
    async stop() {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
    async remove() {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe.skipIf(!existsSync(CLICKHOUSE_SERVER_BIN))('fault: clickhouse-server stopped and restarted under load (server backend transport, 18.16)', () => {
  it('fails with coded errors while it is down, and the retried batches are stored exactly once after the restart', { timeout: 90_000 }, async () => {
    const server = await restartableServer();
    cleanups.push(() => server.remove());
    server.start();
    let warehouse: Warehouse | undefined;
    await vi.waitFor(
      async () => {
        warehouse = await openWarehouse({ backend: 'server', url: server.url, password: server.password, migrate: false, requestTimeoutMs: 5000 });
      },
      { timeout: 30_000, interval: 50 },
    );
    const wh = warehouse!;
    cleanups.push(() => wh.close());
    await wh.command('CREATE TABLE faults (batch UInt32, i UInt32) ENGINE = MergeTree ORDER BY (batch, i)');

    const acknowledged: number[] = [];
    const errors: unknown[] = [];
    let back!: () => void;
    const serverBack = new Promise<void>((resolve) => (back = resolve));
    const stored = async () => new Set((await wh.query<{ batch: number }>('SELECT DISTINCT batch FROM faults')).map((r) => Number(r.batch)));
    // The load: batches one after another. A failed insert may or may not have committed, so after the
    // restart the writer asks which batches are there before sending it again (as ingest's replay does).
    let last = Number.POSITIVE_INFINITY; // the load runs until told where to end
    const load = (async () => {
      for (let b = 0; b <= last; b++) {
        const rows = Array.from({ length: ROWS }, (_, i) => ({ batch: b, i }));
        for (;;) {
          try {
            await wh.insertRows('faults', rows);
            break;
          } catch (err) {
            errors.push(err);
            await serverBack;
            if ((await stored()).has(b)) break;
          }
        }
        acknowledged.push(b);
      }
    })();
    load.catch(() => undefined);

    await vi.waitFor(() => expect(acknowledged.length).toBeGreaterThanOrEqual(15), { timeout: 30_000, interval: 5 });
    await server.stop();
    const ackedWhileUp = acknowledged.length;
    await vi.waitFor(() => expect(errors.length).toBeGreaterThan(0), { timeout: 20_000, interval: 5 });
    // Down: the warehouse says so with a code, and a query fails the same way.
    const down = await wh.ping().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCityopsError(down, 'WAREHOUSE_ERR_UNAVAILABLE')).toBe(true);

    server.start();
    await vi.waitFor(() => wh.ping(), { timeout: 30_000, interval: 50 });
    back();
    await vi.waitFor(() => expect(errors.length > 0 && acknowledged.length > ackedWhileUp).toBe(true), { timeout: 30_000, interval: 5 });
    last = acknowledged.length + AFTER_RESTART;
    await load;
    const batches = last + 1;

    // Every error was one of ours with a code (and kept what happened underneath as cause).
    expect(errors.length).toBeGreaterThan(0);
    for (const err of errors) {
      expect(isCityopsError(err, 'WAREHOUSE_ERR_UNAVAILABLE') || isCityopsError(err, 'WAREHOUSE_ERR_QUERY'), String(err)).toBe(true);
      expect((err as Error).cause).toBeInstanceOf(Error);
    }
    // The same Warehouse object, after the restart: every batch exactly once, what was acknowledged before the stop included.
    const counts = await wh.query<{ batch: number; n: number; keys: number }>('SELECT batch, count() AS n, uniqExact(i) AS keys FROM faults GROUP BY batch ORDER BY batch');
    expect(counts.map((c) => ({ batch: Number(c.batch), n: Number(c.n), keys: Number(c.keys) }))).toEqual(
      Array.from({ length: batches }, (_, batch) => ({ batch, n: ROWS, keys: ROWS })),
    );
    console.info(`clickhouse-server 18.16 restart: ${ackedWhileUp} batches acknowledged before the stop, ${errors.length} coded error(s), all ${batches} stored once`);
  });
});
