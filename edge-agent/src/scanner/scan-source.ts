import type { ScanInput } from './scanner-agent.ts';

/** Codes to scan: an async iterable (pulling, so a slow door slows the source), stoppable, with stats. */
export interface ScanSource<S = Record<string, number>> extends AsyncIterable<ScanInput> {
  stop(): Promise<void>;
  stats(): S;
}
