import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bloomFilterFromBytes, bloomFilterSize, createBloomFilter } from '../src/bloom-filter.ts';
import { identifierHash } from '../src/identifier-hashes.ts';
import { buildRevocationSnapshot, revocationFilterKey } from '../src/revocation-list.ts';

describe('bloom filter', () => {
  it('sizes by the textbook formulas', () => {
    // n = 1e6 at p = 1e-6: m = n·ln(1e6)/ln²2 ≈ 28.76 bits per item, k = 20.
    const { bits, hashes } = bloomFilterSize(1_000_000, 1e-6);
    expect(bits / 1_000_000).toBeCloseTo(28.76, 1);
    expect(hashes).toBe(20);
    expect(() => bloomFilterSize(10, 0)).toThrow(/false-positive rate/);
  });

  it('never forgets an item, and its false-positive rate is about the one it was sized for', () => {
    const n = 20_000;
    const p = 0.01;
    const filter = createBloomFilter(n, p);
    for (let i = 0; i < n; i++) filter.add(`member-${i}`);
    for (let i = 0; i < n; i++) expect(filter.has(`member-${i}`)).toBe(true);
    const probes = 200_000;
    let positives = 0;
    for (let i = 0; i < probes; i++) if (filter.has(`stranger-${i}`)) positives++;
    const rate = positives / probes;
    // Expected 1%; the binomial spread at 200k probes is ±0.05%: a 0.6-1.5% band fails a wrong k or m.
    expect(rate).toBeGreaterThan(0.006);
    expect(rate).toBeLessThan(0.015);
  });

  it('round-trips through its serialisation and refuses anything else', () => {
    const filter = createBloomFilter(100, 1e-4);
    for (let i = 0; i < 100; i++) filter.add(`x${i}`);
    const bytes = filter.toBytes();
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('CBF2');
    const copy = bloomFilterFromBytes(bytes);
    expect(copy.bits).toBe(filter.bits);
    expect(copy.hashes).toBe(filter.hashes);
    expect(copy.items).toBe(100);
    for (let i = 0; i < 100; i++) expect(copy.has(`x${i}`)).toBe(true);
    expect(copy.toBytes().equals(bytes)).toBe(true);

    expect(() => bloomFilterFromBytes(Buffer.from('nope'))).toThrow(expect.objectContaining({ code: 'VERIFIER_ERR_FILTER' }));
    expect(() => bloomFilterFromBytes(bytes.subarray(0, bytes.length - 1))).toThrow(/do not match/);
    const badK = Buffer.from(bytes);
    badK[4] = 0;
    expect(() => bloomFilterFromBytes(badK)).toThrow(/hash count/);
  });

  it('keeps the false-positive rate it was sized for at the sizes revocation lists have', () => {
    // CBF1's double hashing gave 1e-3 to 7.5e-3 here for filters sized for 1e-6 (n = 1, 2, 5, 50).
    for (const n of [1, 2, 5, 50]) {
      const filter = createBloomFilter(n, 1e-6);
      for (let i = 0; i < n; i++) filter.add(`code:${identifierHash(`member-${n}-${i}`)}`);
      let positives = 0;
      for (let i = 0; i < 100_000; i++) if (filter.has(`code:${identifierHash(`stranger-${n}-${i}`)}`)) positives++;
      // 1e-6 × 100,000 = 0.1 expected; 3 or more is a 1-in-6,000 event for a right filter, near certain for CBF1.
      expect(positives, `n = ${n}`).toBeLessThanOrEqual(2);
    }
  });

  it('still reads a CBF1 filter (a scanner\'s persisted copy) with its double-hashed positions', () => {
    // A CBF1 filter of one item, built here by its positions: g_i = h1 + i·h2 mod m from SHA-256.
    const item = 'code:abc';
    const bits = 64;
    const hashes = 4;
    const digest = createHash('sha256').update(item, 'utf8').digest();
    const h1 = digest.readUInt32BE(0);
    const h2 = (digest.readUInt32BE(4) | 1) >>> 0;
    const bytes = Buffer.alloc(13 + bits / 8);
    bytes.write('CBF1', 0, 'latin1');
    bytes.writeUInt8(hashes, 4);
    bytes.writeUInt32BE(bits, 5);
    bytes.writeUInt32BE(1, 9);
    for (let i = 0; i < hashes; i++) {
      const bit = (h1 + i * h2) % bits;
      bytes[13 + (bit >>> 3)]! |= 1 << (bit & 7);
    }
    const v1 = bloomFilterFromBytes(bytes);
    expect(v1.has(item)).toBe(true);
    expect(v1.toBytes().equals(bytes)).toBe(true); // written back as CBF1, not relabelled
  });

  it("is the scanners' offline copy of a revocation list: code and subject keys kept apart", () => {
    const code = identifierHash('0102030405060708');
    const subject = identifierHash('p-123456');
    const list = buildRevocationSnapshot({ codes: [code], subjects: [subject] }, 1, 1e-6);
    const offline = bloomFilterFromBytes(list.filter().toBytes());
    expect(offline.has(revocationFilterKey.code(code))).toBe(true);
    expect(offline.has(revocationFilterKey.subject(subject))).toBe(true);
    // The same digest under the other key is another item.
    expect(offline.has(revocationFilterKey.subject(code))).toBe(false);
    expect(offline.has(revocationFilterKey.code(identifierHash('another')))).toBe(false);
  });
});
