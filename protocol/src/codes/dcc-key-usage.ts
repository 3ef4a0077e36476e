import type { X509Certificate } from 'node:crypto';
import type { DecodedCode } from './code-types.ts';
import { DCC_CERTIFICATE_TYPES, type DccCertificateType } from './dcc-schema.ts';
import { DCC_KEY_USAGE_OIDS } from './x509-self-signed.ts';

/**
 * The same OIDs with a stray `.0.` (1.3.6.1.4.1.0.1847.2021.1.x) that some member states' document
 * signers carried; the national verifier apps honour them as restrictions, and so do we: reading
 * them as "no restriction" would widen what such a signer may sign.
 */
const MISENCODED_OIDS: Readonly<Record<DccCertificateType, string>> = Object.freeze({
  t: '1.3.6.1.4.1.0.1847.2021.1.1',
  v: '1.3.6.1.4.1.0.1847.2021.1.2',
  r: '1.3.6.1.4.1.0.1847.2021.1.3',
});

function extendedKeyUsage(certificate: X509Certificate): readonly string[] {
  // Node names the extended key usage list `keyUsage` (and, from Node 22, also `extKeyUsage`).
  const withExt = certificate as X509Certificate & { extKeyUsage?: string[] };
  return withExt.extKeyUsage ?? certificate.keyUsage ?? [];
}

/**
 * The DCC types a document signer certificate may sign, or undefined when it carries none of the
 * DCC key usage OIDs (HCERT A.2: then it may sign every type). Other OIDs are ignored.
 */
export function dccTypesAllowedBy(certificate: X509Certificate): DccCertificateType[] | undefined {
  const usages = extendedKeyUsage(certificate);
  const allowed = DCC_CERTIFICATE_TYPES.filter((t) => usages.includes(DCC_KEY_USAGE_OIDS[t]) || usages.includes(MISENCODED_OIDS[t]));
  return allowed.length === 0 ? undefined : allowed;
}

/**
 * HCERT A.2: when the signer certificate lists DCC key usage OIDs, the verifier SHALL check the
 * certificate type against them; without any, the certificate may sign all types. A payload with
 * several groups (schema 1.0.x-1.2.x) needs every one of its types allowed. Codes that are not DCCs
 * have no such restriction (true).
 */
export function checkDccKeyUsage(decoded: DecodedCode, certificate: X509Certificate): boolean {
  if (decoded.kind !== 'eu-dcc') return true;
  const allowed = dccTypesAllowedBy(certificate);
  return allowed === undefined || decoded.keyUsages.every((t) => allowed.includes(t));
}
