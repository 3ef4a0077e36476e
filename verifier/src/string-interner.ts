/** Hands back one canonical copy of each string it has seen, so that many holders share one heap string. */
export interface StringInterner {
  intern(value: string): string;
  readonly size: number;
  clear(): void;
}

/**
 * Strings that come out of a worker's message or a decoded code are fresh heap strings, one per
 * verdict, even when they say the same thing ('health-code', an issuer's name): a verdict cache full
 * of them holds 100,000 copies of a few dozen values (~150 B an entry, measured in
 * verifier/test/measure-verdict-cache-memory.ts). The table is bounded by `maxStrings` (of at most
 * `maxLength` characters each) and starts afresh when full, so a flood of distinct values (forged issuers) costs a clear, never memory.
 */
export function createStringInterner(config: { readonly maxStrings: number; readonly maxLength: number }): StringInterner {
  const table = new Map<string, string>();
  return {
    intern(value) {
      // A long string is rarely repeated, and may be a slice that keeps a larger parent alive.
      if (value.length > config.maxLength) return value;
      const known = table.get(value);
      if (known !== undefined) return known;
      if (config.maxStrings === 0) return value;
      if (table.size >= config.maxStrings) table.clear();
      table.set(value, value);
      return value;
    },
    get size() {
      return table.size;
    },
    clear() {
      table.clear();
    },
  };
}
