import type { PolicySnapshot } from './venue-policies.ts';
import type { RevocationSnapshot } from './revocation-list.ts';
import type { StatusSnapshot } from './status-feed.ts';
import type { TrustSnapshot } from './trust-list.ts';
import type { StaleSource } from './verdict.ts';

/**
 * Everything a verdict depends on besides the code and the clock, as one immutable object. A
 * request reads `current()` once and uses that object to the end, so a swap never changes the
 * rules under a request in flight; any swap makes a new object with a new generation.
 */
export interface VerificationContext {
  readonly generation: number;
  readonly trust: TrustSnapshot;
  readonly revocation: RevocationSnapshot;
  readonly status: StatusSnapshot;
  readonly policies: PolicySnapshot;
  /**
   * When each watched source was last known current (ms since the epoch), with its maximum age.
   * A source that is not configured is absent and never stale.
   */
  readonly freshness: Readonly<Partial<Record<StaleSource, { readonly freshAt: number; readonly maxAgeMs: number }>>>;
}

/** The sources past their maximum age at `now`, in a fixed order. */
export function staleSources(context: VerificationContext, now: number): StaleSource[] {
  const out: StaleSource[] = [];
  for (const source of ['trust', 'revocation', 'status'] as const) {
    const f = context.freshness[source];
    if (f !== undefined && now - f.freshAt > f.maxAgeMs) out.push(source);
  }
  return out;
}

/** The first time after `now` at which a source becomes stale (Infinity when none will). */
export function nextStaleAt(context: VerificationContext, now: number): number {
  let next = Infinity;
  for (const f of Object.values(context.freshness)) {
    const at = f.freshAt + f.maxAgeMs;
    if (at >= now && at < next) next = at;
  }
  return next;
}
