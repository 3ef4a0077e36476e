import { defineErrors, type CityopsError } from '@cityops/protocol';

/** Errors raised by the warehouse. Every one carries `cause` when something underneath failed. */
export const warehouseErrors = defineErrors({
  WAREHOUSE_ERR_CONFIG: { message: 'Warehouse configuration is invalid', statusCode: 500 },
  WAREHOUSE_ERR_ARGUMENT: { message: 'Warehouse call has an invalid argument', statusCode: 400 },
  WAREHOUSE_ERR_UNAVAILABLE: { message: 'Warehouse is unavailable', statusCode: 503 },
  WAREHOUSE_ERR_AUTH: { message: 'Warehouse refused the credentials', statusCode: 503 },
  WAREHOUSE_ERR_QUERY: { message: 'Warehouse rejected the statement', statusCode: 500 },
  WAREHOUSE_ERR_MIGRATION: { message: 'Warehouse schema migration failed', statusCode: 500 },
  WAREHOUSE_ERR_CLOSED: { message: 'Warehouse is closed', statusCode: 503 },
});

export type WarehouseErrorCode = keyof typeof warehouseErrors;

/** A warehouse error that came from ClickHouse keeps the server's own error number. */
export type WarehouseError = CityopsError & { readonly clickhouseCode?: number };
