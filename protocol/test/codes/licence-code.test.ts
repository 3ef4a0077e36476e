import { describe, expect, it } from 'vitest';
import {
  CITYOPS_LICENCE_CLAIM,
  CityopsError,
  createCodeDecoder,
  licenceTypesCovered,
  verifyCodeSignature,
  type CodeAlg,
  type LicenceClaims,
} from '@cityops/protocol';
import { craft, encode } from './craft-code.ts';
import { fixtureIssuer, fixtureKey } from './fixture-keys.ts';

const T = Date.UTC(2026, 0, 15, 8);
const decoder = createCodeDecoder();
const es = fixtureKey('ES256');

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CityopsError);
    return (err as CityopsError).code;
  }
  return 'DECODED';
}

const VARIANTS: Record<string, LicenceClaims> = {
  'a venue’s single food business licence': {
    holder: '91310101MA1FPX1234',
    holderKind: 'business',
    type: 'food-business',
    number: 'JY13101010000123',
    region: 'CN-SH',
    scope: 'rest-0001',
    status: 'valid',
  },
  'a food handler’s health certificate (a person, pseudonymised)': {
    holder: 'p-5e1c0a77',
    holderKind: 'person',
    type: 'food-handler-health',
    number: 'SH-FH-2026-000042',
    region: 'CN-SH',
    status: 'valid',
  },
  'a comprehensive restaurant licence integrating three singles': {
    holder: '91320500MA1XYZ0001',
    holderKind: 'business',
    type: 'restaurant-comprehensive',
    integrates: ['food-business', 'public-place-hygiene', 'liquor-retail'],
    number: 'JS-ZH-0007',
    region: 'CN-JS',
    scope: 'rest-0002',
    status: 'valid',
  },
  'a suspended licence as issued': {
    holder: '91310101MA1FPX9999',
    holderKind: 'business',
    type: 'liquor-retail',
    number: 'SH-LR-1',
    region: 'CN-SH',
    status: 'suspended',
  },
};

/** A CWT claims map for a licence, with the private claim's entries replaceable. */
function licenceClaims(own: [number, unknown][], top: [number, unknown][] = []): Map<unknown, unknown> {
  const t = Math.floor(T / 1000);
  return new Map<unknown, unknown>([
    [1, 'sh-market-authority'],
    [2, '91310101MA1FPX1234'],
    [4, t + 3600],
    [6, t],
    [7, Buffer.from('0102030405060708', 'hex')],
    [CITYOPS_LICENCE_CLAIM, new Map<unknown, unknown>(own)],
    ...top,
  ]);
}
const GOOD_OWN: [number, unknown][] = [
  [1, 0],
  [2, 'food-business'],
  [3, 'JY1'],
  [4, 'CN-SH'],
  [7, 0],
];
const withOwn = (key: number, value: unknown): [number, unknown][] => [...GOOD_OWN.filter(([k]) => k !== key), [key, value]];
const crafted = (claims: Map<unknown, unknown>, prefix = 'CLC1:') => craft({ key: es.privateKey, prefix, claims });

describe('licence codes (CLC1:): issue -> decode -> verify', () => {
  for (const [name, licence] of Object.entries(VARIANTS)) {
    for (const alg of ['ES256', 'EdDSA', 'PS256'] as CodeAlg[]) {
      it(`${name}, ${alg}: decodes to what was issued, verifies with its key only`, () => {
        const issuer = fixtureIssuer(alg, 'sh-market-authority');
        const qr = issuer.issueLicence({ licence, issuedAt: T, validMinutes: 5 * 365 * 24 * 60 });
        expect(qr.startsWith('CLC1:')).toBe(true);
        const decoded = decoder.decode(qr);
        expect(decoded.kind).toBe('licence');
        expect(decoded.claims).toEqual(licence);
        // Revocation names the licence by its number, and the holder is the subject.
        expect(decoded.codeId).toBe(licence.number);
        expect(decoded.subject).toBe(licence.holder);
        expect(decoded.expiresAt).toBe(T + 5 * 365 * 24 * 3_600_000);
        expect(verifyCodeSignature(decoded, fixtureKey(alg).publicKey)).toBe(true);
        const other = alg === 'ES256' ? 'EdDSA' : 'ES256';
        expect(verifyCodeSignature(decoded, fixtureKey(other).publicKey)).toBe(false);
      });
    }
  }

  it('a comprehensive licence covers its own type and every single it integrates', () => {
    expect(licenceTypesCovered(VARIANTS['a comprehensive restaurant licence integrating three singles']!)).toEqual([
      'restaurant-comprehensive',
      'food-business',
      'public-place-hygiene',
      'liquor-retail',
    ]);
    expect(licenceTypesCovered(VARIANTS['a venue’s single food business licence']!)).toEqual(['food-business']);
  });

  it('refuses to issue what the schema refuses, naming every problem', () => {
    const issuer = fixtureIssuer('EdDSA', 'sh-market-authority');
    const base = VARIANTS['a venue’s single food business licence']!;
    const bad = (licence: unknown) => codeOf(() => issuer.issueLicence({ licence: licence as LicenceClaims, issuedAt: T }));
    expect(bad({ ...base, region: 'shanghai' })).toBe('CODE_ERR_ISSUE');
    expect(bad({ ...base, integrates: ['food-business'] })).toBe('CODE_ERR_ISSUE');
    expect(bad({ ...base, integrates: Array.from({ length: 33 }, (_, i) => `single-${i}`) })).toBe('CODE_ERR_ISSUE');
    expect(bad({ ...base, holder: 'Zhang San' })).toBe('CODE_ERR_ISSUE');
    expect(bad({ ...base, extra: 1 })).toBe('CODE_ERR_ISSUE');
    expect(() => issuer.issueLicence({ licence: { ...base, region: 'x', number: '' }, issuedAt: T })).toThrow(/region.*number|number.*region/s);
    expect(codeOf(() => issuer.issueLicence({ licence: base, issuedAt: T, validMinutes: 6 * 366 * 24 * 60 }))).toBe('CODE_ERR_ISSUE');
  });
});

describe('licence codes: hostile input', () => {
  it('the crafting helper makes a licence that decodes', () => {
    expect(codeOf(() => decoder.decode(crafted(licenceClaims(GOOD_OWN))))).toBe('DECODED');
  });

  it('refuses garbage after the prefix, and oversized text before decoding', () => {
    expect(codeOf(() => decoder.decode('CLC1:'))).not.toBe('DECODED');
    expect(codeOf(() => decoder.decode('CLC1:hello world'))).toBe('CODE_ERR_BASE45');
    expect(codeOf(() => decoder.decode(`CLC1:${'0'.repeat(5000)}`))).toBe('CODE_ERR_TOO_LARGE');
    expect(codeOf(() => decoder.decode('clc1:6BFOXN'))).toBe('CODE_ERR_PREFIX');
  });

  it('refuses another kind re-prefixed as a licence, and a licence re-prefixed as another kind', () => {
    const health = fixtureIssuer('EdDSA').issueHealthCode({ subject: 'p-1', colour: 'green', issuedAt: T });
    expect(codeOf(() => decoder.decode(`CLC1:${health.slice('CHC1:'.length)}`))).toBe('CODE_ERR_CLAIMS');
    const licence = fixtureIssuer('EdDSA').issueLicence({ licence: VARIANTS['a suspended licence as issued']!, issuedAt: T });
    expect(codeOf(() => decoder.decode(`CSC1:${licence.slice('CLC1:'.length)}`))).toBe('CODE_ERR_CLAIMS');
    expect(codeOf(() => decoder.decode(`CHC1:${licence.slice('CLC1:'.length)}`))).toBe('CODE_ERR_CLAIMS');
  });

  it('refuses each claim of the wrong type or shape with CODE_ERR_CLAIMS', () => {
    const cases: [number, unknown][] = [
      [1, 2],
      [1, 'business'],
      [2, 7],
      [3, Buffer.from('JY1')],
      [4, ['CN-SH']],
      [5, 'food-business'],
      [5, [1, 2]],
      [6, 42],
      [7, 3],
      [7, -1],
      [8, 'unknown key'],
    ];
    for (const [key, value] of cases) expect([key, codeOf(() => decoder.decode(crafted(licenceClaims(withOwn(key, value)))))]).toEqual([key, 'CODE_ERR_CLAIMS']);
    expect(codeOf(() => decoder.decode(crafted(licenceClaims(GOOD_OWN.filter(([k]) => k !== 7)))))).toBe('CODE_ERR_CLAIMS');
    expect(codeOf(() => decoder.decode(crafted(licenceClaims(GOOD_OWN, [[2, 99]]))))).toBe('CODE_ERR_CLAIMS');
    expect(codeOf(() => decoder.decode(crafted(licenceClaims(GOOD_OWN, [[-65537, new Map()]]))))).toBe('CODE_ERR_CLAIMS');
  });

  it('refuses well-typed claims the schema refuses with CODE_ERR_SCHEMA', () => {
    const cases: [number, unknown][] = [
      [2, 'Food Business'],
      [2, ''],
      [3, 'JY 1'],
      [4, 'shanghai'],
      [4, 'CN-SH\u0000'],
      [5, []],
      [5, ['food-business']],
      [5, ['a-b', 'a-b']],
      [6, 'rest/../\u202e'],
      [6, 'x'.repeat(201)],
    ];
    for (const [key, value] of cases) expect([key, codeOf(() => decoder.decode(crafted(licenceClaims(withOwn(key, value)))))]).toEqual([key, 'CODE_ERR_SCHEMA']);
    expect(codeOf(() => decoder.decode(crafted(licenceClaims(GOOD_OWN, [[2, 'Zhang San']]))))).toBe('CODE_ERR_SCHEMA');
  });

  it('refuses an integrated list longer than the bound before walking it', () => {
    const many = Array.from({ length: 300 }, () => 'ab');
    expect(codeOf(() => decoder.decode(crafted(licenceClaims(withOwn(5, many)))))).toBe('CODE_ERR_CLAIMS');
  });

  it('refuses a deeply nested claim without overflowing the stack', () => {
    let deep: unknown = 'food-business';
    for (let i = 0; i < 200; i++) deep = [deep];
    const code = codeOf(() => decoder.decode(crafted(licenceClaims(withOwn(5, deep)))));
    expect(['CODE_ERR_CLAIMS', 'CODE_ERR_CBOR']).toContain(code);
    const bytes = encode(licenceClaims(GOOD_OWN));
    expect(bytes.length).toBeLessThan(200);
  });
});
