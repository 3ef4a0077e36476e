import type { Verdict } from './verdict.ts';

/** A remembered verdict with what its audit event needs (the pseudonym, never the subject). */
export interface CachedVerdict {
  readonly verdict: Verdict;
  readonly pseudonym: string;
  /** The reference-data generation the verdict was made with. */
  readonly generation: number;
  /** ms since the epoch after which the entry no longer answers. */
  readonly until: number;
}

export interface VerdictCache {
  /** The entry, if it was made with this generation and is still within its time. */
  get(key: string, generation: number, now: number): CachedVerdict | undefined;
  /** Remembers `entry`; expired entries at the least recently used end are dropped on the way. */
  set(key: string, entry: CachedVerdict, now: number): void;
  clear(): void;
  readonly size: number;
}

/**
 * A bounded LRU of recent verdicts, keyed by venue and the QR text's SHA-256 (never the text).
 * A Map keeps insertion order: a hit is moved to the end, and when full the first (least recently
 * used) entry goes. Entries made under another generation of reference data never answer, and the
 * service clears the cache on every swap so they do not take room either. Expired entries leave
 * from the least recently used end as new ones arrive, so a quiet hour does not hold a full cache
 * of dead verdicts (each is deleted once: the work is amortised O(1) per set).
 */
export function createVerdictCache(config: { readonly maxEntries: number }, deps: { readonly onEvict: () => void }): VerdictCache {
  const entries = new Map<string, CachedVerdict>();
  return {
    get size() {
      return entries.size;
    },
    get(key, generation, now) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      entries.delete(key);
      if (entry.generation !== generation || now >= entry.until) return undefined;
      entries.set(key, entry);
      return entry;
    },
    set(key, entry, now) {
      if (config.maxEntries === 0) return;
      entries.delete(key);
      entries.set(key, entry);
      for (const [oldest, { until }] of entries) {
        if (until > now) break;
        entries.delete(oldest);
      }
      while (entries.size > config.maxEntries) {
        entries.delete(entries.keys().next().value as string);
        deps.onEvict();
      }
    },
    clear() {
      entries.clear();
    },
  };
}
