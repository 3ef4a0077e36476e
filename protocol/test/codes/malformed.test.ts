import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CityopsError, createCodeDecoder, encodeBase45, type DecodedCode } from '@cityops/protocol';
import { craft, craftMessage, dccClaims, encode, healthClaims, siteClaims, wrap } from './craft-code.ts';
import { dccTest, dccVaccination } from './dcc-samples.ts';
import { fixtureIssuer, fixtureKey } from './fixture-keys.ts';

const decoder = createCodeDecoder();
const es = fixtureKey('ES256');
const key = es.privateKey;

/** The error code decoding `qr` ends in; fails the test if decoding throws anything but a CityopsError. */
function reasonFor(qr: string, d = decoder): string {
  try {
    d.decode(qr);
  } catch (err) {
    expect(err).toBeInstanceOf(CityopsError);
    return (err as CityopsError).code;
  }
  return 'DECODED';
}

const validHealth = () => craft({ key, claims: healthClaims() });

describe('malformed codes: each layer gets its own reason, never a crash', () => {
  it('the crafting helper itself makes codes that decode (so each case below breaks one thing)', () => {
    expect(reasonFor(validHealth())).toBe('DECODED');
    expect(reasonFor(craft({ key, prefix: 'CSC1:', claims: siteClaims() }))).toBe('DECODED');
    expect(reasonFor(craft({ key, prefix: 'HC1:', claims: dccClaims(dccVaccination) }))).toBe('DECODED');
  });

  describe('length and prefix', () => {
    it('refuses text beyond the QR capacity before decoding it', () => {
      expect(reasonFor(`HC1:${'0'.repeat(5000)}`)).toBe('CODE_ERR_TOO_LARGE');
      expect(reasonFor(validHealth(), createCodeDecoder({ maxQrChars: 50 }))).toBe('CODE_ERR_TOO_LARGE');
    });

    it('refuses unknown, empty, lower-case and future context identifiers', () => {
      for (const qr of ['', 'HC2:BB8', 'hc1:BB8', 'HC1', 'CHC2:BB8', ' HC1:BB8', 'https://example.org/HC1:BB8']) {
        expect(reasonFor(qr), JSON.stringify(qr)).toBe('CODE_ERR_PREFIX');
      }
      expect(reasonFor(undefined as unknown as string)).toBe('CODE_ERR_PREFIX');
    });
  });

  describe('base45', () => {
    it('refuses every RFC 9285 violation after a valid prefix', () => {
      const body = validHealth().slice(5);
      expect(reasonFor(`CHC1:${body}\n`)).toBe('CODE_ERR_BASE45'); // outside the alphabet
      expect(reasonFor(`CHC1:${body.toLowerCase()}`)).toBe('CODE_ERR_BASE45');
      expect(reasonFor(`CHC1:GGW${body}`)).toBe('CODE_ERR_BASE45'); // 65536
      expect(reasonFor(`CHC1:${body.slice(0, body.length - (body.length % 3))}V5`)).toBe('CODE_ERR_BASE45'); // 256 in a final pair
      expect(reasonFor(`CHC1:${body.slice(0, body.length - (body.length % 3))}A`)).toBe('CODE_ERR_BASE45'); // dangling
    });
  });

  describe('zlib', () => {
    it('refuses an uncompressed DCC (HCERT §4.2.1: the CWT SHALL be compressed)', () => {
      expect(reasonFor(craft({ key, prefix: 'HC1:', claims: dccClaims(dccVaccination), compress: false }))).toBe('CODE_ERR_ZLIB');
    });

    it('refuses a corrupt, a truncated and a dictionary-using zlib stream', () => {
      const message = craftMessage({ key, claims: dccClaims(dccVaccination) });
      const z = deflateSync(message);
      const corrupt = Buffer.from(z);
      corrupt[Math.floor(z.length / 2)]! ^= 0xff;
      expect(reasonFor(`HC1:${encodeBase45(corrupt)}`)).toBe('CODE_ERR_ZLIB');
      expect(reasonFor(`HC1:${encodeBase45(z.subarray(0, z.length - 10))}`)).toBe('CODE_ERR_ZLIB');
      const badChecksum = Buffer.from(z);
      badChecksum[z.length - 1]! ^= 0x01; // Adler-32 (RFC 1950 §2.2)
      expect(reasonFor(`HC1:${encodeBase45(badChecksum)}`)).toBe('CODE_ERR_ZLIB');
      const fdict = Buffer.from([0x78, 0xbb, 0, 0, 0, 0, 0x03, 0x00]); // FDICT set, 0x78bb % 31 == 0
      expect(reasonFor(`HC1:${encodeBase45(fdict)}`)).toBe('CODE_ERR_ZLIB');
    });

    it('inflates a city code when it is compressed, and refuses a broken one', () => {
      const message = craftMessage({ key, claims: healthClaims() });
      expect(reasonFor(wrap('CHC1:', message, true))).toBe('DECODED');
      expect(reasonFor(`CHC1:${encodeBase45(deflateSync(message).subarray(0, 20))}`)).toBe('CODE_ERR_ZLIB');
    });
  });

  describe('CBOR', () => {
    it('refuses bytes that are not one well-formed CBOR item', () => {
      expect(reasonFor(wrap('CHC1:', Buffer.from([0xd2, 0x84, 0x43]), false))).toBe('CODE_ERR_CBOR'); // truncated
      expect(reasonFor(wrap('CHC1:', Buffer.concat([craftMessage({ key, claims: healthClaims() }), Buffer.from([0])]), false))).toBe('CODE_ERR_CBOR'); // trailing byte
      expect(reasonFor(wrap('HC1:', Buffer.from([0xff, 0xff, 0xff]), true))).toBe('CODE_ERR_CBOR'); // break without start
      expect(reasonFor(wrap('HC1:', Buffer.alloc(0), true))).toBe('CODE_ERR_CBOR'); // nothing
      expect(reasonFor(wrap('HC1:', Buffer.from([0x5f, 0x41, 0x00]), true))).toBe('CODE_ERR_CBOR'); // unterminated indefinite
    });

    it('refuses a payload (CWT) or protected header that is not CBOR', () => {
      expect(reasonFor(craft({ key, claims: Buffer.from([0xa1, 0x01]) }))).toBe('CODE_ERR_CBOR');
      expect(reasonFor(craft({ key, claims: healthClaims(), protectedHeader: Buffer.from([0xa2, 0x01, 0x26]) }))).toBe('CODE_ERR_CBOR');
    });

    it('turns a cyclic or deeply nested item into a refusal, not a stack overflow', () => {
      let deep = Buffer.from([0x80]);
      for (let i = 0; i < 20000; i++) deep = Buffer.concat([Buffer.from([0x81]), deep]);
      expect(reasonFor(wrap('HC1:', deep, true))).toMatch(/^CODE_ERR_(CBOR|COSE)$/);
    });
  });

  describe('COSE_Sign1 structure', () => {
    it('refuses items that are not a 4-element COSE_Sign1 array', () => {
      expect(reasonFor(wrap('CHC1:', encode(new Map([[1, 2]])), false))).toBe('CODE_ERR_COSE');
      expect(reasonFor(craft({ key, claims: healthClaims(), message: (p) => p.slice(0, 3) }))).toBe('CODE_ERR_COSE');
      expect(reasonFor(craft({ key, claims: healthClaims(), message: (p) => [...p, Buffer.alloc(1)] }))).toBe('CODE_ERR_COSE');
    });

    it('wants tag 18 on city codes, refuses other tags, and takes DCCs tagged, untagged or inside CWT tag 61', () => {
      expect(reasonFor(craft({ key, claims: healthClaims(), tags: [] }))).toBe('CODE_ERR_COSE');
      expect(reasonFor(craft({ key, claims: healthClaims(), tags: [98] }))).toBe('CODE_ERR_COSE'); // COSE_Sign, not Sign1
      expect(reasonFor(craft({ key, claims: healthClaims(), tags: [61, 18] }))).toBe('CODE_ERR_COSE');
      const dcc = (tags: number[]) => craft({ key, prefix: 'HC1:', claims: dccClaims(dccVaccination), tags });
      expect(reasonFor(dcc([]))).toBe('DECODED');
      expect(reasonFor(dcc([18]))).toBe('DECODED');
      expect(reasonFor(dcc([61, 18]))).toBe('DECODED');
      expect(reasonFor(dcc([17]))).toBe('CODE_ERR_COSE'); // COSE_Mac0
    });

    it('refuses members of the wrong type', () => {
      const swap = (i: number, v: unknown) => (p: unknown[]) => p.map((x, j) => (j === i ? v : x));
      expect(reasonFor(craft({ key, claims: healthClaims(), message: swap(0, new Map()) }))).toBe('CODE_ERR_COSE'); // protected not bstr
      expect(reasonFor(craft({ key, claims: healthClaims(), message: swap(1, []) }))).toBe('CODE_ERR_COSE'); // unprotected not map
      expect(reasonFor(craft({ key, claims: healthClaims(), message: swap(2, null) }))).toBe('CODE_ERR_COSE'); // detached payload
      expect(reasonFor(craft({ key, claims: healthClaims(), message: swap(2, 'text') }))).toBe('CODE_ERR_COSE');
      expect(reasonFor(craft({ key, claims: healthClaims(), message: swap(3, 'sig') }))).toBe('CODE_ERR_COSE');
    });

    it('refuses a protected header that is not a map, repeats a label, or has critical parameters', () => {
      expect(reasonFor(craft({ key, claims: healthClaims(), protectedHeader: encode([1, -7]) }))).toBe('CODE_ERR_COSE');
      // {1: -7, 4: kid, 1: -7}: a map head of 3 entries, one label twice.
      const kid = Buffer.from('0123456789abcdef', 'hex');
      const repeated = Buffer.concat([Buffer.from([0xa3, 0x01, 0x26, 0x04, 0x48]), kid, Buffer.from([0x01, 0x26])]);
      expect(reasonFor(craft({ key, claims: healthClaims(), protectedHeader: repeated }))).toBe('CODE_ERR_COSE');
      const crit = new Map<unknown, unknown>([[1, -7], [2, [99]], [4, kid], [99, 1]]);
      expect(reasonFor(craft({ key, claims: healthClaims(), protectedHeader: crit }))).toBe('CODE_ERR_COSE');
    });

    it('refuses a signature whose length does not fit the algorithm', () => {
      expect(reasonFor(craft({ key, claims: healthClaims(), signature: Buffer.alloc(72) }))).toBe('CODE_ERR_COSE'); // DER-style ECDSA
      expect(reasonFor(craft({ key, claims: healthClaims(), signature: Buffer.alloc(0) }))).toBe('CODE_ERR_COSE');
    });
  });

  describe('COSE alg', () => {
    const kid = Buffer.from('0123456789abcdef', 'hex');
    it('refuses a missing, unknown, textual or unprotected alg', () => {
      expect(reasonFor(craft({ key, claims: healthClaims(), protectedHeader: new Map([[4, kid]]) }))).toBe('CODE_ERR_ALG');
      expect(reasonFor(craft({ key, claims: healthClaims(), protectedHeader: Buffer.alloc(0), unprotected: new Map<unknown, unknown>([[1, -7], [4, kid]]) }))).toBe('CODE_ERR_ALG');
      expect(reasonFor(craft({ key, claims: healthClaims(), protectedHeader: new Map<unknown, unknown>([[1, -35], [4, kid]]) }))).toBe('CODE_ERR_ALG'); // ES384
      expect(reasonFor(craft({ key, claims: healthClaims(), protectedHeader: new Map<unknown, unknown>([[1, 'ES256'], [4, kid]]) }))).toBe('CODE_ERR_ALG');
      expect(reasonFor(craft({ key, claims: healthClaims(), unprotected: new Map([[1, -7]]) }))).toBe('CODE_ERR_ALG'); // in both buckets
    });

    it('takes a DCC alg from the unprotected header when the protected one has none (dgc-testdata CO19), never from both', () => {
      const dcc = (protectedHeader: Map<unknown, unknown> | Buffer, unprotected: Map<unknown, unknown>) =>
        reasonFor(craft({ key, prefix: 'HC1:', claims: dccClaims(dccVaccination), protectedHeader, unprotected }));
      expect(dcc(Buffer.alloc(0), new Map<unknown, unknown>([[1, -7], [4, kid]]))).toBe('DECODED');
      expect(dcc(new Map<unknown, unknown>([[4, kid]]), new Map<unknown, unknown>([[1, -7]]))).toBe('DECODED');
      expect(dcc(new Map<unknown, unknown>([[1, -7], [4, kid]]), new Map<unknown, unknown>([[1, -7]]))).toBe('CODE_ERR_ALG');
      expect(dcc(Buffer.alloc(0), new Map<unknown, unknown>([[1, -8], [4, kid]]))).toBe('CODE_ERR_ALG'); // EdDSA is no HCERT alg
      expect(dcc(Buffer.alloc(0), new Map<unknown, unknown>([[4, kid]]))).toBe('CODE_ERR_ALG');
    });

    it('refuses EdDSA in a DCC but takes it in city codes', () => {
      const ed = fixtureKey('EdDSA').privateKey;
      expect(reasonFor(craft({ key: ed, alg: 'EdDSA', prefix: 'HC1:', claims: dccClaims(dccVaccination) }))).toBe('CODE_ERR_ALG');
      expect(reasonFor(craft({ key: ed, alg: 'EdDSA', claims: healthClaims() }))).toBe('DECODED');
    });
  });

  describe('COSE kid', () => {
    it('refuses a missing, empty, textual or oversized kid', () => {
      const header = (kid: unknown) => new Map<unknown, unknown>([[1, -7], [4, kid]]);
      expect(reasonFor(craft({ key, claims: healthClaims(), protectedHeader: new Map([[1, -7]]) }))).toBe('CODE_ERR_KID');
      expect(reasonFor(craft({ key, claims: healthClaims(), protectedHeader: header(Buffer.alloc(0)) }))).toBe('CODE_ERR_KID');
      expect(reasonFor(craft({ key, claims: healthClaims(), protectedHeader: header('kid-1') }))).toBe('CODE_ERR_KID');
      expect(reasonFor(craft({ key, claims: healthClaims(), protectedHeader: header(Buffer.alloc(65)) }))).toBe('CODE_ERR_KID');
    });

    it('takes the kid from the unprotected header, and the protected one when both have it (HCERT §3.2.3)', () => {
      const inUnprotected = craft({
        key,
        prefix: 'HC1:',
        claims: dccClaims(dccVaccination),
        protectedHeader: new Map([[1, -7]]),
        unprotected: new Map([[4, Buffer.from('aaaaaaaaaaaaaaaa', 'hex')]]),
      });
      expect(decoder.decode(inUnprotected).kid.toString('hex')).toBe('aaaaaaaaaaaaaaaa');
      const inBoth = craft({
        key,
        prefix: 'HC1:',
        claims: dccClaims(dccVaccination),
        kid: Buffer.from('bbbbbbbbbbbbbbbb', 'hex'),
        unprotected: new Map([[4, Buffer.from('aaaaaaaaaaaaaaaa', 'hex')]]),
      });
      expect(decoder.decode(inBoth).kid.toString('hex')).toBe('bbbbbbbbbbbbbbbb');
    });
  });

  describe('CWT claims', () => {
    const health = (change: (m: Map<unknown, unknown>) => void) => reasonFor(craft({ key, claims: healthClaims(change) }));
    const site = (change: (m: Map<unknown, unknown>) => void) => reasonFor(craft({ key, prefix: 'CSC1:', claims: siteClaims(change) }));
    const dcc = (change: (m: Map<unknown, unknown>) => void, payload: unknown = dccVaccination) =>
      reasonFor(craft({ key, prefix: 'HC1:', claims: dccClaims(payload, change) }));

    it('refuses a payload that is not a map of claims, or repeats a claim key', () => {
      expect(reasonFor(craft({ key, claims: encode([1, 2, 3]) }))).toBe('CODE_ERR_CLAIMS');
      const claims = encode(healthClaims());
      const repeated = Buffer.concat([Buffer.from([claims[0]! + 1]), claims.subarray(1), Buffer.from([0x01, 0x61, 0x78])]); // one more entry: 1: "x"
      expect(reasonFor(craft({ key, claims: repeated }))).toBe('CODE_ERR_CLAIMS');
    });

    it('refuses standard claims of the wrong type or missing', () => {
      expect(health((m) => m.set(1, 42))).toBe('CODE_ERR_CLAIMS'); // iss not text
      expect(health((m) => m.set(1, ''))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.delete(1))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.set(6, 1_768_464_000.5))).toBe('CODE_ERR_CLAIMS'); // iat not whole seconds
      expect(health((m) => m.set(6, '2026-01-15'))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.set(6, -1))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.set(4, 2n ** 64n - 1n))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.delete(4))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.set(4, m.get(6)))).toBe('CODE_ERR_CLAIMS'); // exp not after iat
      expect(health((m) => m.delete(7))).toBe('CODE_ERR_CLAIMS'); // no code id
      expect(health((m) => m.set(7, 'id'))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.set(7, Buffer.alloc(33)))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.set(2, 'with space'))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.set(3, 'audience'))).toBe('CODE_ERR_CLAIMS'); // unknown claim in a closed layout
    });

    it('refuses a malformed health status claim', () => {
      expect(health((m) => m.delete(-65537))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.set(-65537, [0]))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.set(-65537, new Map([[1, 3]])))).toBe('CODE_ERR_CLAIMS'); // no fourth colour
      expect(health((m) => m.set(-65537, new Map([[1, 'green']])))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.set(-65537, new Map<unknown, unknown>([[1, 0], [2, 'yesterday']])))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.set(-65537, new Map([[1, 0], [9, 1]])))).toBe('CODE_ERR_CLAIMS');
      expect(health((m) => m.set(-65538, new Map()))).toBe('CODE_ERR_CLAIMS'); // a site claim inside a health code
    });

    it('refuses a malformed venue claim', () => {
      expect(site((m) => m.set(-65538, new Map<unknown, unknown>([[1, 'Huangpu/X/Y'], [2, 0]])))).toBe('CODE_ERR_CLAIMS');
      expect(site((m) => m.set(-65538, new Map<unknown, unknown>([[1, 'a/b'], [2, 0]])))).toBe('CODE_ERR_CLAIMS');
      expect(site((m) => m.set(-65538, new Map<unknown, unknown>([[1, 'a/b/c'], [2, 7]])))).toBe('CODE_ERR_CLAIMS');
      expect(site((m) => m.set(2, ''))).toBe('CODE_ERR_CLAIMS');
      expect(site((m) => m.delete(-65538))).toBe('CODE_ERR_CLAIMS');
    });

    it('refuses a DCC without its hcert claim or with a payload that is not JSON', () => {
      expect(dcc((m) => m.delete(-260))).toBe('CODE_ERR_CLAIMS');
      expect(dcc((m) => m.set(-260, new Map([[2, {}]])))).toBe('CODE_ERR_CLAIMS');
      expect(dcc((m) => m.set(-260, new Map([[1, 'text']])))).toBe('CODE_ERR_CLAIMS');
      expect(dcc(() => undefined, { ...dccVaccination, nam: Buffer.from('MUSTERMANN') })).toBe('CODE_ERR_CLAIMS');
      expect(dcc(() => undefined, new Map<unknown, unknown>([[1, 'integer key']]))).toBe('CODE_ERR_CLAIMS');
      // RFC 8392 §2 NumericDate: a number of seconds, fractions allowed (see dcc-versions.test.ts), never these.
      for (const iat of [-1, Number.NaN, Number.POSITIVE_INFINITY, 1e308, '1621262460', null]) {
        expect(dcc((m) => m.set(6, iat))).toBe('CODE_ERR_CLAIMS');
      }
      expect(dcc((m) => m.delete(4))).toBe('CODE_ERR_CLAIMS');
      expect(dcc((m) => m.delete(6))).toBe('CODE_ERR_CLAIMS');
      expect(dcc((m) => m.set(1, 42))).toBe('CODE_ERR_CLAIMS'); // RFC 8392 §3.1.1: iss is a text string
    });

    it('takes a DCC without iss (HCERT §3.2.4: optional) and with extra claims', () => {
      const decoded = decoder.decode(craft({ key, prefix: 'HC1:', claims: dccClaims(dccVaccination, (m) => { m.delete(1); m.set(5, 1); }) }));
      expect(decoded.issuer).toBe('');
    });

    it('keeps a "__proto__" key in a DCC payload as data', () => {
      const payload = new Map<unknown, unknown>([...Object.entries(dccVaccination), ['__proto__', new Map([['polluted', true]])]]);
      const decoded = decoder.decode(craft({ key, prefix: 'HC1:', claims: dccClaims(payload) }));
      expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
      expect(Object.getPrototypeOf(decoded.claims)).toBe(Object.prototype);
    });
  });

  describe('DCC schema', () => {
    const dcc = (payload: unknown) => reasonFor(craft({ key, prefix: 'HC1:', claims: dccClaims(payload) }));
    const { nam, ...withoutName } = dccVaccination;
    const entry = (dccVaccination as { v: Record<string, unknown>[] }).v[0]!;

    it('accepts the sample payloads', () => {
      expect(dcc(dccVaccination)).toBe('DECODED');
      expect(dcc(dccTest)).toBe('DECODED');
      expect(dcc({ ...dccVaccination, nam: { fnt: 'ONLY<FAMILY' } })).toBe('DECODED');
      expect(dcc({ ...dccVaccination, dob: '1979' })).toBe('DECODED');
    });

    it('refuses payloads no published schema release allows', () => {
      expect(nam).toBeDefined();
      expect(dcc(withoutName)).toBe('CODE_ERR_SCHEMA');
      expect(dcc({ ...dccVaccination, nam: { fn: 'Only free text' } })).toBe('CODE_ERR_SCHEMA'); // neither fnt nor gnt
      expect(dcc({ ...dccVaccination, nam: { fnt: 'lower' } })).toBe('CODE_ERR_SCHEMA');
      expect(dcc({ ...dccVaccination, dob: '1850-01-01' })).toBe('CODE_ERR_SCHEMA');
      expect(dcc({ ...dccVaccination, ver: 'one' })).toBe('CODE_ERR_SCHEMA');
      const { v: _v, ...noGroup } = dccVaccination as { v: unknown };
      expect(dcc(noGroup)).toBe('CODE_ERR_SCHEMA'); // certifies nothing (ours: 1.0.0-1.2.0 would take it)
      expect(dcc({ ...dccVaccination, v: [] })).toBe('CODE_ERR_SCHEMA'); // minItems 1 everywhere
      expect(dcc({ ...dccVaccination, v: [{ ...entry, dn: 0 }] })).toBe('CODE_ERR_SCHEMA');
      expect(dcc({ ...dccVaccination, v: [{ ...entry, dn: '2' }] })).toBe('CODE_ERR_SCHEMA');
      expect(dcc({ ...dccVaccination, v: [{ ...entry, ci: 'x'.repeat(81) }] })).toBe('CODE_ERR_SCHEMA');
      const { ci: _ci, ...noId } = entry;
      expect(dcc({ ...dccVaccination, v: [noId] })).toBe('CODE_ERR_SCHEMA');
    });

    it('accepts, as advisory, what only an older release or a format check would refuse', () => {
      const advisories = (payload: unknown) => {
        const decoded = decoder.decode(craft({ key, prefix: 'HC1:', claims: dccClaims(payload) }));
        return decoded.kind === 'eu-dcc' ? decoded.advisories : [];
      };
      expect(advisories({ ...dccVaccination, t: dccTest.t })[0]).toMatch(/^does not meet its declared schema 1\.3\.0 .*; meets 1\.2\.0$/);
      expect(advisories({ ...dccVaccination, v: [entry, entry] })[0]).toMatch(/meets 1\.2\.0$/); // maxItems 1 from 1.3.0
      expect(advisories({ ...dccVaccination, v: [{ ...entry, dt: '2021-02-30' }] })).toEqual(['a full-date field is not an RFC 3339 full-date']);
      const test = (dccTest as { t: Record<string, unknown>[] }).t[0]!;
      expect(advisories({ ...dccTest, t: [{ ...test, sc: '2021-05-30 10:12' }] })).toEqual(['a date-time field is not an RFC 3339 date-time']);
      expect(advisories(dccVaccination)).toEqual([]);
    });
  });

  it('never decides on time: an expired code decodes (expiry is for the verifier to check)', () => {
    const old = fixtureIssuer('ES256').issueHealthCode({ subject: 'p-1', colour: 'green', issuedAt: Date.UTC(2001, 0, 1) });
    const decoded: DecodedCode = decoder.decode(old);
    expect(decoded.expiresAt).toBe(Date.UTC(2001, 0, 1, 1));
  });
});
