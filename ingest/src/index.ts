export * from './errors.ts';
// The device registry lives in the warehouse package (the verifier reads it too); re-exported for
// the callers that know it from here.
export {
  createDeviceRegistry,
  generateSecret,
  hashSecret,
  verifySecret,
  MAX_CONSOLE_DEPARTMENTS,
  type DeviceInfo,
  type DeviceRegistry,
  type DeviceRegistryConfig,
  type DeviceRegistryDeps,
  type CredentialsListener,
} from '@cityops/warehouse';
export * from './ingest-config.ts';
export * from './ingest-metrics.ts';
export * from './ingest-service.ts';
export * from './mqtt-broker.ts';
export * from './telemetry-pipeline.ts';
export * from './http-api.ts';
export * from './http-access.ts';
export * from './pipeline-status-publisher.ts';
