import type { AckedPublisherStats, DeviceLedger, LatencySummary } from './acked-publisher.ts';

/** What soak-load-process.ts is started with (argv[2], JSON). */
export interface LoadProcessConfig {
  readonly brokerUrl: string;
  readonly credentials: string;
  readonly batch: number;
  readonly inflight: number;
}

/** Parent → load process. */
export type LoadCommand = { type: 'rate'; readingsPerSecond: number } | { type: 'sample' } | { type: 'stop' };

/** Load process → parent. */
export type LoadMessage =
  | { type: 'ready' }
  | { type: 'sample'; stats: AckedPublisherStats; puback: LatencySummary; rssBytes: number; heapUsedBytes: number }
  | { type: 'ledger'; stats: AckedPublisherStats; puback: LatencySummary; devices: DeviceLedger[] }
  | { type: 'error'; message: string };
