import { warehouseErrors, type WarehouseError } from './errors.ts';
import { toWarehouseError } from './map-clickhouse-error.ts';

/**
 * Maps chDB's typed errors (`code` CHDB_*, `clickhouseCode` the engine's number) to warehouse codes.
 * CHDB_CONNECTION covers "another data directory is already open in this process".
 */
export function fromChdbError(err: unknown, context: string): WarehouseError {
  const { code, clickhouseCode, message } = (typeof err === 'object' && err !== null ? err : {}) as {
    code?: unknown;
    clickhouseCode?: unknown;
    message?: unknown;
  };
  const text = typeof message === 'string' ? message : String(err);
  switch (code) {
    case 'CHDB_CONNECTION':
    case 'CHDB_TIMEOUT':
      return warehouseErrors.WAREHOUSE_ERR_UNAVAILABLE(`${context}: ${text}`, err);
    case 'CHDB_CLOSED':
      return warehouseErrors.WAREHOUSE_ERR_CLOSED(`${context}: ${text}`, err);
    default:
      return toWarehouseError(err, context, typeof clickhouseCode === 'number' ? clickhouseCode : undefined);
  }
}
