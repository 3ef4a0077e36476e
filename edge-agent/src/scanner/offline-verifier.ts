import { createCodeDecoder } from '@cityops/protocol';
import { identifierHash, verifyCode, type offlineEventSchema, type Verdict, type VerificationContext } from '@cityops/verifier';
import type { FromSchema } from 'json-schema-to-ts';

/** One verdict given offline, as the verifier's upload schema has it: never the QR text or the subject. */
export type OfflineEvent = FromSchema<typeof offlineEventSchema>;

export interface OfflineVerifierConfig {
  readonly clockSkewMs: number;
  readonly staleAction: 'warn' | 'deny';
  /** ISO 3166-2; absent: the verifier's default (CN-SH). */
  readonly homeRegion?: string;
  readonly maxQrChars: number;
  readonly maxInflatedBytes: number;
}

export interface OfflineVerdict {
  readonly verdict: Verdict;
  readonly event: OfflineEvent;
}

export interface OfflineVerifier {
  /** Synchronous, on this thread: the verifier's own core (`verifyCode`) over the cached data. */
  verify(qr: string, venue: string | undefined, at: number): OfflineVerdict;
}

/**
 * Verifies a code without the verifier: decode, key, signature, validity, revocation (the Bloom
 * filter), venue policy, data age, with `verifyCode` from @cityops/verifier, so that a code gets
 * the verdict the verifier would give with the same data. The event keeps what the verifier's
 * audit keeps: the subject only as its SHA-256 (the verifier keys its pseudonym over that digest).
 */
export function createOfflineVerifier(config: OfflineVerifierConfig, deps: { readonly context: () => VerificationContext }): OfflineVerifier {
  const decoder = createCodeDecoder({ maxQrChars: config.maxQrChars, maxInflatedBytes: config.maxInflatedBytes });
  const options = { clockSkewMs: config.clockSkewMs, staleAction: config.staleAction, ...(config.homeRegion === undefined ? {} : { homeRegion: config.homeRegion }) };

  /** A code that decoded but was refused (unknown key, bad signature): the verifier audits its claimed subject too. */
  function claimedSubjectHash(qr: string): string | undefined {
    try {
      return identifierHash(decoder.decode(qr).subject);
    } catch {
      return undefined;
    }
  }

  return {
    verify(qr, venue, at) {
      const { verdict, authentication } = verifyCode(qr, deps.context(), decoder, { ...options, venue, now: at });
      const subjectHash = authentication.ok ? authentication.subjectHash : authentication.kind === null ? undefined : claimedSubjectHash(qr);
      const event: OfflineEvent = {
        at: Math.floor(at),
        ...(venue === undefined ? {} : { venue }),
        kind: verdict.kind,
        verdict: verdict.verdict,
        reason: verdict.reason,
        ...(verdict.issuer === undefined ? {} : { issuer: verdict.issuer.slice(0, 200) }),
        ...(subjectHash === undefined ? {} : { subjectHash }),
      };
      return { verdict, event };
    },
  };
}
