import { join, resolve } from 'node:path';
import { parseWarehouseUrl, type WarehouseConfigInput } from '@cityops/warehouse';

/**
 * Where the warehouse is: `--store URL` (a ClickHouse server `http://user:pass@host:8123/db`, or
 * `chdb:///path`), else the embedded chDB store inside the data directory.
 */
export function warehouseConfigFrom(options: { store?: string | undefined; data: string }): WarehouseConfigInput {
  if (options.store !== undefined) return parseWarehouseUrl(options.store);
  return { backend: 'chdb', path: join(resolve(options.data), 'warehouse') };
}
