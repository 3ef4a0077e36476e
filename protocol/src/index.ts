export * from './errors.ts';
export * from './device-id.ts';
export * from './hierarchy.ts';
export * from './topics.ts';
export * from './telemetry-schema.ts';
export * from './telemetry-codec.ts';
export * from './config-schema.ts';
