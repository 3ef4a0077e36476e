import type { Random } from './seeded-random.ts';

export interface BackoffConfig {
  readonly minMs: number;
  readonly maxMs: number;
}

export interface Backoff {
  /** The delay before the next attempt; each call is one more failed attempt. */
  next(): number;
  /** After a success: the next delay starts from the bottom again. */
  reset(): void;
  readonly attempts: number;
}

/**
 * Exponential backoff with "full jitter" above a floor: attempt n waits a uniform draw from
 * [minMs, min(maxMs, minMs * 2^(n+1))]. The jitter spreads a whole city of gateways that lost the
 * same broker, so they do not come back in one wave; the ceiling keeps an outage from pushing the
 * next try out indefinitely. Deterministic for a seeded `random`.
 */
export function createBackoff(config: BackoffConfig, random: Random): Backoff {
  const { minMs, maxMs } = config;
  let attempts = 0;
  return {
    next() {
      // Cap the exponent: 2^31 * minMs is far above any maxMs, and avoids Infinity.
      const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempts + 1, 31));
      attempts++;
      return Math.round(minMs + random() * (ceiling - minMs));
    },
    reset() {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}
