export * from './types.ts';
export { openWarehouse, type WarehouseDeps } from './open-warehouse.ts';
// A warehouse made slow on purpose, for drills and benchmarks (cityops up --slow-inserts-ms).
export { withInsertDelay, type InsertDelayOptions } from './insert-delay.ts';
export { parseWarehouseUrl } from './warehouse-url.ts';
export {
  parseWarehouseConfig,
  chdbConfigSchema,
  serverConfigSchema,
  type WarehouseConfig,
  type WarehouseConfigInput,
  type ChdbWarehouseConfig,
  type ServerWarehouseConfig,
} from './warehouse-config.ts';
export { warehouseErrors, type WarehouseError, type WarehouseErrorCode } from './errors.ts';
export { MIGRATIONS } from './migrations/migrations.ts';
export type { Migration } from './migrations/migration.ts';
// Building blocks of the insert paths, for the benchmark that measures them against the engine.
export { createRowBinaryWriter, type RowBinaryWriter, type RowBinaryWriterOptions } from './rowbinary-encoder.ts';
export {
  encodeReadingsRowBinary,
  READINGS_ROWBINARY_COLUMN_LIST,
  READINGS_ROWBINARY_STRUCTURE,
} from './readings-rowbinary.ts';
export { readingsToJsonRows, type ReadingJsonRow } from './readings-json.ts';
export { formatDateTime64Utc } from './datetime64-text.ts';
export { readEngineMemory, ENGINE_MEMORY_METRICS, type EngineMemoryKind } from './engine-memory.ts';
// The device registry (ids, kinds, places, secret hashes): ingest authenticates devices with it,
// the verifier scanners (issue 16). One home, below both.
export {
  createDeviceRegistry,
  deviceRegistryConfigSchema,
  MAX_CONSOLE_DEPARTMENTS,
  MAX_SENSORS_CEILING,
  type DeviceInfo,
  type DeviceRegistry,
  type DeviceRegistryConfig,
  type DeviceRegistryDeps,
  type CredentialsListener,
} from './device-registry.ts';
export {
  createSensorSets,
  sensorSetsConfigSchema,
  type SensorOrigin,
  type SensorRecord,
  type SensorRefusal,
  type SensorSetListing,
  type SensorSets,
  type SensorSetsConfig,
  type SensorSetsDeps,
  type Screened,
} from './sensor-sets.ts';
export { generateSecret, hashSecret, verifySecret } from './device-secrets.ts';
export { registryErrors } from './registry-errors.ts';
export { createConcurrencyGate, type ConcurrencyGate, type ConcurrencyGateConfig } from './concurrency-gate.ts';
