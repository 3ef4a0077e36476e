import type { Reading } from '@cityops/protocol';
import type { Timers } from './agent-deps.ts';
import type { Lane } from './journal/record-format.ts';

export interface BatcherConfig {
  /** A lane's batch is closed when it holds this many readings. */
  readonly maxReadings: number;
  /** ...or when its first reading has waited this long (routine lane). */
  readonly maxDelayMs: number;
}

export interface Batcher {
  add(reading: Reading): void;
  /** Closes both lanes' open batches now (at stop, or when a caller must not wait). */
  flush(): void;
  /** Readings held in open batches: at most 2 x maxReadings. */
  readonly size: number;
  stop(): void;
}

export const laneOf = (reading: Reading): Lane => (reading.alarm === true ? 'alarm' : 'routine');

/**
 * Groups readings into batches per lane. Routine readings wait up to `maxDelayMs` for company;
 * alarm readings close their batch at once (alarms that arrive in the same tick share one batch).
 */
export function createBatcher(
  config: BatcherConfig,
  deps: { readonly timers: Timers; readonly onBatch: (lane: Lane, readings: Reading[]) => void },
): Batcher {
  const open: Record<Lane, Reading[]> = { alarm: [], routine: [] };
  let timer: unknown;
  let alarmFlushQueued = false;
  let stopped = false;

  function close(lane: Lane): void {
    if (lane === 'routine') {
      deps.timers.clearTimeout(timer);
      timer = undefined;
    }
    const readings = open[lane];
    if (readings.length === 0) return;
    open[lane] = [];
    deps.onBatch(lane, readings);
  }

  return {
    add(reading) {
      if (stopped) return;
      const lane = laneOf(reading);
      const readings = open[lane];
      readings.push(reading);
      if (readings.length >= config.maxReadings) {
        close(lane);
      } else if (lane === 'alarm') {
        if (!alarmFlushQueued) {
          alarmFlushQueued = true;
          queueMicrotask(() => {
            alarmFlushQueued = false;
            if (!stopped) close('alarm');
          });
        }
      } else if (readings.length === 1) {
        timer = deps.timers.setTimeout(() => close('routine'), config.maxDelayMs);
      }
    },
    flush() {
      close('alarm');
      close('routine');
    },
    get size() {
      return open.alarm.length + open.routine.length;
    },
    stop() {
      stopped = true;
      deps.timers.clearTimeout(timer);
      timer = undefined;
    },
  };
}
