import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  algForKey,
  createCodeDecoder,
  createDevelopmentIssuer,
  dccTypesAllowedBy,
  kidOf,
  verifyCodeSignature,
  type CodeAlg,
} from '@cityops/protocol';
import { dccTest } from './dcc-samples.ts';
import { fixtureKey } from './fixture-keys.ts';

const T = Date.UTC(2026, 0, 15, 8);

describe('development issuer', () => {
  it('generates a key of each algorithm, with a self-signed certificate and a trust entry that verifies its codes', () => {
    const decoder = createCodeDecoder();
    for (const alg of ['ES256', 'EdDSA', 'PS256'] as CodeAlg[]) {
      const issuer = createDevelopmentIssuer({ alg, now: () => T });
      expect(issuer.alg).toBe(alg);
      expect(algForKey(issuer.privateKey)).toBe(alg);
      const entry = issuer.trustEntry;
      expect(entry.issuer).toBe('cityops-dev');
      expect(entry.kinds).toEqual(['eu-dcc', 'health-code', 'site-code']);
      const cert = new X509Certificate(Buffer.from(entry.certificate!, 'base64'));
      // HCERT A.1: kid = first 8 bytes of SHA-256 over the DER certificate.
      expect(entry.kid).toBe(createHash('sha256').update(cert.raw).digest().subarray(0, 8).toString('base64'));
      const qr = issuer.issueHealthCode({ subject: 'p-1', colour: 'green', issuedAt: T });
      const decoded = decoder.decode(qr);
      expect(decoded.kid.toString('base64')).toBe(entry.kid);
      expect(verifyCodeSignature(decoded, cert.publicKey)).toBe(true);
      expect(cert.issuer).toBe(cert.subject);
      expect(cert.verify(cert.publicKey)).toBe(true);
      expect(new Date(cert.validFrom).getTime()).toBeLessThanOrEqual(T);
    }
  });

  it('writes a public-key trust entry whose kid hashes the SPKI', () => {
    const issuer = createDevelopmentIssuer({ alg: 'EdDSA', trustForm: 'public-key', issuer: 'district-7', kinds: ['site-code'] });
    const spki = Buffer.from(issuer.trustEntry.publicKey!, 'base64');
    expect(issuer.trustEntry).toEqual({ kid: kidOf(spki).toString('base64'), publicKey: spki.toString('base64'), issuer: 'district-7', kinds: ['site-code'] });
    expect(issuer.trustEntry.certificate).toBeUndefined();
    const decoded = createCodeDecoder().decode(issuer.issueSiteCode({ venue: 'v-1', place: 'a/b/c', risk: 'low' }));
    expect(verifyCodeSignature(decoded, createPublicKey({ key: spki, format: 'der', type: 'spki' }))).toBe(true);
  });

  it('restricts its certificate to the DCC types asked for, and takes its country from a two-letter issuer', () => {
    const issuer = createDevelopmentIssuer({ issuer: 'XA', dccTypes: ['t'], kinds: ['eu-dcc'] });
    const cert = new X509Certificate(issuer.certificate);
    expect(dccTypesAllowedBy(cert)).toEqual(['t']);
    expect(cert.subject).toContain('C=XA');
    const decoded = createCodeDecoder().decode(issuer.issueDcc({ payload: dccTest }));
    expect(decoded.issuer).toBe('XA');
  });

  it('wraps a given key and certificate, and refuses a certificate of another key', () => {
    const es = fixtureKey('ES256');
    const issuer = createDevelopmentIssuer({ privateKey: es.privateKey, certificate: es.certificate.raw });
    expect(issuer.alg).toBe('ES256');
    expect(issuer.certificate.equals(es.certificate.raw)).toBe(true);
    expect(createPrivateKey(issuer.privateKeyPem()).export({ format: 'jwk' })).toEqual(es.privateKey.export({ format: 'jwk' }));
    expect(() => createDevelopmentIssuer({ privateKey: fixtureKey('EdDSA').privateKey, certificate: es.certificate.raw })).toThrow(/not of this key/);
  });

  it('refuses an empty or unknown kind list', () => {
    expect(() => createDevelopmentIssuer({ kinds: [] })).toThrow(/kinds/);
    expect(() => createDevelopmentIssuer({ kinds: ['passport' as 'eu-dcc'] })).toThrow(/kinds/);
  });
});
