import type { AuthenticLicence } from './authenticate-code.ts';
import type { Reason } from './reasons.ts';
import { effectiveLicenceStatus, type StatusSnapshot } from './status-feed.ts';
import type { LicenceRequirement, VenuePolicy } from './venue-policies.ts';

/** ISO 3166-2:CN: Shanghai, where this city's verifiers stand unless configured otherwise. */
export const DEFAULT_HOME_REGION = 'CN-SH';

export interface LicenceFacts {
  readonly licence: AuthenticLicence;
  readonly issuedAt: number;
  readonly codeIdHash: string;
}

/**
 * The licence's own checks after revocation: its status (as issued, then the status feed), and
 * cross-region recognition: a licence for another region than `homeRegion` counts here only when
 * its signer's trust entry says `crossRegion` (Government Online-Offline decision, art. 13: mutual
 * recognition is agreed, not assumed). Returns the reason to deny, or undefined.
 */
export function judgeLicenceStanding(facts: LicenceFacts, status: StatusSnapshot, homeRegion: string): { reason: Reason; detail?: string } | undefined {
  const standing = effectiveLicenceStatus(facts.licence.status, facts.issuedAt, status.licenceStatusOf(facts.codeIdHash));
  if (standing === 'withdrawn') return { reason: 'LICENCE_WITHDRAWN' };
  if (standing === 'suspended') return { reason: 'LICENCE_SUSPENDED' };
  if (facts.licence.region !== homeRegion && !facts.licence.crossRegion) return { reason: 'LICENCE_NOT_RECOGNISED', detail: `region ${facts.licence.region}` };
  return undefined;
}

function meets(licence: AuthenticLicence, requirement: LicenceRequirement): boolean {
  return requirement.types.every((t) => licence.types.includes(t)) && (requirement.holder === undefined || requirement.holder === licence.holderKind);
}

/**
 * The venue's licence requirements: undefined when one is met, else the POLICY_DENIED detail:
 * `licence-scope` when a requirement's types and holder are met but the licence is scoped to
 * another venue (or to none) where this venue's own licence is asked for, `licence` otherwise.
 */
export function licencePolicyMiss(licence: AuthenticLicence, policy: VenuePolicy, venue: string | undefined): 'licence' | 'licence-scope' | undefined {
  if (policy.licences === undefined) return undefined;
  let scopeMissed = false;
  for (const requirement of policy.licences) {
    if (!meets(licence, requirement)) continue;
    if ((requirement.scope ?? 'any') === 'any' || (venue !== undefined && licence.scope === venue)) return undefined;
    scopeMissed = true;
  }
  return scopeMissed ? 'licence-scope' : 'licence';
}
