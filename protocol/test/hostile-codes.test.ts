import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { Tag } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import {
  BASE45_ALPHABET,
  CityopsError,
  createCodeDecoder,
  decodeBase45,
  encodeBase45,
  inflateBounded,
  verifyCodeSignature,
  type CodeAlg,
  type CodeDecoder,
  type DecodedCode,
} from '../src/index.ts';
import { createCborCodec } from '../src/codes/cbor-codec.ts';
import { readCoseSign1 } from '../src/codes/cose-sign1.ts';
import { CODE_FORMATS } from '../src/codes/code-formats.ts';
import { craft, dccClaims, encode, healthClaims, siteClaims, wrap } from './codes/craft-code.ts';
import { dccRecovery, dccTest, dccVaccination } from './codes/dcc-samples.ts';
import { fixtureIssuer, fixtureKey } from './codes/fixture-keys.ts';
import { steadyMs } from './steady-time.ts';

/**
 * Hostile QR texts, layer by layer (prefix, base45, zlib, CBOR, COSE_Sign1, CWT claims, DCC schema)
 * and end to end: every input ends in a decoded code or a CityopsError whose code names a layer,
 * never another throw and never CODE_ERR_INTERNAL (the decoder's wrapper for a throw it did not foresee).
 */

const MB = 1024 * 1024;
const MAX_DECODE_MS = 250;
const LAYER_CODE = /^CODE_ERR_(TOO_LARGE|PREFIX|BASE45|ZLIB|INFLATE_LIMIT|CBOR|COSE|ALG|KID|CLAIMS|SCHEMA)$/;

/** The code an attempt ends in ('DECODED' when it returns); a non-coded throw fails the test. */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof CityopsError)) throw new Error(`threw a non-coded ${String(err)}`, { cause: err });
    return err.code;
  }
  return 'DECODED';
}


interface Tally {
  maxMs: number;
  readonly codes: Map<string, number>;
}

const newTally = (): Tally => ({ maxMs: 0, codes: new Map() });

/** Decodes `qr`, checks the outcome is a layer code or a code, and counts it. */
function decodeHostile(decoder: CodeDecoder, qr: unknown, tally: Tally): DecodedCode | undefined {
  let decoded: DecodedCode | undefined;
  const t0 = performance.now();
  const code = codeOf(() => {
    decoded = decoder.decode(qr as string);
  });
  const ms = performance.now() - t0;
  tally.maxMs = Math.max(tally.maxMs, ms <= MAX_DECODE_MS / 2 ? ms : steadyMs(() => decoder.decode(qr as string), 0));
  tally.codes.set(code, (tally.codes.get(code) ?? 0) + 1);
  if (code !== 'DECODED') expect(code).toMatch(LAYER_CODE);
  return decoded;
}

/** A text over the base45 alphabet, optionally after a known or near-known prefix. */
const prefix = fc.constantFrom('HC1:', 'CHC1:', 'CSC1:', '', 'HC1', 'hc1:', 'HC2:', 'CHC1:HC1:', ' HC1:');
const base45Text = fc.string({ unit: fc.constantFrom(...BASE45_ALPHABET), maxLength: 300 });

describe('QR decoder: arbitrary input', () => {
  it('answers arbitrary strings and non-strings with a layer code, quickly', () => {
    const decoder = createCodeDecoder();
    const tally = newTally();
    const input = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.tuple(prefix, fc.string({ unit: 'binary', maxLength: 300 })).map(([p, s]) => p + s),
      fc.tuple(prefix, base45Text).map(([p, s]) => p + s),
      fc.tuple(prefix, fc.uint8Array({ maxLength: 200 })).map(([p, b]) => p + encodeBase45(b)),
      fc.tuple(prefix, fc.uint8Array({ maxLength: 200 })).map(([p, b]) => p + encodeBase45(deflateSync(b))),
      fc.anything({ maxDepth: 2 }),
    );
    fc.assert(
      fc.property(input, (qr) => {
        decodeHostile(decoder, qr, tally);
      }),
      { numRuns: 3000 },
    );
    expect(tally.maxMs).toBeLessThan(MAX_DECODE_MS);
    for (const code of ['CODE_ERR_PREFIX', 'CODE_ERR_BASE45', 'CODE_ERR_ZLIB', 'CODE_ERR_CBOR']) expect(tally.codes.get(code) ?? 0).toBeGreaterThan(0);
  });

  it('refuses text beyond the QR capacity before any work, whatever it is', () => {
    const decoder = createCodeDecoder({ maxQrChars: 4296 });
    fc.assert(
      fc.property(prefix, fc.integer({ min: 4297, max: 200_000 }), (p, n) => {
        expect(codeOf(() => decoder.decode(p + 'A'.repeat(n)))).toBe('CODE_ERR_TOO_LARGE');
      }),
      { numRuns: 50 },
    );
  });
});

describe('base45 (RFC 9285), strict', () => {
  it('round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (bytes) => {
        expect(decodeBase45(encodeBase45(bytes))).toEqual(Buffer.from(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('decodes a text only if it is the one encoding of its bytes, else CODE_ERR_BASE45', () => {
    fc.assert(
      fc.property(fc.oneof(base45Text, fc.string({ unit: 'binary', maxLength: 60 })), (text) => {
        let bytes: Buffer | undefined;
        const code = codeOf(() => {
          bytes = decodeBase45(text);
        });
        if (code === 'DECODED') expect(encodeBase45(bytes!)).toBe(text);
        else expect(code).toBe('CODE_ERR_BASE45');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('zlib layer, bounded', () => {
  /** External memory (Buffers) a call allocates, before a collection could hide it. */
  function externalGrowth(fn: () => void): number {
    const before = process.memoryUsage().arrayBuffers;
    fn();
    return process.memoryUsage().arrayBuffers - before;
  }

  it('inflates within the bound, refuses beyond it with CODE_ERR_INFLATE_LIMIT, never holding more', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 * 1024 }),
        fc.integer({ min: 0, max: 3 * MB }),
        fc.integer({ min: 0, max: 255 }),
        (bound, size, fill) => {
          const stream = deflateSync(Buffer.alloc(size, fill), { level: 9 });
          let out: Buffer | undefined;
          let code = '';
          const growth = externalGrowth(() => {
            code = codeOf(() => {
              out = inflateBounded(stream, bound);
            });
          });
          if (size <= bound) expect(out?.length).toBe(size);
          else expect(code).toBe('CODE_ERR_INFLATE_LIMIT');
          // The input, the bound and zlib's window: never the megabytes the bomb declares.
          expect(growth).toBeLessThan(stream.length + 2 * bound + 1 * MB);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses bombs through the whole decoder, for every prefix, within the bound', () => {
    const decoder = createCodeDecoder({ maxQrChars: 200_000 });
    fc.assert(
      fc.property(fc.constantFrom('HC1:', 'CHC1:', 'CSC1:'), fc.integer({ min: 65 * 1024, max: 8 * MB }), (p, size) => {
        const qr = p + encodeBase45(deflateSync(Buffer.alloc(size), { level: 9 }));
        let code = '';
        const growth = externalGrowth(() => {
          code = codeOf(() => decoder.decode(qr));
        });
        expect(code).toBe('CODE_ERR_INFLATE_LIMIT');
        expect(growth).toBeLessThan(4 * MB);
      }),
      { numRuns: 15 },
    );
  });

  it('answers mutated zlib streams with CODE_ERR_ZLIB or bytes within the bound', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), (data, edits, cut) => {
        const stream = Buffer.from(deflateSync(data));
        for (const [at, byte] of edits) stream[at % stream.length] = byte;
        const truncated = stream.subarray(0, Math.max(2, stream.length - (cut % 8)));
        let out: Buffer | undefined;
        const code = codeOf(() => {
          out = inflateBounded(truncated, 1024);
        });
        if (code === 'DECODED') expect(out!.length).toBeLessThanOrEqual(1024);
        else expect(code).toMatch(/^CODE_ERR_(ZLIB|INFLATE_LIMIT)$/);
      }),
      { numRuns: 1000 },
    );
  });
});

/** CBOR values shaped like what COSE and CWT decoders meet: maps with int keys, tags, byte strings. */
const { value: cborValue } = fc.letrec<{ value: unknown; leaf: unknown; array: unknown[]; map: Map<unknown, unknown>; tag: Tag }>((tie) => ({
  leaf: fc.oneof(
    fc.integer({ min: -70_000, max: 70_000 }),
    fc.constantFrom(-7, -8, -37, -260, -65537, -65538, 1, 2, 4, 6, 7, 0xffffffff, Number.MAX_SAFE_INTEGER),
    fc.double(),
    fc.bigInt({ min: -(2n ** 64n) + 1n, max: 2n ** 64n - 1n }),
    fc.string({ maxLength: 20 }),
    fc.uint8Array({ maxLength: 70 }).map((b) => Buffer.from(b)),
    fc.constantFrom(null, undefined, true, false),
  ),
  value: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('array'), tie('map'), tie('tag')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  map: fc.array(fc.tuple(fc.oneof(tie('leaf'), fc.constantFrom(1, 2, 4, -260, -65537)), tie('value')), { maxLength: 6 }).map((entries) => new Map(entries)),
  tag: fc.tuple(fc.constantFrom(18, 61, 0, 1, 2, 24, 64, 259, 55799, 0xffffffff), tie('value')).map(([t, v]) => new Tag(v, t)),
}));

describe('CBOR and COSE_Sign1 layers', () => {
  const cbor = createCborCodec();

  it('CBOR: arbitrary bytes, deep nesting and huge declared lengths end in CODE_ERR_CBOR or a value', () => {
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      cborValue.map((v) => {
        try {
          return new Uint8Array(encode(v));
        } catch {
          return new Uint8Array([0xff]);
        }
      }),
      fc.tuple(fc.constantFrom(0x81, 0x9f, 0xa1, 0xd2, 0xc0, 0xd8), fc.integer({ min: 1000, max: 50_000 })).map(([head, depth]) => new Uint8Array(depth).fill(head)),
      fc.constantFrom(
        [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // array of 2^64-1
        [0x9a, 0xff, 0xff, 0xff, 0xff, 0x01], // array of 4 G
        [0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // map of 2^64-1
        [0x5b, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff], // byte string of 4 GB
        [0x7a, 0x7f, 0xff, 0xff, 0xff, 0x61], // text of 2 GB
        [0x5f, 0x41, 0x00], // indefinite byte string, unterminated
        [0xd8, 0x40, 0x5a, 0xff, 0xff, 0xff, 0xff], // tag 64 around a 4 GB byte string
        [0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], // NaN
        [0x1c], // reserved additional information
      ).map((b) => new Uint8Array(b)),
    );
    let maxMs = 0;
    fc.assert(
      fc.property(hostile, (bytes) => {
        const t0 = performance.now();
        const code = codeOf(() => cbor.decode(bytes, 'fuzz'));
        const ms = performance.now() - t0;
        maxMs = Math.max(maxMs, ms <= MAX_DECODE_MS ? ms : steadyMs(() => cbor.decode(bytes, 'fuzz'), 0));
        if (code !== 'DECODED') expect(code).toBe('CODE_ERR_CBOR');
      }),
      { numRuns: 1000 },
    );
    expect(maxMs).toBeLessThan(MAX_DECODE_MS * 4);
  });

  it('COSE_Sign1: arbitrary decoded items end in CODE_ERR_COSE / ALG / KID / CBOR or a message', () => {
    fc.assert(
      fc.property(cborValue, fc.constantFrom(...CODE_FORMATS), (item, format) => {
        const code = codeOf(() => readCoseSign1(item, cbor, format.cose));
        if (code !== 'DECODED') expect(code).toMatch(/^CODE_ERR_(COSE|ALG|KID|CBOR)$/);
      }),
      { numRuns: 1500 },
    );
  });

  it('COSE_Sign1 built from hostile parts, through the whole decoder, ends in a layer code', () => {
    const decoder = createCodeDecoder();
    const tally = newTally();
    const header = fc.oneof(
      fc.record({ alg: fc.oneof(fc.constantFrom(-7, -8, -37, -35, 0), cborValue), kid: fc.oneof(fc.uint8Array({ maxLength: 70 }).map((b) => Buffer.from(b)), cborValue) }, { requiredKeys: [] }).map((h) => {
        const m = new Map<unknown, unknown>();
        if ('alg' in h) m.set(1, h.alg);
        if ('kid' in h) m.set(4, h.kid);
        return encode(m);
      }),
      cborValue.map((v) => encode(v)),
      fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b)),
    );
    const payload = fc.oneof(
      fc.constantFrom(healthClaims(), siteClaims(), dccClaims(dccVaccination)).map((m) => encode(m)),
      cborValue.map((v) => encode(v)),
    );
    fc.assert(
      fc.property(
        header,
        fc.oneof(fc.constant(new Map()), cborValue),
        payload,
        fc.oneof(fc.integer({ min: 0, max: 300 }).map((n) => Buffer.alloc(n, 7)), cborValue),
        fc.constantFrom([18], [], [61, 18], [18, 18], [61]),
        fc.constantFrom('CHC1:', 'CSC1:', 'HC1:'),
        fc.boolean(),
        (protectedBytes, unprotected, claims, signature, tags, p, compress) => {
          let message: unknown = [protectedBytes, unprotected, claims, signature];
          for (const t of [...tags].reverse()) message = new Tag(message, t);
          let bytes: Buffer;
          try {
            bytes = encode(message);
          } catch {
            return;
          }
          decodeHostile(decoder, wrap(p, bytes, compress || p === 'HC1:'), tally);
        },
      ),
      { numRuns: 1500 },
    );
    expect(tally.maxMs).toBeLessThan(MAX_DECODE_MS);
    for (const code of ['CODE_ERR_COSE', 'CODE_ERR_ALG', 'CODE_ERR_KID']) expect(tally.codes.get(code) ?? 0).toBeGreaterThan(0);
  });
});

describe('CWT claims and the DCC schema', () => {
  const key = fixtureKey('ES256').privateKey;
  const hostileValue = fc.oneof(
    cborValue,
    fc.constantFrom<unknown>(Number.NaN, Infinity, -Infinity, -0, -1, 0.5, 2 ** 53, 253402300800, 1e300, '', '__proto__', 'constructor'),
    fc.string({ unit: 'binary', maxLength: 100 }),
  );

  it('signed codes with any claim replaced by a hostile value end in CODE_ERR_CLAIMS / SCHEMA or decode', () => {
    const decoder = createCodeDecoder();
    const tally = newTally();
    const kinds = [
      { prefix: 'CHC1:', claims: healthClaims, own: -65537 },
      { prefix: 'CSC1:', claims: siteClaims, own: -65538 },
      { prefix: 'HC1:', claims: () => dccClaims(dccVaccination), own: -260 },
    ] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...kinds),
        fc.constantFrom<unknown>(1, 2, 3, 4, 5, 6, 7, -260, -65537, -65538, 0, 'iss', -1),
        fc.option(fc.constantFrom<unknown>(1, 2, 3, 0, 'v'), { nil: undefined }),
        hostileValue,
        (kind, claimKey, innerKey, value) => {
          const claims = kind.claims();
          const own = claims.get(kind.own);
          if (innerKey !== undefined && own instanceof Map) own.set(innerKey, value);
          else claims.set(claimKey, value);
          let qr: string;
          try {
            qr = craft({ key, prefix: kind.prefix, claims });
          } catch {
            return;
          }
          decodeHostile(decoder, qr, tally);
        },
      ),
      { numRuns: 800 },
    );
    expect(tally.maxMs).toBeLessThan(MAX_DECODE_MS);
    expect(tally.codes.get('CODE_ERR_CLAIMS') ?? 0).toBeGreaterThan(0);
  });

  it('DCC payloads with any field replaced, deep nesting, prototype keys end in CODE_ERR_SCHEMA / CLAIMS or decode', () => {
    const decoder = createCodeDecoder();
    const tally = newTally();
    const samples = [dccVaccination, dccTest, dccRecovery];
    const fieldPath = fc.constantFrom(
      ['ver'],
      ['nam'],
      ['nam', 'fnt'],
      ['nam', 'gnt'],
      ['nam', 'fn'],
      ['dob'],
      ['v'],
      ['v', 0],
      ['v', 0, 'dn'],
      ['v', 0, 'dt'],
      ['v', 0, 'ci'],
      ['t', 0, 'sc'],
      ['r', 0, 'fr'],
      ['__proto__'],
      ['constructor'],
      ['v', 0, '__proto__'],
      ['extra'],
    );
    const deep = fc.integer({ min: 10, max: 40 }).map((n) => {
      let v: unknown = 1;
      for (let i = 0; i < n; i++) v = new Map([['a', v]]);
      return v;
    });
    fc.assert(
      fc.property(fc.constantFrom(...samples), fieldPath, fc.oneof(hostileValue, deep), (sample, path, value) => {
        const payload = structuredClone(sample) as unknown as Record<string | number, unknown>;
        let parent: Record<string | number, unknown> | undefined = payload;
        for (const k of path.slice(0, -1)) parent = parent?.[k] as Record<string | number, unknown> | undefined;
        if (parent === undefined || typeof parent !== 'object') return;
        Object.defineProperty(parent, path[path.length - 1]!, { value, enumerable: true, configurable: true, writable: true });
        let qr: string;
        try {
          qr = craft({ key, prefix: 'HC1:', claims: dccClaims(toCborMaps(payload)) });
        } catch {
          return;
        }
        decodeHostile(decoder, qr, tally);
      }),
      { numRuns: 800 },
    );
    expect(tally.maxMs).toBeLessThan(MAX_DECODE_MS);
    for (const code of ['CODE_ERR_SCHEMA', 'DECODED']) expect(tally.codes.get(code) ?? 0).toBeGreaterThan(0);
  });
});

/** Plain objects as CBOR maps with text keys, as an issuer writes the DCC JSON (own keys only, `__proto__` included). */
function toCborMaps(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toCborMaps);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return new Map(Object.getOwnPropertyNames(value).map((k) => [k, toCborMaps((value as Record<string, unknown>)[k])]));
  }
  return value;
}

describe('mutated codes from the development issuer', () => {
  it('end in a layer code, or decode to the same signed bytes, or fail their signature: no forgery', () => {
    const T = Date.UTC(2026, 0, 15, 8);
    const sources = (['ES256', 'EdDSA', 'PS256'] as CodeAlg[]).flatMap((alg) => {
      const issuer = fixtureIssuer(alg, 'XA');
      const codes = [
        issuer.issueHealthCode({ subject: 'p-1', colour: 'green', lastTestAt: T, issuedAt: T }),
        issuer.issueSiteCode({ venue: 'v-1', place: 'a/b/c/d', risk: 'high', issuedAt: T }),
        ...(alg === 'EdDSA' ? [] : [issuer.issueDcc({ payload: dccVaccination, issuedAt: T })]),
      ];
      return codes.map((qr) => ({ qr, key: issuer.publicKey }));
    });
    const decoder = createCodeDecoder();
    const signed = new Map(sources.map((s) => [s.qr, decoder.decode(s.qr).signature.toBeSigned]));
    const tally = newTally();
    const edit = fc.oneof(
      fc.record({ op: fc.constant('replace' as const), at: fc.nat(), char: fc.constantFrom(...BASE45_ALPHABET, 'a', '\0', 'é', '\u{1F600}') }),
      fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), char: fc.constantFrom(...BASE45_ALPHABET) }),
      fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...sources), fc.array(edit, { minLength: 1, maxLength: 4 }), ({ qr: source, key }, edits) => {
        const start = source.indexOf(':') + 1;
        const chars = [...source];
        for (const e of edits) {
          const at = start + (e.at % Math.max(1, chars.length - start));
          if (e.op === 'replace') chars[at] = e.char;
          else if (e.op === 'delete') chars.splice(at, 1);
          else if (e.op === 'insert') chars.splice(at, 0, e.char);
          else chars.length = at;
        }
        const mutated = chars.join('');
        const decoded = decodeHostile(decoder, mutated, tally);
        if (decoded === undefined || mutated === source) return;
        // Only the tags and the unprotected header are outside the signature: what else changed must not verify.
        if (!decoded.signature.toBeSigned.equals(signed.get(source)!)) expect(verifyCodeSignature(decoded, key)).toBe(false);
      }),
      { numRuns: 1500 },
    );
    expect(tally.maxMs).toBeLessThan(MAX_DECODE_MS);
    expect(tally.codes.has('CODE_ERR_INTERNAL')).toBe(false);
    for (const code of ['CODE_ERR_BASE45', 'CODE_ERR_ZLIB', 'CODE_ERR_CBOR']) expect(tally.codes.get(code) ?? 0).toBeGreaterThan(0);
  });
});
