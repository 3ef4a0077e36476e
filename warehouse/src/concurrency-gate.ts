export interface ConcurrencyGateConfig {
  /** Tasks running at once. */
  readonly maxRunning: number;
  /** Tasks waiting for a turn; one more is refused at once (`busy`). */
  readonly maxQueued: number;
}

export interface ConcurrencyGate {
  /** Runs `task` when a turn is free; rejects with `busy()` without running it when the queue is full. */
  run<T>(task: () => Promise<T>): Promise<T>;
  running(): number;
  queued(): number;
}

/**
 * At most `maxRunning` tasks at once, at most `maxQueued` waiting (first come, first served). For
 * work that occupies one of libuv's four pool threads for tens of milliseconds (scrypt): unbounded,
 * a flood of logins takes every thread, and every file write queues behind it.
 */
export function createConcurrencyGate(config: ConcurrencyGateConfig, busy: () => Error): ConcurrencyGate {
  let running = 0;
  const waiting: (() => void)[] = [];

  function release(): void {
    running--;
    const next = waiting.shift();
    if (next !== undefined) {
      running++;
      next();
    }
  }

  return {
    run(task) {
      if (running < config.maxRunning) {
        running++;
        return Promise.resolve().then(task).finally(release);
      }
      if (waiting.length >= config.maxQueued) return Promise.reject(busy());
      return new Promise((resolve, reject) => {
        waiting.push(() => void Promise.resolve().then(task).then(resolve, reject).finally(release));
      });
    },
    running: () => running,
    queued: () => waiting.length,
  };
}
