import type { X509Certificate } from 'node:crypto';

/** The certificate's validity in ms since the epoch (Node 20's X509Certificate gives it as text). */
export function certificateValidity(certificate: X509Certificate): { notBefore: number; notAfter: number } {
  return { notBefore: Date.parse(certificate.validFrom), notAfter: Date.parse(certificate.validTo) };
}

/**
 * HCERT §3.2.6: "The Issued At field MUST not predate the validity period of the DSC"; and a DSC past
 * its validity signs nothing (§3.2.5: exp MUST not exceed it, so neither may iat). Judged against the
 * code's `iat`, never the verifier's clock: a DSC that has since expired still vouches for what it
 * signed while valid (HCERT "Trusted List Format": presence on the current list is what counts).
 * An `exp` beyond the DSC's notAfter is the issuer's fault and is not held against the holder.
 */
export function dccSignerValidAt(certificate: X509Certificate, issuedAtMs: number): boolean {
  const { notBefore, notAfter } = certificateValidity(certificate);
  // An unreadable validity (never from node's own parser) decides nothing.
  if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) return true;
  return issuedAtMs >= notBefore && issuedAtMs <= notAfter;
}
