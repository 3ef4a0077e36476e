import { createHash } from 'node:crypto';
import { createDevelopmentIssuer, type DevelopmentIssuer, type IssuerTrustEntry, type LicenceClaims } from '@cityops/protocol';
import type { Random } from '@cityops/edge-agent';
import type { CodeClass, MintedCode, ScannerCodeMint } from './scanner-code-mix.ts';

const DAY_MS = 86_400_000;

/**
 * A simulated restaurant whose door requires licences (issue 23): its staff show food-handler health
 * certificates (Shanghai's, or Jiangsu's, recognised here by the trust list), the venue its own food
 * business licence or the comprehensive restaurant licence integrating it. What `cityops up` writes
 * as the venue policy of `venue`, in the verifier's policy-file format.
 */
export function restaurantPolicy(venue: string): { venues: Record<string, { licences: object[] }> } {
  return {
    venues: {
      [venue]: {
        licences: [
          { types: ['food-handler-health'], holder: 'person' },
          { types: ['food-business'], holder: 'business', scope: 'venue' },
        ],
      },
    },
  };
}

export interface RestaurantLicencesOptions {
  /** The restaurant's venue id (a scanner's registered place). */
  readonly venue: string;
  /** The share of the restaurant's codes that are licences, 0-1 (the rest: the city's usual codes). */
  readonly share?: number;
  readonly now?: () => number;
}

export interface RestaurantLicences {
  readonly venue: string;
  /** The licensing authorities a verifier must trust: Shanghai market and health, Jiangsu health (cross-region). */
  readonly trustEntries: readonly IssuerTrustEntry[];
  /** SHA-256 hex of the revoked licence numbers (revocation by code id). */
  readonly revokedCodes: readonly string[];
  /** The city's mint, with licences in place of a share of the restaurant's codes. */
  wrap(base: ScannerCodeMint): ScannerCodeMint;
}

const sha256Hex = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');

/**
 * Each class of code as a licence at the restaurant's door, with the reason the verifier gives online
 * (scanners offline have no venue policies: another venue's licence passes there):
 * - `valid`: a staff certificate (Shanghai, or Jiangsu's, recognised), the venue's food business
 *   licence, or its comprehensive licence → OK;
 * - `expired`: a staff certificate that ran out yesterday → EXPIRED;
 * - `wrong-colour`: another venue's food business licence → POLICY_DENIED;
 * - `revoked`: a staff certificate whose number is revoked → REVOKED;
 * - `wrong-issuer`: a food business licence from the health authority → LICENCE_TYPE_NOT_ALLOWED, or
 *   a Zhejiang certificate no trust entry recognises here → LICENCE_NOT_RECOGNISED;
 * - `forged`, `malformed`: the city's usual codes.
 */
export function createRestaurantLicences(options: RestaurantLicencesOptions): RestaurantLicences {
  const clock = options.now === undefined ? {} : { now: options.now };
  const now = options.now ?? Date.now;
  const share = Math.min(1, Math.max(0, options.share ?? 0.5));
  const venue = options.venue;
  const authority = (issuer: string, types: string[], regions: string[], crossRegion = false): DevelopmentIssuer =>
    createDevelopmentIssuer({ issuer, kinds: ['licence'], licence: { types, regions, crossRegion }, trustForm: 'public-key', ...clock });
  const market = authority('sh-market-authority', ['food-business', 'restaurant-comprehensive', 'public-place-hygiene'], ['CN-SH']);
  const health = authority('sh-health-authority', ['food-handler-health'], ['CN-SH']);
  const jiangsu = authority('js-health-authority', ['food-handler-health'], ['CN-JS'], true);
  const zhejiang = authority('zj-health-authority', ['food-handler-health'], ['CN-ZJ']);
  const revokedNumber = (i: number) => `SH-FH-REVOKED-${i}`;
  const revokedCodes = Array.from({ length: 8 }, (_, i) => sha256Hex(revokedNumber(i)));
  const person = (random: Random) => `p-${Math.floor(random() * 0xffffffff).toString(16).padStart(8, '0')}`;
  const serial = (random: Random) => String(Math.floor(random() * 1e9)).padStart(9, '0');
  const staff = (random: Random, region = 'CN-SH', number = `SH-FH-${serial(random)}`): LicenceClaims => ({
    holder: person(random),
    holderKind: 'person',
    type: 'food-handler-health',
    number,
    region,
    status: 'valid',
  });
  const business = (random: Random, scope: string, comprehensive: boolean): LicenceClaims => ({
    holder: `91310101MA${serial(random)}`,
    holderKind: 'business',
    type: comprehensive ? 'restaurant-comprehensive' : 'food-business',
    ...(comprehensive ? { integrates: ['food-business', 'public-place-hygiene'] } : {}),
    number: `JY${serial(random)}`,
    region: 'CN-SH',
    scope,
    status: 'valid',
  });
  const year = { validMinutes: 365 * 24 * 60 };

  function licence(codeClass: CodeClass, random: Random): MintedCode | undefined {
    const pick = random();
    switch (codeClass) {
      case 'valid':
        if (pick < 0.5) return { codeClass, qr: health.issueLicence({ licence: staff(random), ...year }), expectedReason: 'OK' };
        if (pick < 0.7) return { codeClass, qr: jiangsu.issueLicence({ licence: staff(random, 'CN-JS', `JS-FH-${serial(random)}`), ...year }), expectedReason: 'OK' };
        return { codeClass, qr: market.issueLicence({ licence: business(random, venue, pick < 0.85), ...year }), expectedReason: 'OK' };
      case 'expired':
        return { codeClass, qr: health.issueLicence({ licence: staff(random), issuedAt: now() - 2 * DAY_MS, validMinutes: 24 * 60 }), expectedReason: 'EXPIRED' };
      case 'wrong-colour':
        return { codeClass, qr: market.issueLicence({ licence: business(random, `${venue}-next-door`, false), ...year }), expectedReason: 'POLICY_DENIED' };
      case 'revoked':
        return { codeClass, qr: health.issueLicence({ licence: staff(random, 'CN-SH', revokedNumber(Math.floor(pick * 8))), ...year }), expectedReason: 'REVOKED' };
      case 'wrong-issuer':
        return pick < 0.5
          ? { codeClass, qr: health.issueLicence({ licence: business(random, venue, false), ...year }), expectedReason: 'LICENCE_TYPE_NOT_ALLOWED' }
          : { codeClass, qr: zhejiang.issueLicence({ licence: staff(random, 'CN-ZJ', `ZJ-FH-${serial(random)}`), ...year }), expectedReason: 'LICENCE_NOT_RECOGNISED' };
      default:
        return undefined;
    }
  }

  // Zhejiang's authority is in the list, its licences not recognised here (cross-region off).
  const trustEntries = [market.trustEntry, health.trustEntry, jiangsu.trustEntry, zhejiang.trustEntry];
  return {
    venue,
    trustEntries,
    revokedCodes,
    wrap(base) {
      return {
        trustEntries: [...base.trustEntries, ...trustEntries],
        revocation: { codes: [...base.revocation.codes, ...revokedCodes], subjects: base.revocation.subjects },
        mint(codeClass, at, random) {
          if (at === venue && random() < share) return licence(codeClass, random) ?? base.mint(codeClass, at, random);
          return base.mint(codeClass, at, random);
        },
      };
    },
  };
}
