import type { CodeKind, DccCertificateType, HealthColour } from '@cityops/protocol';
import type { Reason } from './reasons.ts';

export type { CodeKind } from '@cityops/protocol';
export type Colour = HealthColour;
/** EU DCC certificate types (hcert: vaccination, test, recovery). */
export type DccType = DccCertificateType;

/** Reference data whose age is watched. */
export type StaleSource = 'trust' | 'revocation' | 'status';

/** The answer for one code at one venue. Never carries the subject, the code id or the QR text. */
export interface Verdict {
  readonly verdict: 'allow' | 'deny';
  readonly reason: Reason;
  /** null when the code could not be decoded far enough to know. */
  readonly kind: CodeKind | null;
  /** The underlying code: the decoder's CODE_ERR_* for MALFORMED_*, a short explanation otherwise. */
  readonly detail?: string;
  readonly issuer?: string;
  /** Health codes: the colour that counts (after the status feed). */
  readonly colour?: Colour;
  /** Health codes: the colour the code was issued with, when the status feed changed it. */
  readonly issuedColour?: Colour;
  readonly dccType?: DccType;
  /** Licences: every type it stands for (its own, and a comprehensive licence's singles). */
  readonly licenceTypes?: readonly string[];
  /** Licences: the venue it applies to, when scoped (an inspector reads whose licence it is). */
  readonly licenceScope?: string;
  /** ms since the epoch. */
  readonly expiresAt?: number;
  /** Present when trust or revocation data was past its maximum age. */
  readonly stale?: true;
  readonly staleSources?: readonly StaleSource[];
  /** THROTTLED: when the credential may send its next check (ms from now). */
  readonly retryAfterMs?: number;
}

export function denied(reason: Reason, kind: CodeKind | null, detail?: string): Verdict {
  return detail === undefined ? { verdict: 'deny', reason, kind } : { verdict: 'deny', reason, kind, detail };
}
