import { describe, expect, it } from 'vitest';
import { verdictKey } from '../src/identifier-hashes.ts';
import { createStringInterner } from '../src/string-interner.ts';
import { createVerdictCache } from '../src/verdict-cache.ts';

describe('string interner', () => {
  it('gives back the first copy of a value and stays within its bound under a flood of distinct values', () => {
    const interner = createStringInterner({ maxStrings: 8, maxLength: 16 });
    interner.intern('health-code');
    interner.intern(['health', 'code'].join('-'));
    expect(interner.size).toBe(1);
    for (let i = 0; i < 1000; i++) {
      expect(interner.intern(`forged-issuer-${i}`)).toBe(`forged-issuer-${i}`);
      expect(interner.size).toBeLessThanOrEqual(8);
    }
    // Full tables start afresh: the flood left at most the bound behind.
    expect(interner.size).toBeGreaterThan(0);
    interner.clear();
    expect(interner.size).toBe(0);
  });

  it('keeps no string longer than maxLength, and nothing with maxStrings 0', () => {
    const interner = createStringInterner({ maxStrings: 8, maxLength: 4 });
    expect(interner.intern('abcde')).toBe('abcde');
    expect(interner.size).toBe(0);
    expect(interner.intern('abcd')).toBe('abcd');
    expect(interner.size).toBe(1);
    const none = createStringInterner({ maxStrings: 0, maxLength: 4 });
    none.intern('ab');
    expect(none.size).toBe(0);
  });
});

describe('verdict cache entries (issue 20: lean copies)', () => {
  it('answers with a verdict equal to the one stored, never the caller’s object, through a small interner table', () => {
    const cache = createVerdictCache({ maxEntries: 100, internedStrings: 2 }, { onEvict: () => {} });
    const verdicts = Array.from({ length: 50 }, (_, i) => structuredClone({ verdict: 'deny', reason: 'UNKNOWN_KEY', kind: 'health-code', issuer: `issuer-${i % 7}`, detail: `d${i}` }) as never);
    verdicts.forEach((v, i) => cache.set(`k${i}`, { verdict: v, pseudonym: `p${i}`, generation: 3, until: 1000 + i }, 0));
    verdicts.forEach((v, i) => {
      const hit = cache.get(`k${i}`, 3, 10);
      expect(hit).toEqual({ verdict: v, pseudonym: `p${i}`, generation: 3, until: 1000 + i });
      expect(hit?.verdict).not.toBe(v);
    });
  });

  it('keys a venue and a code so that neither can be shifted into the other', () => {
    const qr = 'HC1:ABC\nDEF';
    expect(verdictKey('v', qr)).toBe(verdictKey('v', qr));
    expect(verdictKey('v\nHC1:ABC', 'DEF')).not.toBe(verdictKey('v', qr));
    expect(verdictKey('', `v\n${qr}`)).not.toBe(verdictKey('v', qr));
    expect(verdictKey('v1', qr)).not.toBe(verdictKey('v', `1${qr}`));
    expect(verdictKey('v', qr)).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });
});
