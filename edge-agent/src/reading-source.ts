import type { Reading } from '@cityops/protocol';

/**
 * A sensor source: an async iterable of readings. Iterating pulls, so a slow consumer slows the
 * source down instead of piling readings up in memory. `stop()` ends the iteration.
 */
export interface ReadingSource<S = Record<string, number>> extends AsyncIterable<Reading> {
  stop(): Promise<void>;
  stats(): S;
}
