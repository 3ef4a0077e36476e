import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createCodeDecoder, verifyCodeSignature } from '@cityops/protocol';
import { renderVectorsSection, vectorsSectionOf } from './codes-md-vectors.ts';
import { fixtureIssuer, fixtureKey } from './fixture-keys.ts';
import { issueVector, VECTOR_SPECS, type Vector } from './vector-specs.ts';

const vectors = JSON.parse(readFileSync(new URL('./fixtures/vectors.json', import.meta.url), 'utf8')) as Vector[];
const codesMd = readFileSync(new URL('../../CODES.md', import.meta.url), 'utf8');

describe('test vectors (protocol/CODES.md)', () => {
  const decoder = createCodeDecoder();

  it('cover every spec: four kinds, three algorithms', () => {
    expect(vectors.map((v) => v.name)).toEqual(VECTOR_SPECS.map((s) => s.name));
    expect(new Set(vectors.map((v) => v.kind))).toEqual(new Set(['health-code', 'site-code', 'eu-dcc', 'licence']));
    expect(new Set(vectors.map((v) => v.alg))).toEqual(new Set(['ES256', 'EdDSA', 'PS256']));
  });

  for (const vector of vectors) {
    it(`${vector.name}: verifies with its public key and decodes to the claims written down`, () => {
      const decoded = decoder.decode(vector.qr);
      const publicKey = createPublicKey({ key: Buffer.from(vector.publicKey, 'base64'), format: 'der', type: 'spki' });
      expect(verifyCodeSignature(decoded, publicKey)).toBe(true);
      expect(decoded.kind).toBe(vector.kind);
      expect(decoded.alg).toBe(vector.alg);
      expect(decoded.kid.toString('base64')).toBe(vector.kid);
      const { keyUsage, ...expected } = vector.expected;
      expect({ issuer: decoded.issuer, issuedAt: decoded.issuedAt, expiresAt: decoded.expiresAt, codeId: decoded.codeId, subject: decoded.subject, claims: decoded.claims }).toEqual(expected);
      if (decoded.kind === 'eu-dcc') expect(decoded.keyUsage).toBe(keyUsage);
      // The key is the checked-in fixture's, and the kid its certificate's (HCERT A.1).
      const fixture = fixtureKey(vector.alg);
      expect(fixture.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')).toBe(vector.publicKey);
      expect(createHash('sha256').update(fixture.certificate.raw).digest().subarray(0, 8).toString('base64')).toBe(vector.kid);
    });
  }

  it('re-issue byte for byte where the signature is deterministic (EdDSA), and decode alike otherwise', () => {
    const eddsa = VECTOR_SPECS.filter((s) => s.alg === 'EdDSA');
    expect(eddsa.length).toBeGreaterThanOrEqual(2);
    for (const spec of VECTOR_SPECS) {
      const again = issueVector(spec, fixtureIssuer(spec.alg, spec.issuer));
      const stored = vectors.find((v) => v.name === spec.name)!;
      if (spec.alg === 'EdDSA') expect(again.qr).toBe(stored.qr);
      else expect(decoder.decode(again.qr).claims).toEqual(decoder.decode(stored.qr).claims);
    }
  });

  it('are the ones printed in CODES.md', () => {
    expect(vectorsSectionOf(codesMd)).toBe(renderVectorsSection(vectors));
  });

  it('fail with another vector key', () => {
    const [first, second] = [vectors[0]!, vectors.find((v) => v.alg !== vectors[0]!.alg)!];
    const otherKey = createPublicKey({ key: Buffer.from(second.publicKey, 'base64'), format: 'der', type: 'spki' });
    expect(verifyCodeSignature(decoder.decode(first.qr), otherKey)).toBe(false);
  });
});
