export * from './agent-config.ts';
export * from './agent-deps.ts';
export * from './backoff.ts';
export * from './errors.ts';
export * from './gateway-agent.ts';

export * from './json-lines-source.ts';
export * from './reading-source.ts';
export * from './seeded-random.ts';
export * from './sensor-models.ts';
export * from './simulated-source.ts';
export { createJournal, WHEN_FULL_POLICIES, FSYNC_POLICIES } from './journal/journal.ts';
export type { Journal, JournalConfig, JournalStats, DropCount, DropEvent, WhenFullPolicy } from './journal/journal.ts';
export type { FsyncPolicy, JournalRecord, LaneStats, RecordRef } from './journal/lane.ts';
export { LANES, type Lane } from './journal/record-format.ts';
