import { LICENCE_HOLDER_KINDS, LICENCE_STATUSES, type LicenceClaims } from '@cityops/protocol';

export const licenceIssueCommand = `cityops codes issue --kind licence --holder ID --type TYPE --number N --region CN-XX
                    [--holder-kind business|person] [--integrates TYPE,TYPE...] [--scope VENUE]
                    [--status valid|suspended|withdrawn] ...`;

export const licenceIssueNotes = `  A licence (CLC1:): --holder a business id or a person's pseudonym (never a name);
  --type e.g. food-business, food-handler-health; --integrates makes it a comprehensive licence standing
  for those single licences; --region the ISO 3166-2 region it is issued for (CN-SH Shanghai, CN-JS Jiangsu);
  --scope the venue it applies to; --issuer the issuing authority (its trust entry lists the types and
  regions it may issue).`;

/** The licence the options describe; the issuer checks it against licenceClaimsSchema. */
export function licenceFromOptions(
  str: (name: string) => string | undefined,
  usage: (detail: string) => never,
  oneOf: <T extends string>(value: string | undefined, allowed: readonly T[], option: string) => T | undefined,
): LicenceClaims {
  const required = (name: string) => str(name) ?? usage(`--${name} is required for a licence`);
  const integrates = str('integrates')
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const scope = str('scope');
  return {
    holder: required('holder'),
    holderKind: oneOf(str('holder-kind'), LICENCE_HOLDER_KINDS, '--holder-kind') ?? 'business',
    type: required('type'),
    ...(integrates === undefined ? {} : { integrates }),
    number: required('number'),
    region: required('region'),
    ...(scope === undefined ? {} : { scope }),
    status: oneOf(str('status'), LICENCE_STATUSES, '--status') ?? 'valid',
  };
}
