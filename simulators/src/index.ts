export * from './city.ts';
export * from './credentials-file.ts';
export * from './direct-publisher.ts';
export * from './latency-summary.ts';
export * from './agent-fleet.ts';
export * from './provision-via-api.ts';
