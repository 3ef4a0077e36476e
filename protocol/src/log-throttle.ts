export interface LogThrottleOptions {
  /** A key is let through at most once per interval (0: every time). */
  readonly intervalMs: number;
  /** Keys remembered at most; beyond, the memory is dropped (each key costs one extra line then). */
  readonly maxKeys?: number;
  readonly now: () => number;
}

/**
 * Once per key (an address) per interval: a flood of refusals must not flood the log, and the
 * memory of who was logged stays bounded. True: log this one.
 */
export function createLogThrottle(options: LogThrottleOptions): (key: string) => boolean {
  const maxKeys = options.maxKeys ?? 4096;
  const lastLogged = new Map<string, number>();
  return (key) => {
    const t = options.now();
    const last = lastLogged.get(key);
    if (last !== undefined && t - last < options.intervalMs) return false;
    if (lastLogged.size >= maxKeys) lastLogged.clear();
    lastLogged.set(key, t);
    return true;
  };
}
