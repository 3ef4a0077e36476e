export interface OfflineEventBudgetConfig {
  /** As `rates.checksPerSecond`: what one door can check in a second, sustained. */
  readonly checksPerSecond: number;
  /** As `rates.burst`: a queue at the door, on top of each minute's share. */
  readonly burst: number;
  /** (credential, minute) counters kept; the least recently used is forgotten first (counted). */
  readonly maxKeys: number;
  /** A credential over its budget is flagged at most once per this long. */
  readonly flagWindowMs: number;
}

export interface OfflineEventBudget {
  /** Counts one offline event the credential says it checked at `at`; false when that minute is full. */
  admit(credential: string, at: number): boolean;
  /** True once per flag window for a credential that went over its budget at `now`. */
  flag(credential: string, now: number): boolean;
}

const MINUTE_MS = 60_000;

/**
 * What a door can have checked while it was offline: at most `checksPerSecond` × 60 + `burst` events
 * in any minute of its own clock, over all its uploads (a stolen credential cannot write a flood of
 * "offline" verdicts into a venue's statistics by splitting it into many uploads). The events' own
 * times are the only times there are: an upload after an hour offline is legitimately an hour's
 * checks. A resend of events already stored counts again (the store finds duplicates later), so a
 * minute's budget is twice what the online rate allows before a resend is refused.
 */
export function createOfflineEventBudget(config: OfflineEventBudgetConfig, deps: { readonly onEvict?: () => void } = {}): OfflineEventBudget {
  const perMinute = 2 * (Math.ceil(config.checksPerSecond * 60) + config.burst);
  const counts = new Map<string, number>();
  const flaggedAt = new Map<string, number>();

  function remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    while (map.size > config.maxKeys) {
      const oldest = map.keys().next().value;
      if (oldest === undefined) break;
      map.delete(oldest);
      deps.onEvict?.();
    }
  }

  return {
    admit(credential, at) {
      const key = `${credential}\n${Math.floor(at / MINUTE_MS)}`;
      const n = counts.get(key) ?? 0;
      if (n >= perMinute) return false;
      remember(counts, key, n + 1);
      return true;
    },
    flag(credential, now) {
      const last = flaggedAt.get(credential);
      if (last !== undefined && now - last < config.flagWindowMs) return false;
      remember(flaggedAt, credential, now);
      return true;
    },
  };
}
