export interface LogLimiterConfig {
  /** A key is logged at most once per this many ms. */
  readonly intervalMs: number;
  /** Keys remembered; beyond, the memory is cleared (a flood of new keys logs again, bounded). */
  readonly maxKeys: number;
}

export interface LogLimiter {
  /** True when `key` (an address, a device) may be logged now; then not again for intervalMs. */
  allow(key: string): boolean;
}

/** Refusals logged once per key and interval: a flood must not flood the log (docs/HOSTILE). */
export function createLogLimiter(config: LogLimiterConfig, deps: { readonly now: () => number }): LogLimiter {
  const last = new Map<string, number>();
  return {
    allow(key) {
      const t = deps.now();
      const previous = last.get(key);
      if (previous !== undefined && t - previous < config.intervalMs) return false;
      if (last.size >= config.maxKeys) last.clear();
      last.set(key, t);
      return true;
    },
  };
}
