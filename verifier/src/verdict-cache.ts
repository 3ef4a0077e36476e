import { createStringInterner } from './string-interner.ts';
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

export interface VerdictCacheConfig {
  readonly maxEntries: number;
  /** Distinct strings the cached verdicts share (kinds, reasons, issuers: a few dozen in practice); default 4096. */
  readonly internedStrings?: number;
}

const NONE = -1;
/** Longer strings are not shared (a detail quoting input, rarely repeated). */
const INTERNED_MAX_LENGTH = 256;
/** A verdict's string fields (verdict.ts); arrays (licence types, stale sources) are rare and kept as they come. */
const STRING_FIELDS = ['verdict', 'reason', 'kind', 'detail', 'issuer', 'colour', 'issuedColour', 'dccType', 'licenceScope'] as const;

/**
 * A bounded LRU of recent verdicts, keyed by venue and the QR text's SHA-256 (never the text).
 *
 * The recency order is a doubly linked list over slots (two Int32Arrays), beside a Map from key to
 * slot that is only looked up, never walked. A Map's first entry is not a queue: V8 leaves deleted
 * entries as holes until it rebuilds the table, so taking the oldest as `keys().next()` walked over
 * every entry deleted since, once the cache was full or its entries expired: 31-149 µs a lookup on
 * distinct codes (verifier/test/measure-verdict-cache.ts; the dedup window had the same fault).
 *
 * Entries made under another generation of reference data never answer, and the service clears the
 * cache on every swap so they do not take room either. Expired entries leave from the least recently
 * used end as new ones arrive, so a quiet hour does not hold a full cache of dead verdicts (each is
 * removed once: amortised O(1) per set). The slot arrays grow by doubling up to `maxEntries`, so a
 * large bound costs memory only when it is used.
 *
 * An entry is kept lean, since a full cache lives in the old generation and every eviction is old
 * garbage (issue 20: the verify phase's heap): generation and expiry sit in slot arrays rather than in
 * a wrapper object per entry, and the verdict is stored as a copy whose strings are shared through an
 * interner (a worker's answer brings fresh copies of 'health-code', the issuer, the colour). 547 B an
 * entry became ~300 with a one-digest key (verifier/test/measure-verdict-cache-memory.ts).
 */
export function createVerdictCache(config: VerdictCacheConfig, deps: { readonly onEvict: () => void }): VerdictCache {
  const max = config.maxEntries;
  const index = new Map<string, number>();
  let keys: (string | undefined)[] = [];
  let values: (Verdict | undefined)[] = [];
  let pseudonyms: (string | undefined)[] = [];
  let generations = new Float64Array(0);
  let untils = new Float64Array(0);
  let older = new Int32Array(0);
  let newer = new Int32Array(0);
  // Verdicts draw on few distinct strings (kinds, reasons, issuers, colours); a detail can be anything.
  const strings = createStringInterner({ maxStrings: config.internedStrings ?? 4096, maxLength: INTERNED_MAX_LENGTH });
  /** Slots emptied by expiry or a stale lookup, taken before a new one. */
  let free: number[] = [];
  let used = 0;
  let oldest = NONE;
  let newest = NONE;

  function unlink(slot: number): void {
    const o = older[slot]!;
    const n = newer[slot]!;
    if (o === NONE) oldest = n;
    else newer[o] = n;
    if (n === NONE) newest = o;
    else older[n] = o;
  }

  function append(slot: number): void {
    older[slot] = newest;
    newer[slot] = NONE;
    if (newest === NONE) oldest = slot;
    else newer[newest] = slot;
    newest = slot;
  }

  /** Makes `slot` the most recently used. */
  function touch(slot: number): void {
    if (slot === newest) return;
    unlink(slot);
    append(slot);
  }

  function remove(slot: number): void {
    unlink(slot);
    index.delete(keys[slot]!);
    keys[slot] = undefined;
    values[slot] = undefined;
    pseudonyms[slot] = undefined;
    free.push(slot);
  }

  function grow(): void {
    const capacity = Math.min(max, Math.max(64, older.length * 2));
    const o = new Int32Array(capacity);
    const n = new Int32Array(capacity);
    const g = new Float64Array(capacity);
    const u = new Float64Array(capacity);
    o.set(older);
    n.set(newer);
    g.set(generations);
    u.set(untils);
    older = o;
    newer = n;
    generations = g;
    untils = u;
  }

  /** The verdict with its repeated strings replaced by their canonical copies. */
  function lean(verdict: Verdict): Verdict {
    const copy: Record<string, unknown> = { ...verdict };
    for (const field of STRING_FIELDS) {
      const value = copy[field];
      if (typeof value === 'string') copy[field] = strings.intern(value);
    }
    return copy as unknown as Verdict;
  }

  function store(slot: number, entry: CachedVerdict): void {
    values[slot] = lean(entry.verdict);
    pseudonyms[slot] = entry.pseudonym;
    generations[slot] = entry.generation;
    untils[slot] = entry.until;
  }

  /** Drops expired entries from the least recently used end, up to the first live one. */
  function sweep(now: number): void {
    while (oldest !== NONE && untils[oldest]! <= now) remove(oldest);
  }

  /** A slot for a new entry: an emptied one, a never used one, or the least recently used one's. */
  function takeSlot(): number {
    const reused = free.pop();
    if (reused !== undefined) return reused;
    if (used < max) {
      if (used === older.length) grow();
      return used++;
    }
    const evicted = oldest;
    remove(evicted);
    deps.onEvict();
    return free.pop()!;
  }

  return {
    get size() {
      return index.size;
    },
    get(key, generation, now) {
      const slot = index.get(key);
      if (slot === undefined) return undefined;
      const until = untils[slot]!;
      if (generations[slot] !== generation || now >= until) {
        remove(slot);
        return undefined;
      }
      touch(slot);
      return { verdict: values[slot]!, pseudonym: pseudonyms[slot]!, generation, until };
    },
    set(key, entry, now) {
      if (max === 0) return;
      const known = index.get(key);
      // Dead on arrival (an expired code's verdict): it could never answer, so it takes no one's room.
      if (entry.until <= now) {
        if (known !== undefined) remove(known);
        return;
      }
      if (known !== undefined) {
        store(known, entry);
        touch(known);
        sweep(now);
        return;
      }
      // Dead entries at the old end go first, so a cache full of expired verdicts evicts nothing live.
      sweep(now);
      const taken = takeSlot();
      keys[taken] = key;
      store(taken, entry);
      index.set(key, taken);
      append(taken);
    },
    clear() {
      index.clear();
      keys = [];
      values = [];
      pseudonyms = [];
      generations = new Float64Array(0);
      untils = new Float64Array(0);
      strings.clear();
      older = new Int32Array(0);
      newer = new Int32Array(0);
      free = [];
      used = 0;
      oldest = NONE;
      newest = NONE;
    },
  };
}
