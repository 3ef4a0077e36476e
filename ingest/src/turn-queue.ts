import { performance } from 'node:perf_hooks';

export interface TurnQueueConfig {
  /** Items run per turn of the event loop at most; I/O (every device's PUBACK) gets its turn in between. */
  readonly perTurn: number;
  /**
   * A turn also ends once it has taken this long (at least one item runs): what an item costs depends
   * on the machine (closing an idle socket took 30–80 µs on our 2 cores under load), and the
   * milliseconds a turn takes are what a PUBACK waiting behind it pays. Absent: no time limit.
   */
  readonly budgetMs?: number;
  /** Items waiting; one more is refused (`push` returns false). */
  readonly maxQueued: number;
}

export interface TurnQueue<T> {
  /** Queues `item` for a later turn; false (not queued) when the queue is full or stopped. */
  push(item: T): boolean;
  size(): number;
  /** Runs nothing more; returns what was still waiting, oldest first, so its owner can close it. */
  stop(): T[];
}

/**
 * Work that arrives in waves (a backlog of accepted connections, a thousand CONNECTs completing in one
 * read) done at most `perTurn` items or `budgetMs` per turn of the event loop (setImmediate), first
 * in, first out, so that one wave never holds the loop for more than a fraction of a millisecond at a
 * time. Bounded by `maxQueued`.
 */
export function createTurnQueue<T>(config: TurnQueueConfig, run: (item: T) => void): TurnQueue<T> {
  const items: Array<T | undefined> = [];
  let head = 0;
  let immediate: NodeJS.Immediate | undefined;
  let stopped = false;

  function drain(): void {
    immediate = undefined;
    const end = Math.min(items.length, head + config.perTurn);
    const until = config.budgetMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + config.budgetMs;
    while (head < end && !stopped) {
      const item = items[head] as T;
      items[head++] = undefined;
      run(item);
      if (performance.now() >= until) break;
    }
    if (head === items.length) {
      items.length = 0;
      head = 0;
    } else if (!stopped) {
      immediate = setImmediate(drain);
    }
  }

  return {
    push(item) {
      if (stopped || items.length - head >= config.maxQueued) return false;
      items.push(item);
      immediate ??= setImmediate(drain);
      return true;
    },
    size: () => items.length - head,
    stop() {
      stopped = true;
      if (immediate !== undefined) clearImmediate(immediate);
      immediate = undefined;
      const rest = items.slice(head) as T[];
      items.length = 0;
      head = 0;
      return rest;
    },
  };
}
