import type { LatencySummary } from './acked-publisher.ts';

/** A client of the relay load: a scanner's id and broker secret (ignored by an anonymous mosquitto). */
export interface RelayClient {
  readonly id: string;
  readonly secret: string;
}

/** What relay-load-process.ts is started with (argv[2], JSON). */
export interface RelayLoadConfig {
  readonly brokerUrl: string;
  readonly clients: readonly RelayClient[];
  /** QoS 1 requests awaiting PUBACK per client: what bounds the backlog at saturation. */
  readonly inflight: number;
  /** Characters of QR text in each request (a CHC1 health code is 400–500). */
  readonly qrChars: number;
}

export interface RelayLoadStats {
  readonly published: number;
  readonly acked: number;
  readonly errors: number;
  /** Publish → PUBACK since the last `rate` or `stats` command (each starts a new interval). */
  readonly puback: LatencySummary;
}

/** Parent → load process: `messagesPerSecond` for the whole fleet (0 pauses) starts a new interval. */
export type RelayLoadCommand = { type: 'rate'; messagesPerSecond: number } | { type: 'stats' } | { type: 'stop' };

/** Load process → parent. */
export type RelayLoadMessage =
  | { type: 'ready' }
  | { type: 'stats'; stats: RelayLoadStats }
  | { type: 'stopped'; stats: RelayLoadStats }
  | { type: 'error'; message: string };
