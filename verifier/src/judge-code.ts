import type { Authentication } from './authenticate-code.ts';
import { DEFAULT_HOME_REGION, judgeLicenceStanding, licencePolicyMiss } from './judge-licence.ts';
import { effectiveColour } from './status-feed.ts';
import { staleSources, type VerificationContext } from './verification-context.ts';
import type { Verdict } from './verdict.ts';

export interface JudgeOptions {
  readonly clockSkewMs: number;
  readonly staleAction: 'warn' | 'deny';
  /** The region whose licences need no cross-region recognition (ISO 3166-2; default CN-SH). */
  readonly homeRegion?: string;
}

/**
 * The second, cheap half of a verification, on the main thread: validity window, revocation, the
 * status feed, the venue's policy, and the age of the data. Checks run in the order of REASONS;
 * the first that fails gives the reason. Stale data marks every verdict; with staleAction `deny`
 * it also turns an allow into deny STALE_DATA.
 */
export function judgeCode(
  auth: Authentication,
  context: VerificationContext,
  venue: string | undefined,
  now: number,
  options: JudgeOptions,
): Verdict {
  const stale = staleSources(context, now);
  const marks = stale.length === 0 ? {} : { stale: true as const, staleSources: stale };
  if (!auth.ok) {
    return {
      verdict: 'deny',
      reason: auth.reason,
      kind: auth.kind,
      ...(auth.detail === undefined ? {} : { detail: auth.detail }),
      ...(auth.issuer === undefined ? {} : { issuer: auth.issuer }),
      ...marks,
    };
  }
  const facts = {
    kind: auth.kind,
    issuer: auth.issuer,
    expiresAt: auth.expiresAt,
    ...(auth.dccType === undefined ? {} : { dccType: auth.dccType }),
    ...(auth.licence === undefined ? {} : { licenceTypes: auth.licence.types, ...(auth.licence.scope === undefined ? {} : { licenceScope: auth.licence.scope }) }),
  };
  if (auth.issuedAt - options.clockSkewMs > now) return denial(facts, marks, 'NOT_YET_VALID');
  if (now > auth.expiresAt + options.clockSkewMs) return denial(facts, marks, 'EXPIRED');
  if (context.revocation.isCodeRevoked(auth.codeIdHash)) return denial(facts, marks, 'REVOKED', 'code');
  if (context.revocation.isSubjectRevoked(auth.subjectHash)) return denial(facts, marks, 'REVOKED', 'subject');
  if (auth.licence !== undefined) {
    const held = { licence: auth.licence, issuedAt: auth.issuedAt, codeIdHash: auth.codeIdHash };
    const standing = judgeLicenceStanding(held, context.status, options.homeRegion ?? DEFAULT_HOME_REGION);
    if (standing !== undefined) return denial(facts, marks, standing.reason, standing.detail);
  }

  const policy = context.policies.policyFor(venue);
  let colours: Partial<Verdict> = {};
  if (auth.colour !== undefined) {
    const colour = effectiveColour(auth.colour, auth.issuedAt, context.status.statusOf(auth.subjectHash));
    colours = colour === auth.colour ? { colour } : { colour, issuedColour: auth.colour };
  }
  if (!policy.kinds.has(auth.kind)) return denial(facts, marks, 'POLICY_DENIED', 'kind', colours);
  if (colours.colour !== undefined && !policy.colours.has(colours.colour)) {
    // COLOUR_DOWNGRADED only when the feed made the difference: the issued colour would have passed.
    const downgraded = colours.issuedColour !== undefined && policy.colours.has(colours.issuedColour);
    return downgraded ? denial(facts, marks, 'COLOUR_DOWNGRADED', colours.colour, colours) : denial(facts, marks, 'POLICY_DENIED', 'colour', colours);
  }
  // A DCC with several groups (schema 1.0.x) passes when the venue accepts any one of them.
  const dccTypes = auth.dccTypes ?? (auth.dccType === undefined ? [] : [auth.dccType]);
  if (dccTypes.length > 0 && !dccTypes.some((t) => policy.dccTypes.has(t))) return denial(facts, marks, 'POLICY_DENIED', 'dccType', colours);
  const licenceMiss = auth.licence === undefined ? undefined : licencePolicyMiss(auth.licence, policy, venue);
  if (licenceMiss !== undefined) return denial(facts, marks, 'POLICY_DENIED', licenceMiss);
  if (stale.length > 0 && options.staleAction === 'deny') return denial(facts, marks, 'STALE_DATA', stale.join(','), colours);
  return { verdict: 'allow', reason: 'OK', ...facts, ...colours, ...marks };
}

/**
 * A deny verdict with the code's facts and the stale marks. A function of its own, not a closure in
 * judgeCode: under tsx (esbuild's keepNames) a named closure costs a defineProperty per verification.
 */
function denial(facts: Pick<Verdict, 'kind'> & Partial<Verdict>, marks: Partial<Verdict>, reason: Verdict['reason'], detail?: string, extra: Partial<Verdict> = {}): Verdict {
  return { verdict: 'deny', reason, ...facts, ...(detail === undefined ? {} : { detail }), ...extra, ...marks };
}
