import { ClickHouseLogLevel, createClient, type ClickHouseClientConfigOptions } from '@clickhouse/client';
import type { Backend } from './backend.ts';
import { toWarehouseError } from './map-clickhouse-error.ts';
import { warehouseErrors } from './errors.ts';
import { readingsToJsonRows } from './readings-json.ts';
import type { QueryParams } from './types.ts';
import type { ServerWarehouseConfig } from './warehouse-config.ts';

/** A transport other than HTTP for the client (tests run the server path on chDB's Connection). */
export type ClickhouseConnection = NonNullable<ClickHouseClientConfigOptions['connection']>;

/**
 * A ClickHouse server through @clickhouse/client (HTTP). The client cannot send RowBinary, so inserts
 * are JSONEachRow. Query parameters are sent only when there are some: servers before 19.x reject
 * the `param_*` settings outright.
 */
export function openServerBackend(config: ServerWarehouseConfig, connection?: ClickhouseConnection): Backend {
  const client = createClient({
    ...(connection === undefined ? {} : { connection }),
    url: config.url,
    username: config.username,
    password: config.password,
    database: config.database,
    request_timeout: config.requestTimeoutMs,
    application: 'cityops-warehouse',
    // Every failure is rethrown as a coded error with its cause; the caller logs it once.
    log: { level: ClickHouseLogLevel.OFF },
  });
  const querySettings = {
    max_result_rows: String(config.maxQueryRows),
    result_overflow_mode: 'throw',
    // 64-bit integers as JSON numbers, as chDB returns them (servers quote them by default).
    output_format_json_quote_64bit_integers: 0,
  } as const;

  const withParams = (params: QueryParams | undefined) =>
    params === undefined || Object.keys(params).length === 0 ? {} : { query_params: params };

  async function insert(
    table: string,
    values: readonly Record<string, unknown>[],
    columns: readonly string[] | undefined,
    settings: Record<string, string> | undefined,
  ): Promise<void> {
    const [first, ...rest] = columns ?? [];
    try {
      await client.insert({
        table,
        values,
        format: 'JSONEachRow',
        ...(first === undefined ? {} : { columns: [first, ...rest] }),
        ...(settings === undefined ? {} : { clickhouse_settings: settings }),
      });
    } catch (err) {
      throw toWarehouseError(err, `insert into ${table} failed`);
    }
  }

  return {
    kind: 'server',
    async query<T>(sql: string, params?: QueryParams): Promise<T[]> {
      try {
        const result = await client.query({
          query: sql,
          format: 'JSONEachRow',
          ...withParams(params),
          clickhouse_settings: querySettings,
        });
        return await result.json<T>();
      } catch (err) {
        throw toWarehouseError(err, 'query failed');
      }
    },
    async command(sql, params) {
      try {
        await client.command({ query: sql, ...withParams(params) });
      } catch (err) {
        throw toWarehouseError(err, 'statement failed');
      }
    },
    insertJsonRows: (table, rows, columns) => insert(table, rows, columns, undefined),
    packReadings: (batch) => ({ format: 'json', rows: readingsToJsonRows([batch]) }),
    // JSON rows: nothing to reuse.
    releaseReadings: () => undefined,
    insertReadings(batches, rows, dedupToken) {
      const values: Record<string, unknown>[] = [];
      for (const { data } of batches) {
        if (data.format !== 'json') throw warehouseErrors.WAREHOUSE_ERR_ARGUMENT('a batch packed for the embedded store');
        for (const row of data.rows) values.push(row);
      }
      // One block: the server neither cuts the body by rows nor leaves parsed chunks unsquashed.
      return insert('readings', values, undefined, {
        insert_deduplication_token: dedupToken,
        max_insert_block_size: String(rows),
        min_insert_block_size_rows: String(rows),
        min_insert_block_size_bytes: '0',
      });
    },
    async ping() {
      // /ping answers without credentials; a query proves the user, password and database too.
      try {
        await client.command({ query: 'SELECT 1' });
      } catch (err) {
        throw toWarehouseError(err, `cannot reach ClickHouse at ${config.url}`);
      }
    },
    async close() {
      await client.close();
    },
  };
}
