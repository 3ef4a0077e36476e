import type { LicenceClaims } from '@cityops/protocol';

/** What the bench's licensing authority may sign (its trust entry): Shanghai, three types. */
export const BENCH_LICENCE_AUTHORITY = Object.freeze({
  types: ['food-handler-health', 'food-business', 'restaurant-comprehensive', 'public-place-hygiene'],
  regions: ['CN-SH'],
});

/**
 * The `n`th licence of the verify bench's mix, distinct per `n`: a staff food-handler certificate, a
 * venue's food business licence, a comprehensive licence integrating two singles, in turn (issue 23).
 */
export function benchLicence(prefix: string, n: number): LicenceClaims {
  const number = `${prefix}${n}`.replace(/[^A-Za-z0-9-]/g, '-').slice(-40);
  switch (n % 3) {
    case 0:
      return { holder: `p-${prefix}${n}`.slice(0, 64), holderKind: 'person', type: 'food-handler-health', number, region: 'CN-SH', status: 'valid' };
    case 1:
      return { holder: `b-${prefix}${n}`.slice(0, 64), holderKind: 'business', type: 'food-business', number, region: 'CN-SH', scope: 'bench-venue', status: 'valid' };
    default:
      return {
        holder: `b-${prefix}${n}`.slice(0, 64),
        holderKind: 'business',
        type: 'restaurant-comprehensive',
        integrates: ['food-business', 'public-place-hygiene'],
        number,
        region: 'CN-SH',
        scope: 'bench-venue',
        status: 'valid',
      };
  }
}
