import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createDevelopmentIssuer, type CodeAlg, type DevelopmentIssuer } from '@cityops/protocol';

/** The checked-in keys and self-signed certificates the vectors of CODES.md are signed with. */
export interface FixtureKey {
  readonly alg: CodeAlg;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly certificate: X509Certificate;
}

const dir = new URL('./fixtures/', import.meta.url);

export function fixtureKey(alg: CodeAlg): FixtureKey {
  const base = alg.toLowerCase();
  const privateKey = createPrivateKey(readFileSync(new URL(`${base}.key.pem`, dir)));
  return {
    alg,
    privateKey,
    publicKey: createPublicKey(privateKey),
    certificate: new X509Certificate(readFileSync(new URL(`${base}.cert.pem`, dir))),
  };
}

/** A development issuer over a fixture key (no key generation: RSA keygen is slow). */
export function fixtureIssuer(alg: CodeAlg, issuer = 'cityops-test', now = () => Date.UTC(2026, 0, 15, 8)): DevelopmentIssuer {
  const key = fixtureKey(alg);
  return createDevelopmentIssuer({ alg, issuer, privateKey: key.privateKey, certificate: key.certificate.raw, now });
}
