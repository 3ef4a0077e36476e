import { createCodeDecoder } from '@cityops/protocol';
import { describe, expect, it } from 'vitest';
import { identifierHash, qrDigest } from '../src/identifier-hashes.ts';
import type { ReferenceStore } from '../src/reference-store.ts';
import { buildRevocationSnapshot } from '../src/revocation-list.ts';
import { buildStatusSnapshot } from '../src/status-feed.ts';
import { parseTrustList } from '../src/trust-list.ts';
import { createVerdictCache, type CachedVerdict } from '../src/verdict-cache.ts';
import { buildPolicySnapshot } from '../src/venue-policies.ts';
import type { VerificationContext } from '../src/verification-context.ts';
import { createVerificationEngine } from '../src/verification-engine.ts';
import { createVerifierMetrics } from '../src/verifier-metrics.ts';
import { createTestIssuers, PSEUDONYM_KEY, trustEntries } from './code-fixtures.ts';

const allow = { verdict: 'allow', reason: 'OK', kind: 'health-code' } as const;
const entry = (generation: number, until: number, pseudonym = 'x'): CachedVerdict => ({ verdict: allow, pseudonym, generation, until });

/**
 * The cache as it was (a Map walked from its first entry): the semantics the slot list must keep,
 * but one: an entry dead on arrival is not stored (it used to be, and could evict a live one).
 */
function referenceCache(max: number) {
  const entries = new Map<string, CachedVerdict>();
  let evictions = 0;
  return {
    get evictions() {
      return evictions;
    },
    get size() {
      return entries.size;
    },
    get(key: string, generation: number, now: number) {
      const e = entries.get(key);
      if (e === undefined) return undefined;
      entries.delete(key);
      if (e.generation !== generation || now >= e.until) return undefined;
      entries.set(key, e);
      return e;
    },
    set(key: string, e: CachedVerdict, now: number) {
      if (max === 0) return;
      entries.delete(key);
      if (e.until <= now) return;
      entries.set(key, e);
      for (const [k, { until }] of entries) {
        if (until > now) break;
        entries.delete(k);
      }
      while (entries.size > max) {
        entries.delete(entries.keys().next().value as string);
        evictions++;
      }
    },
    clear() {
      entries.clear();
    },
  };
}

describe('verdict cache (slot list)', () => {
  it('answers, evicts and expires exactly as a plain LRU over 20,000 random operations', () => {
    for (const max of [0, 1, 7, 64]) {
      let seed = 20 + max;
      const random = () => ((seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32);
      let evictions = 0;
      const cache = createVerdictCache({ maxEntries: max }, { onEvict: () => evictions++ });
      const model = referenceCache(max);
      let now = 0;
      for (let i = 0; i < 20_000; i++) {
        if (random() < 0.3) now++;
        const key = `k${Math.floor(random() * (2 * max + 5))}`;
        const generation = 1 + Math.floor(random() * 1.1);
        const op = random();
        if (op < 0.45) {
          // A pseudonym of its own: the cache keeps a copy (issue 20), so entries are told apart by content.
          const e = entry(generation, now + Math.floor(random() * 200) - 20, `p${i}`);
          cache.set(key, e, now);
          model.set(key, e, now);
        } else if (op < 0.999) {
          expect(cache.get(key, generation, now)).toEqual(model.get(key, generation, now));
        } else {
          cache.clear();
          model.clear();
        }
        if (cache.size !== model.size) throw new Error(`max ${max} op ${i} ${op} size ${cache.size} vs ${model.size}`);
      }
      expect(evictions).toBe(model.evictions);
      if (max > 1) expect(evictions).toBeGreaterThan(100);
    }
  });

  it('stays within its bound far past it, keeping what is used and counting each eviction once', () => {
    let evictions = 0;
    const cache = createVerdictCache({ maxEntries: 1000 }, { onEvict: () => evictions++ });
    cache.set('hot', entry(1, 1e12), 0);
    for (let i = 0; i < 50_000; i++) {
      cache.set(`k${i}`, entry(1, 1e12), i);
      if (i % 250 === 0) expect(cache.get('hot', 1, i)).toBeDefined();
      expect(cache.size).toBeLessThanOrEqual(1000);
    }
    expect(cache.size).toBe(1000);
    expect(evictions).toBe(50_001 - 1000);
    expect(cache.get('hot', 1, 50_000)).toBeDefined();
    expect(cache.get('k49001', 1, 50_000)).toBeDefined();
    expect(cache.get('k49000', 1, 50_000)).toBeUndefined();
  });

  it('frees the slot of an entry that no longer answers, so the next one evicts nothing', () => {
    let evictions = 0;
    const cache = createVerdictCache({ maxEntries: 2 }, { onEvict: () => evictions++ });
    cache.set('a', entry(1, 100), 0);
    cache.set('b', entry(1, 100), 0);
    expect(cache.get('a', 2, 10)).toBeUndefined();
    expect(cache.size).toBe(1);
    cache.set('c', entry(2, 100), 10);
    expect(evictions).toBe(0);
    expect(cache.get('a', 1, 10)).toBeUndefined();
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.get('b', 1, 10)).toBeUndefined();
    cache.set('d', entry(2, 100), 10);
    expect(cache.get('d', 2, 10)?.verdict).toEqual(allow);
  });
});

describe('verdict cache in the engine', () => {
  const NOW = Date.UTC(2026, 10, 26, 9, 0, 0);
  const MINUTE = 60_000;
  const issuers = createTestIssuers(() => NOW);

  function context(generation: number, revokedSubjects: string[] = []): VerificationContext {
    return {
      generation,
      trust: parseTrustList(trustEntries(issuers), generation),
      revocation: buildRevocationSnapshot({ codes: [], subjects: revokedSubjects.map(identifierHash) }, generation, 1e-6),
      status: buildStatusSnapshot([], generation),
      policies: buildPolicySnapshot({ default: { colours: ['green'] }, venues: {} }, generation),
      freshness: { trust: { freshAt: NOW - MINUTE, maxAgeMs: 3_600_000 } },
    };
  }

  function engine() {
    const state = { context: context(1), at: NOW };
    const metrics = createVerifierMetrics();
    const reference = { current: () => state.context } as unknown as ReferenceStore;
    const cache = createVerdictCache({ maxEntries: 100 }, { onEvict: () => {} });
    const verifier = createVerificationEngine(
      { cacheTtlMs: 30 * MINUTE, clockSkewMs: 30_000, staleAction: 'warn', pseudonymKey: PSEUDONYM_KEY },
      { reference, decoder: createCodeDecoder(), cache, metrics, now: () => state.at },
    );
    const hits = async () => (await metrics.cacheLookups.get()).values.find((v) => v.labels.result === 'hit')?.value ?? 0;
    return { state, cache, hits, verify: (qr: string, venue: string) => verifier.verify({ qr, venue, transport: 'http' }) };
  }

  it('answers only for the same code at the same venue: near and crafted keys miss', async () => {
    const { hits, verify } = engine();
    const good = issuers.health.issueHealthCode({ subject: 'p-200001', colour: 'green' });
    const rogue = issuers.rogue.issueHealthCode({ subject: 'p-200001', colour: 'green' });
    expect((await verify(rogue, 'v')).reason).toBe('UNKNOWN_KEY');
    expect((await verify(rogue, 'v')).reason).toBe('UNKNOWN_KEY');
    expect(await hits()).toBe(1);
    // The valid code, the rogue one with a character changed or added, and a venue that embeds the
    // rogue code's digest: none may be answered with the rogue verdict.
    expect((await verify(good, 'v')).reason).toBe('OK');
    expect((await verify(`${rogue.slice(0, -1)}${rogue.endsWith('0') ? '1' : '0'}`, 'v')).verdict).toBe('deny');
    expect((await verify(`${rogue} `, 'v')).verdict).toBe('deny');
    expect((await verify(good, `v\n${qrDigest(rogue)}`)).reason).toBe('OK');
    expect((await verify(good, 'w')).reason).toBe('OK');
    expect(await hits()).toBe(1);
    expect((await verify(good, 'v')).reason).toBe('OK');
    expect(await hits()).toBe(2);
  });

  it('never answers past a reference swap or past the code’s validity', async () => {
    const { state, cache, hits, verify } = engine();
    const qr = issuers.health.issueHealthCode({ subject: 'p-200002', colour: 'green', validMinutes: 5 });
    expect((await verify(qr, 'v')).reason).toBe('OK');
    expect((await verify(qr, 'v')).reason).toBe('OK');
    expect(await hits()).toBe(1);
    state.context = context(2, ['p-200002']);
    expect((await verify(qr, 'v')).reason).toBe('REVOKED');
    expect(await hits()).toBe(1);
    state.context = context(3);
    expect((await verify(qr, 'v')).reason).toBe('OK');
    // Cached for at most the code's validity (+ clock skew), though the TTL is 30 minutes.
    state.at = NOW + 6 * MINUTE;
    expect((await verify(qr, 'v')).reason).toBe('EXPIRED');
    expect(await hits()).toBe(1);
    // The expired code's verdict could never answer: it takes no room.
    expect(cache.size).toBe(0);
  });
});
