import { parseConfig } from '@cityops/protocol';
import type { FromSchema } from 'json-schema-to-ts';
import { warehouseErrors } from './errors.ts';

const commonProperties = {
  /** Readings older than this are dropped (table TTL); a change is applied at open with MODIFY TTL. */
  retentionDays: { type: 'integer', minimum: 1, maximum: 36500, default: 90 },
  /** Apply pending schema migrations and the retention at open. False: touch no DDL at all. */
  migrate: { type: 'boolean', default: true },
  /** Bound on the rows of one insertBatches call (the RowBinary buffer and one insert block). */
  maxInsertRows: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 1_000_000 },
  /** Bound on the rows one query may return (results are buffered in memory). */
  maxQueryRows: { type: 'integer', minimum: 1, maximum: 100_000_000, default: 1_000_000 },
} as const;

export const chdbConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['backend', 'path'],
  properties: {
    backend: { const: 'chdb' },
    /** The embedded store's data directory; one per process. Relative paths resolve against the cwd. */
    path: { type: 'string', minLength: 1 },
    ...commonProperties,
  },
} as const;

export const serverConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['backend', 'url'],
  properties: {
    backend: { const: 'server' },
    /** The server's HTTP interface, e.g. `http://clickhouse:8123`. */
    url: { type: 'string', pattern: '^https?://[^\\s/?#]+/?$' },
    username: { type: 'string', minLength: 1, default: 'default' },
    password: { type: 'string', default: '' },
    database: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$', default: 'default' },
    requestTimeoutMs: { type: 'integer', minimum: 100, maximum: 600_000, default: 30_000 },
    ...commonProperties,
  },
} as const;

export type ChdbWarehouseConfig = FromSchema<typeof chdbConfigSchema>;
export type ServerWarehouseConfig = FromSchema<typeof serverConfigSchema>;
export type WarehouseConfig = ChdbWarehouseConfig | ServerWarehouseConfig;

/** What a caller may pass: the defaulted fields are optional. */
export type WarehouseConfigInput =
  | FromSchema<typeof chdbConfigSchema, { keepDefaultedPropertiesOptional: true }>
  | FromSchema<typeof serverConfigSchema, { keepDefaultedPropertiesOptional: true }>;

/**
 * Validates once, fills in defaults, reports every problem in one WAREHOUSE_ERR_CONFIG, freezes.
 * The backend is read first because it decides which schema the rest must follow.
 */
export function parseWarehouseConfig(input: unknown): WarehouseConfig {
  const backend = typeof input === 'object' && input !== null ? (input as { backend?: unknown }).backend : undefined;
  if (backend === 'chdb') return parseConfig<ChdbWarehouseConfig>(chdbConfigSchema, input, warehouseErrors.WAREHOUSE_ERR_CONFIG);
  if (backend === 'server') {
    return parseConfig<ServerWarehouseConfig>(serverConfigSchema, input, warehouseErrors.WAREHOUSE_ERR_CONFIG);
  }
  throw warehouseErrors.WAREHOUSE_ERR_CONFIG(`/backend must be "chdb" or "server", got ${JSON.stringify(backend)}`);
}
