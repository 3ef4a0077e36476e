export * from './errors.ts';
export * from './credentials.ts';
export * from './device-registry.ts';
export * from './ingest-config.ts';
export * from './ingest-metrics.ts';
export * from './ingest-service.ts';
export * from './mqtt-broker.ts';
export * from './telemetry-pipeline.ts';
export * from './http-api.ts';
export * from './http-access.ts';
export * from './pipeline-status-publisher.ts';
// The per-address guard lives in protocol (analytics and the verifier use it too); re-exported for ingest's users.
export { createAddressGuard, normalizeAddress, type AddressGuard, type AddressGuardConfig } from '@cityops/protocol';
