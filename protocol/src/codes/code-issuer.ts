import { randomBytes, type KeyObject } from 'node:crypto';
import { formatPlace, parsePlace, type Place } from '../hierarchy.ts';
import { isCityopsError } from '../errors.ts';
import { encodeBase45 } from './base45.ts';
import { createCborCodec } from './cbor-codec.ts';
import { ISSUED_CTI_BYTES, ISSUER_PATTERN, MAX_CTI_BYTES, MIN_CTI_BYTES } from './city-code-envelope.ts';
import { codeErrors } from './code-errors.ts';
import { algsFor, formatOf } from './code-formats.ts';
import { CODE_ALGS, HEALTH_COLOURS, SITE_RISKS, type CodeAlg, type CodeKind, type HealthColour, type SiteRisk } from './code-types.ts';
import { keyFitsAlg } from './cose-algorithms.ts';
import type { ClaimsMap } from './cwt-claims.ts';
import { MAX_KID_BYTES, writeCoseSign1 } from './cose-sign1.ts';
import { createDccPayloadCheck, writeDccClaims } from './dcc-payload.ts';
import type { DccPayload } from './dcc-schema.ts';
import { SUBJECT_PATTERN, writeHealthCodeClaims } from './health-code.ts';
import { writeLicenceClaims } from './licence-code.ts';
import { createLicenceClaimsCheck, type LicenceClaims } from './licence-schema.ts';
import { VENUE_PATTERN, writeSiteCodeClaims } from './site-code.ts';
import { deflate } from './zlib-payload.ts';

export interface CodeSignerConfig {
  readonly kid: Buffer;
  readonly privateKey: KeyObject;
  readonly alg: CodeAlg;
  /** CWT `iss`: the issuing service or office; for DCCs, the issuing country (or '' to omit). */
  readonly issuer: string;
}

export interface CodeIssuerDeps {
  /** ms since the epoch; the default clock is Date.now. */
  readonly now?: () => number;
  readonly randomBytes?: (size: number) => Buffer;
}

/** Longest validity per kind: health codes are short-lived, site codes and DCCs are not. */
export const MAX_VALID_MINUTES: Readonly<Record<CodeKind, number>> = Object.freeze({
  'health-code': 7 * 24 * 60,
  'site-code': 2 * 366 * 24 * 60,
  'eu-dcc': 2 * 366 * 24 * 60,
  // A PRC food business licence is valid for five years.
  licence: 5 * 366 * 24 * 60,
});

export const DEFAULT_VALID_MINUTES: Readonly<Record<CodeKind, number>> = Object.freeze({
  'health-code': 60,
  'site-code': 366 * 24 * 60,
  'eu-dcc': 365 * 24 * 60,
  licence: 366 * 24 * 60,
});

interface Timing {
  /** ms since the epoch (default: now); NumericDates keep whole seconds. */
  readonly issuedAt?: number | undefined;
  readonly validMinutes?: number | undefined;
}

export interface HealthCodeInput extends Timing {
  readonly subject: string;
  readonly colour: HealthColour;
  /** ms since the epoch. */
  readonly lastTestAt?: number | undefined;
  /** The code id (CWT cti); 8 random bytes by default. */
  readonly codeId?: Buffer | undefined;
}

export interface SiteCodeInput extends Timing {
  readonly venue: string;
  readonly place: Place | string;
  readonly risk: SiteRisk;
  readonly codeId?: Buffer | undefined;
}

export interface LicenceInput extends Timing {
  /** Holder, types, number, region, scope, status: checked against licenceClaimsSchema. */
  readonly licence: LicenceClaims;
  readonly codeId?: Buffer | undefined;
}

export interface DccInput extends Timing {
  readonly payload: DccPayload;
}

/** Mints QR texts signed with one key. */
export interface CodeIssuer {
  readonly alg: CodeAlg;
  readonly kid: Buffer;
  readonly issuer: string;
  issueHealthCode(input: HealthCodeInput): string;
  issueSiteCode(input: SiteCodeInput): string;
  issueDcc(input: DccInput): string;
  issueLicence(input: LicenceInput): string;
}

function issueError(detail: string): never {
  throw codeErrors.CODE_ERR_ISSUE(detail);
}

export function createCodeIssuer(signer: CodeSignerConfig, deps: CodeIssuerDeps = {}): CodeIssuer {
  const now = deps.now ?? Date.now;
  const random = deps.randomBytes ?? randomBytes;
  if (!(CODE_ALGS as readonly string[]).includes(signer.alg)) throw codeErrors.CODE_ERR_ALG(`unknown alg ${String(signer.alg)}`);
  if (signer.privateKey.type !== 'private') throw codeErrors.CODE_ERR_ISSUE('the signing key is not a private key');
  if (!keyFitsAlg(signer.privateKey, signer.alg)) {
    throw codeErrors.CODE_ERR_ALG(`a ${signer.privateKey.asymmetricKeyType ?? 'secret'} key cannot sign ${signer.alg}`);
  }
  if (signer.kid.length === 0 || signer.kid.length > MAX_KID_BYTES) throw codeErrors.CODE_ERR_KID(`kid must be 1-${MAX_KID_BYTES} bytes`);
  const cbor = createCborCodec();
  const checkDcc = createDccPayloadCheck();
  const checkLicence = createLicenceClaimsCheck();
  const cose = { alg: signer.alg, kid: Buffer.from(signer.kid), privateKey: signer.privateKey };

  function window(kind: CodeKind, timing: Timing): { iat: number; exp: number } {
    const minutes = timing.validMinutes ?? DEFAULT_VALID_MINUTES[kind];
    if (!Number.isSafeInteger(minutes) || minutes < 1 || minutes > MAX_VALID_MINUTES[kind]) {
      issueError(`validMinutes must be an integer in 1-${MAX_VALID_MINUTES[kind]} for a ${kind}, got ${minutes}`);
    }
    const issuedAt = timing.issuedAt ?? now();
    if (!Number.isFinite(issuedAt) || issuedAt < 0) issueError(`issuedAt ${issuedAt} is not a time`);
    const iat = Math.floor(issuedAt / 1000);
    return { iat, exp: iat + minutes * 60 };
  }

  function codeId(given: Buffer | undefined): Buffer {
    if (given === undefined) return random(ISSUED_CTI_BYTES);
    if (given.length < MIN_CTI_BYTES || given.length > MAX_CTI_BYTES) issueError(`codeId must be ${MIN_CTI_BYTES}-${MAX_CTI_BYTES} bytes`);
    return given;
  }

  function seal(kind: CodeKind, claims: ClaimsMap): string {
    if (!algsFor(kind).includes(signer.alg)) throw codeErrors.CODE_ERR_ALG(`${signer.alg} is not allowed for ${kind} (allowed: ${algsFor(kind).join(', ')})`);
    const format = formatOf(kind);
    const message = writeCoseSign1(cose, cbor.encode(claims), cbor);
    const packed = format.zlib === 'required' ? deflate(message) : smaller(message, deflate(message));
    return format.prefix + encodeBase45(packed);
  }

  function cityIssuer(): string {
    if (!ISSUER_PATTERN.test(signer.issuer)) issueError(`issuer ${JSON.stringify(signer.issuer)} must be 1-64 printable ASCII characters`);
    return signer.issuer;
  }

  return {
    alg: signer.alg,
    kid: Buffer.from(signer.kid),
    issuer: signer.issuer,
    issueHealthCode(input) {
      if (!SUBJECT_PATTERN.test(input.subject)) issueError(`subject must match ${SUBJECT_PATTERN.source}`);
      if (!HEALTH_COLOURS.includes(input.colour)) issueError(`colour must be one of ${HEALTH_COLOURS.join(', ')}`);
      const { iat, exp } = window('health-code', input);
      const lastTest = input.lastTestAt === undefined ? undefined : Math.floor(input.lastTestAt / 1000);
      if (lastTest !== undefined && (!Number.isSafeInteger(lastTest) || lastTest < 0)) issueError('lastTestAt is not a time');
      const claims = writeHealthCodeClaims({
        issuer: cityIssuer(),
        subject: input.subject,
        colour: input.colour,
        iat,
        exp,
        lastTest,
        cti: codeId(input.codeId),
      });
      return seal('health-code', claims);
    },
    issueSiteCode(input) {
      if (!VENUE_PATTERN.test(input.venue)) issueError(`venue must match ${VENUE_PATTERN.source}`);
      if (!SITE_RISKS.includes(input.risk)) issueError(`risk must be one of ${SITE_RISKS.join(', ')}`);
      let place: Place;
      try {
        place = parsePlace(typeof input.place === 'string' ? input.place : formatPlace(input.place));
      } catch (err) {
        if (isCityopsError(err)) issueError(err.message);
        throw err;
      }
      const { iat, exp } = window('site-code', input);
      const claims = writeSiteCodeClaims({ issuer: cityIssuer(), venue: input.venue, place, risk: input.risk, iat, exp, cti: codeId(input.codeId) });
      return seal('site-code', claims);
    },
    issueDcc(input) {
      // What a published release allows, and never a date that is not a date (advisory for readers only).
      const { payload, formatMisses } = checkDcc(structuredClone(input.payload));
      if (formatMisses.length > 0) issueError(`the DCC payload has ${formatMisses.join('; ')}`);
      const { iat, exp } = window('eu-dcc', input);
      return seal('eu-dcc', writeDccClaims({ issuer: signer.issuer, iat, exp, payload }));
    },
    issueLicence(input) {
      const problems = checkLicence(input.licence);
      if (problems.length > 0) issueError(`licence: ${problems.join('; ')}`);
      const { iat, exp } = window('licence', input);
      return seal('licence', writeLicenceClaims({ issuer: cityIssuer(), licence: input.licence, iat, exp, cti: codeId(input.codeId) }));
    },
  };
}

function smaller(raw: Buffer, compressed: Buffer): Buffer {
  return compressed.length < raw.length ? compressed : raw;
}
