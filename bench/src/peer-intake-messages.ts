/** What peer-intake-process.ts is started with (argv[2], JSON). */
export interface PeerIntakeConfig {
  readonly brokerUrl: string;
  readonly clientId: string;
  /** The chDB store (created if missing). */
  readonly dir: string;
  /** An insert when this many rows are buffered … */
  readonly flushRows: number;
  /** … or this long after the first row of a batch, whichever comes first. */
  readonly flushMs: number;
  /** Bytes of RowBinary buffered at most while an insert runs; beyond, batches are dropped (and counted). */
  readonly maxBufferBytes: number;
}

export interface PeerIntakeCounts {
  /** count() of the store's table. */
  readonly stored: number;
  readonly receivedBatches: number;
  readonly droppedBatches: number;
  readonly undecodable: number;
  readonly inserts: number;
}

/** Parent → peer: `count` asks the store; `stop` unsubscribes, inserts what is buffered, counts, closes. */
export type PeerIntakeCommand = { type: 'count' } | { type: 'stop' };

export type PeerIntakeMessage =
  | { type: 'ready' }
  | { type: 'count'; counts: PeerIntakeCounts }
  | { type: 'stopped'; counts: PeerIntakeCounts }
  | { type: 'error'; message: string };
