import { createHash } from 'node:crypto';
import {
  createCodeIssuer,
  createDevelopmentIssuer,
  decodeBase45,
  encodeBase45,
  HEALTH_CODE_PREFIX,
  type CodeIssuer,
  type IssuerTrustEntry,
} from '@cityops/protocol';
import type { Random } from '@cityops/edge-agent';

/** What a simulated person holds up to the scanner. */
export const CODE_CLASSES = ['valid', 'expired', 'wrong-colour', 'forged', 'revoked', 'wrong-issuer', 'malformed'] as const;
export type CodeClass = (typeof CODE_CLASSES)[number];

/** Relative weights of the classes (any scale; 0 leaves a class out). */
export type CodeMix = Readonly<Record<CodeClass, number>>;

/** Every class often enough to check each verdict (`cityops scan --simulate`): 20% denied. */
export const DEFAULT_CODE_MIX: CodeMix = Object.freeze({ valid: 80, expired: 5, 'wrong-colour': 0, forged: 4, revoked: 4, 'wrong-issuer': 3, malformed: 4 });

/**
 * What a city's doors see (`cityops up`), per 10,000 people: 2% denied, mostly an expired code (a
 * screenshot of yesterday's) or a yellow/red one; a misread or a revoked code now and then; a
 * forgery (or a code of the wrong issuer) about once in 2,000: rare enough that a venue's forgery
 * rule stays quiet for days, so a forged-code ring stands out.
 */
export const CITY_CODE_MIX: CodeMix = Object.freeze({ valid: 9800, expired: 110, 'wrong-colour': 70, forged: 2, revoked: 5, 'wrong-issuer': 3, malformed: 10 });

/** `valid=70,expired=10,...`: classes not named keep weight 0; at least one weight above 0. */
export function parseCodeMix(text: string): CodeMix {
  const mix = Object.fromEntries(CODE_CLASSES.map((c) => [c, 0])) as Record<CodeClass, number>;
  for (const part of text.split(',').filter((p) => p.trim() !== '')) {
    const [name, weight] = part.split('=').map((s) => s.trim());
    if (!(CODE_CLASSES as readonly string[]).includes(name ?? '')) throw new Error(`unknown code class ${JSON.stringify(name)}; known: ${CODE_CLASSES.join(', ')}`);
    const value = Number(weight);
    if (!Number.isFinite(value) || value < 0) throw new Error(`weight of ${name} must be a number >= 0, not ${JSON.stringify(weight)}`);
    mix[name as CodeClass] = value;
  }
  if (Object.values(mix).every((w) => w === 0)) throw new Error('the mix needs at least one class with a weight above 0');
  return Object.freeze(mix);
}

/** Picks a class by weight. */
export function pickCodeClass(mix: CodeMix, random: Random): CodeClass {
  const total = CODE_CLASSES.reduce((n, c) => n + mix[c], 0);
  let x = random() * total;
  for (const c of CODE_CLASSES) {
    x -= mix[c];
    if (x < 0) return c;
  }
  return CODE_CLASSES.findLast((c) => mix[c] > 0)!;
}

export interface MintedCode {
  readonly codeClass: CodeClass;
  readonly qr: string;
  /** The reason the verifier (online or offline) must give: OK for valid codes, a deny reason otherwise. */
  readonly expectedReason: string;
}

export interface ScannerCodeMint {
  /** The trust file a verifier (and the scanners' offline copy) needs: the city's health service and district office. */
  readonly trustEntries: readonly IssuerTrustEntry[];
  /** The revocation file (the verifier's format: SHA-256 hex of code ids and subjects). */
  readonly revocation: { readonly codes: readonly string[]; readonly subjects: readonly string[] };
  mint(codeClass: CodeClass, venue: string, random: Random): MintedCode;
}

export interface ScannerCodeMintOptions {
  readonly seed?: number;
  /** Revoked code ids and revoked subjects, each (revoked codes are drawn from them). */
  readonly revokedPool?: number;
  readonly now?: () => number;
}

/** The verifier's identifierHash: revocation lists hold SHA-256 hex, never the raw id. */
const sha256Hex = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');

/**
 * The codes of a simulated city, each class made as it would be met at a door:
 * - `valid`: a green health code of the city's health service (one in ten: the venue's own site code);
 * - `expired`: a health code whose hour ran out an hour ago → EXPIRED;
 * - `wrong-colour`: a yellow or red health code, which the city's default venue policy refuses → POLICY_DENIED;
 * - `forged`: signed by a key nobody trusts, half under its own kid (→ UNKNOWN_KEY), half under the
 *   health service's kid (→ BAD_SIGNATURE);
 * - `revoked`: a code id or a subject on the revocation list → REVOKED;
 * - `wrong-issuer`: a health code signed by the district office, whose key is trusted for site
 *   codes only → KEY_NOT_ALLOWED_FOR_KIND;
 * - `malformed`: broken at one layer: unknown prefix, not base45, or a truncated payload.
 * Keys are made per mint (development issuers); the trust and revocation files go to the verifier.
 */
export function createScannerCodeMint(options: ScannerCodeMintOptions = {}): ScannerCodeMint {
  const clock = options.now === undefined ? {} : { now: options.now };
  const now = options.now ?? Date.now;
  const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], trustForm: 'public-key', ...clock });
  const office = createDevelopmentIssuer({ issuer: 'district-office', kinds: ['site-code'], ...clock });
  const rogue = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], ...clock });
  const impersonator: CodeIssuer = createCodeIssuer({ kid: health.kid, privateKey: rogue.privateKey, alg: 'ES256', issuer: 'city-health' }, clock);
  const seed = options.seed ?? 1;
  const pool = Math.max(1, options.revokedPool ?? 64);
  const revokedCodeIds = Array.from({ length: pool }, (_, i) => createHash('sha256').update(`revoked-code-${seed}-${i}`).digest().subarray(0, 8));
  const revokedSubjects = Array.from({ length: pool }, (_, i) => `p-revoked-${seed}-${i}`);
  const pick = <T>(list: readonly T[], random: Random): T => list[Math.floor(random() * list.length)]!;
  const subject = (random: Random) => `p-${Math.floor(random() * 0xffffffff).toString(16).padStart(8, '0')}`;
  const healthCode = (
    issuer: CodeIssuer,
    random: Random,
    extra: { issuedAt?: number; validMinutes?: number; codeId?: Buffer; subject?: string; colour?: 'green' | 'yellow' | 'red' } = {},
  ) => issuer.issueHealthCode({ subject: extra.subject ?? subject(random), colour: 'green', ...extra });

  function malformed(random: Random): MintedCode {
    const good = healthCode(health, random);
    const body = good.slice(HEALTH_CODE_PREFIX.length);
    const variant = Math.floor(random() * 3);
    if (variant === 0) return { codeClass: 'malformed', qr: `CHX1:${body}`, expectedReason: 'MALFORMED_PREFIX' };
    // RFC 9285: lower-case letters are not in the alphabet.
    if (variant === 1) return { codeClass: 'malformed', qr: `${HEALTH_CODE_PREFIX}${body.slice(0, 20)}a${body.slice(21)}`, expectedReason: 'MALFORMED_BASE45' };
    const bytes = decodeBase45(body);
    const truncated = bytes.subarray(0, bytes.length - 20);
    // RFC 1950: a zlib stream starts with 0x78 (deflate, 32K window); ours is compressed only when shorter.
    const expectedReason = bytes[0] === 0x78 ? 'MALFORMED_ZLIB' : 'MALFORMED_CBOR';
    return { codeClass: 'malformed', qr: `${HEALTH_CODE_PREFIX}${encodeBase45(truncated)}`, expectedReason };
  }

  return {
    trustEntries: [health.trustEntry, office.trustEntry],
    revocation: { codes: revokedCodeIds.map((id) => sha256Hex(id.toString('hex'))), subjects: revokedSubjects.map(sha256Hex) },
    mint(codeClass, venue, random) {
      switch (codeClass) {
        case 'valid':
          if (random() < 0.1) {
            return { codeClass, qr: office.issueSiteCode({ venue: venue.replaceAll('/', '.'), place: venue, risk: 'low' }), expectedReason: 'OK' };
          }
          return { codeClass, qr: healthCode(health, random), expectedReason: 'OK' };
        case 'expired':
          return { codeClass, qr: healthCode(health, random, { issuedAt: now() - 2 * 3_600_000, validMinutes: 60 }), expectedReason: 'EXPIRED' };
        case 'wrong-colour':
          return { codeClass, qr: healthCode(health, random, { colour: random() < 0.7 ? 'yellow' : 'red' }), expectedReason: 'POLICY_DENIED' };
        case 'forged':
          return random() < 0.5
            ? { codeClass, qr: healthCode(rogue, random), expectedReason: 'UNKNOWN_KEY' }
            : { codeClass, qr: healthCode(impersonator, random), expectedReason: 'BAD_SIGNATURE' };
        case 'revoked':
          return random() < 0.5
            ? { codeClass, qr: healthCode(health, random, { codeId: pick(revokedCodeIds, random) }), expectedReason: 'REVOKED' }
            : { codeClass, qr: healthCode(health, random, { subject: pick(revokedSubjects, random) }), expectedReason: 'REVOKED' };
        case 'wrong-issuer':
          return { codeClass, qr: healthCode(office, random), expectedReason: 'KEY_NOT_ALLOWED_FOR_KIND' };
        case 'malformed':
          return malformed(random);
      }
    },
  };
}
