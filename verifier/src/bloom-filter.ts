import { createHash } from 'node:crypto';
import { verifierErrors } from './errors.ts';

/**
 * A Bloom filter over strings, for the scanners' offline copy of the revocation lists.
 *
 * Positions (format CBF2): the item hashed once with SHAKE256 (FIPS 202) to k 32-bit words, bit i =
 * word_i mod m: k independent positions. CBF1, the first format, took them from two words of one
 * SHA-256 by double hashing (g_i = h1 + i·h2 mod m, Kirsch & Mitzenmacher 2006); at the sizes a
 * revocation list has (m of 64 to a few thousand bits, m not prime) those progressions overlap, and
 * the measured false-positive rate was 1e-3 to 7.5e-3 for filters sized for 1e-6 (n = 1, 2, 5;
 * 3e-4 at n = 50): doors offline denied ~0.4 % of valid codes as revoked. CBF1 is still read (a
 * scanner's persisted copy) with its own positions; every filter made now is CBF2.
 *
 * Sizing for n items at false-positive rate p: m = ⌈-n·ln p / (ln 2)²⌉ bits, k = round(m/n · ln 2).
 *
 * Serialisation (all integers big-endian):
 *   0  "CBF2"      magic and format version ("CBF1": double-hashed positions, read only)
 *   4  u8  k       hash functions
 *   5  u32 m       bits
 *   9  u32 n       items added
 *  13  ⌈m/8⌉ bytes the bit array, bit i at byte i>>3, mask 1<<(i&7)
 */
export interface BloomFilter {
  readonly bits: number;
  readonly hashes: number;
  readonly items: number;
  add(item: string): void;
  /** false: certainly not added. true: added, or a false positive (rate about the one sized for). */
  has(item: string): boolean;
  toBytes(): Buffer;
}

const MAGIC = Buffer.from('CBF2', 'latin1');
const MAGIC_V1 = Buffer.from('CBF1', 'latin1');
const HEADER_BYTES = 13;
const MAX_BITS = 2 ** 32 - 8;
const MAX_HASHES = 32;

export function bloomFilterSize(expectedItems: number, falsePositiveRate: number): { bits: number; hashes: number } {
  if (!(falsePositiveRate > 0 && falsePositiveRate < 1)) throw verifierErrors.VERIFIER_ERR_FILTER('false-positive rate must be in (0, 1)');
  const n = Math.max(1, expectedItems);
  const bits = Math.min(MAX_BITS, Math.max(64, Math.ceil((-n * Math.log(falsePositiveRate)) / Math.LN2 ** 2 / 8) * 8));
  const hashes = Math.min(MAX_HASHES, Math.max(1, Math.round((bits / n) * Math.LN2)));
  return { bits, hashes };
}

function filterOf(bits: number, hashes: number, array: Uint8Array, added: number, doubleHashed = false): BloomFilter {
  let items = added;
  function positions(item: string, visit: (bit: number) => boolean): boolean {
    if (doubleHashed) {
      // CBF1 (read only): two words of one SHA-256, g_i = h1 + i·h2 mod m, h2 odd.
      const digest = createHash('sha256').update(item, 'utf8').digest();
      const h1 = digest.readUInt32BE(0);
      const h2 = (digest.readUInt32BE(4) | 1) >>> 0;
      for (let i = 0; i < hashes; i++) {
        if (!visit((h1 + i * h2) % bits)) return false;
      }
      return true;
    }
    // CBF2: k independent 32-bit words from SHAKE256, each mod m (its bias, about m / 2^32, is 0.7 % at
    // the 29 Mbit of a million items: a slightly uneven spread, not a correlation between positions).
    const words = createHash('shake256', { outputLength: 4 * hashes }).update(item, 'utf8').digest();
    for (let i = 0; i < hashes; i++) {
      if (!visit(words.readUInt32BE(4 * i) % bits)) return false;
    }
    return true;
  }
  return {
    bits,
    hashes,
    get items() {
      return items;
    },
    add(item) {
      positions(item, (bit) => {
        array[bit >>> 3]! |= 1 << (bit & 7);
        return true;
      });
      items++;
    },
    has(item) {
      return positions(item, (bit) => (array[bit >>> 3]! & (1 << (bit & 7))) !== 0);
    },
    toBytes() {
      const out = Buffer.alloc(HEADER_BYTES + array.length);
      (doubleHashed ? MAGIC_V1 : MAGIC).copy(out, 0);
      out.writeUInt8(hashes, 4);
      out.writeUInt32BE(bits, 5);
      out.writeUInt32BE(Math.min(items, 0xffffffff), 9);
      out.set(array, HEADER_BYTES);
      return out;
    },
  };
}

export function createBloomFilter(expectedItems: number, falsePositiveRate: number): BloomFilter {
  const { bits, hashes } = bloomFilterSize(expectedItems, falsePositiveRate);
  return filterOf(bits, hashes, new Uint8Array(bits / 8), 0);
}

/** Reads a serialised filter; refuses anything that is not exactly one (VERIFIER_ERR_FILTER). */
export function bloomFilterFromBytes(bytes: Uint8Array): BloomFilter {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const v1 = buf.length >= HEADER_BYTES && buf.subarray(0, 4).equals(MAGIC_V1);
  if (buf.length < HEADER_BYTES || !(v1 || buf.subarray(0, 4).equals(MAGIC))) throw verifierErrors.VERIFIER_ERR_FILTER('not a CBF2 (or CBF1) filter');
  const hashes = buf.readUInt8(4);
  const bits = buf.readUInt32BE(5);
  const items = buf.readUInt32BE(9);
  if (hashes < 1 || hashes > MAX_HASHES) throw verifierErrors.VERIFIER_ERR_FILTER(`hash count ${hashes} outside 1..${MAX_HASHES}`);
  if (bits < 8 || bits % 8 !== 0 || buf.length !== HEADER_BYTES + bits / 8) {
    throw verifierErrors.VERIFIER_ERR_FILTER(`${bits} bits do not match ${buf.length - HEADER_BYTES} bytes of bit array`);
  }
  return filterOf(bits, hashes, new Uint8Array(buf.subarray(HEADER_BYTES)), items, v1);
}
