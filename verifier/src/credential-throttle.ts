export interface CredentialThrottleConfig {
  /** Sustained checks per second one credential may ask for (a door sees a few people a second). */
  readonly checksPerSecond: number;
  /** Checks it may ask for at once after a quiet spell (a queue at the door, an offline spell ending). */
  readonly burst: number;
  /** Credentials tracked at once; the least recently seen is forgotten first (counted). */
  readonly maxCredentials: number;
  /** A throttled credential is flagged at most once per this long, however long the flood. */
  readonly flagWindowMs: number;
}

export interface CredentialThrottleDeps {
  readonly now: () => number;
  /** Called when a credential is forgotten to keep the map within `maxCredentials`. */
  readonly onEvict?: () => void;
}

export type ThrottleDecision =
  | { readonly allowed: true }
  /** `flag`: the first refusal of this credential in its flag window: report it (once). */
  | { readonly allowed: false; readonly retryAfterMs: number; readonly flag: boolean };

export interface CredentialThrottle {
  readonly checksPerSecond: number;
  readonly burst: number;
  /** Takes one check from the credential's bucket, or says when it may ask again. */
  take(credential: string): ThrottleDecision;
  /** Credentials refused within the last flag window (the gauge of flagged credentials). */
  flagged(): number;
  size(): number;
}

interface Bucket {
  tokens: number;
  refilledAt: number;
  /** When it was last flagged; -Infinity: never. */
  flaggedAt: number;
  /** When it was last refused; -Infinity: never. */
  refusedAt: number;
}

const ALLOWED: ThrottleDecision = Object.freeze({ allowed: true });

/**
 * A token bucket per credential (a scanner id, or `venue-token:<name>`): `burst` checks at once,
 * refilled at `checksPerSecond`. Memory is bounded by `maxCredentials` (a Map in least-recently-seen
 * order: a credential forgotten comes back with a full bucket, which costs at most one burst); time
 * comes from `now`, so tests need no sleeps.
 */
export function createCredentialThrottle(config: CredentialThrottleConfig, deps: CredentialThrottleDeps): CredentialThrottle {
  const perMs = config.checksPerSecond / 1000;
  const buckets = new Map<string, Bucket>();

  function touch(credential: string, at: number): Bucket {
    let bucket = buckets.get(credential);
    if (bucket !== undefined) {
      buckets.delete(credential);
    } else {
      bucket = { tokens: config.burst, refilledAt: at, flaggedAt: -Infinity, refusedAt: -Infinity };
      while (buckets.size >= config.maxCredentials) {
        const oldest = buckets.keys().next().value;
        if (oldest === undefined) break;
        buckets.delete(oldest);
        deps.onEvict?.();
      }
    }
    buckets.set(credential, bucket);
    return bucket;
  }

  return {
    checksPerSecond: config.checksPerSecond,
    burst: config.burst,
    take(credential) {
      const at = deps.now();
      const bucket = touch(credential, at);
      // A clock stepping back refills nothing (and takes nothing back).
      bucket.tokens = Math.min(config.burst, bucket.tokens + Math.max(0, at - bucket.refilledAt) * perMs);
      bucket.refilledAt = Math.max(bucket.refilledAt, at);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return ALLOWED;
      }
      bucket.refusedAt = at;
      const flag = at - bucket.flaggedAt >= config.flagWindowMs;
      if (flag) bucket.flaggedAt = at;
      return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / perMs), flag };
    },
    flagged() {
      const since = deps.now() - config.flagWindowMs;
      let n = 0;
      for (const bucket of buckets.values()) if (bucket.refusedAt > since) n++;
      return n;
    },
    size: () => buckets.size,
  };
}
