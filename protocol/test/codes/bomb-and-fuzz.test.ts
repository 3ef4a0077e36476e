import { deflateSync, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { KeyObject } from 'node:crypto';
import { BASE45_ALPHABET, CityopsError, createCodeDecoder, encodeBase45, verifyCodeSignature, type CodeAlg } from '@cityops/protocol';
import { dccVaccination } from './dcc-samples.ts';
import { fixtureIssuer } from './fixture-keys.ts';

const MB = 1024 * 1024;

function reasonFor(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof CityopsError)) throw err;
    return err.code;
  }
  return 'DECODED';
}

/** External memory (Buffers) allocated by `fn`, before any garbage collection can hide it. */
function externalGrowth(fn: () => void): number {
  const before = process.memoryUsage().arrayBuffers;
  fn();
  return process.memoryUsage().arrayBuffers - before;
}

describe('decompression bombs', () => {
  const zeros = deflateSync(Buffer.alloc(50 * MB), { level: 9 }); // ~50 KB that inflates to 50 MB
  const bomb = `HC1:${encodeBase45(zeros)}`;

  it('measures what it claims to: an unbounded inflate of the bomb shows as 50 MB', () => {
    expect(zeros.length).toBeLessThan(60 * 1024);
    expect(externalGrowth(() => inflateSync(zeros))).toBeGreaterThan(45 * MB);
  });

  it('refuses a 50 MB bomb with CODE_ERR_INFLATE_LIMIT, holding no more than the bound', () => {
    const decoder = createCodeDecoder({ maxQrChars: 200_000 });
    let reason = '';
    const growth = externalGrowth(() => {
      for (let i = 0; i < 20; i++) reason = reasonFor(() => decoder.decode(bomb));
    });
    expect(reason).toBe('CODE_ERR_INFLATE_LIMIT');
    // 20 attempts at a 64 KiB bound, with the 75 KB text decoded each time: a few MB at most.
    expect(growth).toBeLessThan(8 * MB);
  });

  it('honours a smaller configured bound', () => {
    const issuer = fixtureIssuer('ES256', 'XA');
    const qr = issuer.issueDcc({ payload: dccVaccination });
    expect(reasonFor(() => createCodeDecoder({ maxInflatedBytes: 1024 }).decode(qr))).toBe('DECODED');
    expect(reasonFor(() => createCodeDecoder({ maxInflatedBytes: 100 }).decode(qr))).toBe('CODE_ERR_INFLATE_LIMIT');
  });

  it('refuses the text of that bomb as too large under the default QR capacity', () => {
    expect(reasonFor(() => createCodeDecoder().decode(bomb))).toBe('CODE_ERR_TOO_LARGE');
  });

  it('refuses the largest bomb a real QR code can carry (2.8 KB inflating to ~2.8 MB)', () => {
    const z = deflateSync(Buffer.alloc(2_900_000), { level: 9 });
    const qr = `HC1:${encodeBase45(z)}`;
    expect(qr.length).toBeLessThanOrEqual(4296);
    expect(reasonFor(() => createCodeDecoder().decode(qr))).toBe('CODE_ERR_INFLATE_LIMIT');
  });

  it('rejects nonsense options', () => {
    expect(() => createCodeDecoder({ maxInflatedBytes: 0 })).toThrow(RangeError);
    expect(() => createCodeDecoder({ maxQrChars: 1.5 })).toThrow(RangeError);
  });
});

/** mulberry32: a seeded generator, so a failure here replays exactly. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('mutated codes', () => {
  it('end in a layer code or fail their signature (never a crash, never an internal error): 6000 mutations', () => {
    const random = seeded(20261115);
    const T = Date.UTC(2026, 0, 15, 8);
    const sources: { qr: string; key: KeyObject }[] = [];
    for (const alg of ['ES256', 'EdDSA', 'PS256'] as CodeAlg[]) {
      const issuer = fixtureIssuer(alg, 'XA');
      const key = issuer.publicKey;
      sources.push({ key, qr: issuer.issueHealthCode({ subject: 'p-1', colour: 'green', lastTestAt: T, issuedAt: T }) });
      sources.push({ key, qr: issuer.issueSiteCode({ venue: 'v-1', place: 'a/b/c/d', risk: 'high', issuedAt: T }) });
      if (alg !== 'EdDSA') sources.push({ key, qr: issuer.issueDcc({ payload: dccVaccination, issuedAt: T }) });
    }
    const decoder = createCodeDecoder();
    // What each issuer signed: a mutation that still verifies must carry exactly these bytes.
    const signed = new Map(sources.map(({ qr }) => [qr, decoder.decode(qr).signature.toBeSigned]));
    const seen = new Map<string, number>();
    const forgeries: string[] = [];
    for (let i = 0; i < 6000; i++) {
      const { qr: source, key } = sources[Math.floor(random() * sources.length)]!;
      const chars = [...source];
      const prefixLength = source.indexOf(':') + 1;
      const edits = 1 + Math.floor(random() * 4);
      for (let e = 0; e < edits; e++) {
        const at = prefixLength + Math.floor(random() * (chars.length - prefixLength));
        const op = random();
        if (op < 0.6) chars[at] = BASE45_ALPHABET[Math.floor(random() * 45)]!;
        else if (op < 0.8) chars.splice(at, 1);
        else chars.splice(at, 0, BASE45_ALPHABET[Math.floor(random() * 45)]!);
      }
      if (random() < 0.1) chars.length = prefixLength + Math.floor(random() * (chars.length - prefixLength));
      const mutated = chars.join('');
      const reason = reasonFor(() => {
        const decoded = decoder.decode(mutated);
        // What still decodes must not verify with other signed content. The signature covers all but
        // the tags, the unprotected header and the encoding around them (zlib's unused tail bits):
        // a mutation there changes the text, not what the issuer signed, and is no forgery.
        if (mutated !== source && verifyCodeSignature(decoded, key) && !Buffer.from(decoded.signature.toBeSigned).equals(signed.get(source)!)) {
          forgeries.push(mutated);
        }
      });
      seen.set(reason, (seen.get(reason) ?? 0) + 1);
    }
    expect(seen.has('CODE_ERR_INTERNAL')).toBe(false);
    expect(seen.get('DECODED') ?? 0).toBeGreaterThan(50);
    expect(forgeries).toEqual([]);
    for (const reason of seen.keys()) expect(reason).toMatch(/^(DECODED|CODE_ERR_[A-Z0-9_]+)$/);
    // The mutations reach deep: past base45 into zlib, CBOR, COSE and claims.
    // A layer is reached when one of its codes is seen: the COSE_Sign1 layer (cose-sign1.ts) throws
    // COSE, ALG and KID, and a random mutation lands on its structure about once in 6,000 (a fixed
    // count of CODE_ERR_COSE alone was 0 in some runs: the codes are issued afresh each run).
    const layers = { base45: ['CODE_ERR_BASE45'], zlib: ['CODE_ERR_ZLIB'], cbor: ['CODE_ERR_CBOR'], cose: ['CODE_ERR_COSE', 'CODE_ERR_ALG', 'CODE_ERR_KID'], claims: ['CODE_ERR_CLAIMS'] };
    for (const [layer, codes] of Object.entries(layers)) {
      expect(codes.reduce((n, code) => n + (seen.get(code) ?? 0), 0), layer).toBeGreaterThan(0);
    }
  });
});
