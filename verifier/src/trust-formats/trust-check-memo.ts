/**
 * What a trust source's last read computed, kept for its next read: certificate parses, CMS
 * verifications and CSCA chain checks are pure functions of the bytes they are keyed by (a
 * thumbprint, a signature), so a refresh that brings a list mostly unchanged re-checks only what is
 * new (a 3,000-entry gateway list costs about 2 s of CPU checked from scratch; see read-trust-list.ts).
 * Two generations: what the last read did not use is dropped, so the memo is bounded by one list.
 */
export interface TrustCheckMemo {
  /** A new read starts. */
  begin(): void;
  /** The value for key, computed at most once per two reads; a throw is not remembered. */
  remember<T>(key: string, compute: () => T): T;
}

export function createTrustCheckMemo(): TrustCheckMemo {
  let current = new Map<string, unknown>();
  let previous = new Map<string, unknown>();
  return {
    begin() {
      previous = current;
      current = new Map();
    },
    remember<T>(key: string, compute: () => T): T {
      if (current.has(key)) return current.get(key) as T;
      const value = previous.has(key) ? (previous.get(key) as T) : compute();
      current.set(key, value);
      return value;
    },
  };
}

/** No memory: every read computes everything (the CLI, one-off reads). */
export const NO_MEMO: TrustCheckMemo = Object.freeze({
  begin() {},
  remember: <T>(_key: string, compute: () => T): T => compute(),
});
