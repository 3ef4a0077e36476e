import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FromSchema } from 'json-schema-to-ts';
import { parsePlace } from './hierarchy.ts';

/**
 * API tokens with roles, one model for every service's HTTP API (issue 6, item 3). Config holds the
 * SHA-256 of each token, never the token: a leaked config file lets no one in.
 *
 * - admin: everything, device provisioning included;
 * - operator: every alert (read and act) and indicators;
 * - department: the alerts currently with its departments only, and indicators;
 * - analyst: indicators and other aggregates only (no alert, no raw reading of a person);
 * - auditor: the verification audit trail (pseudonyms), each read itself audited;
 * - venue: asks the verifier to check codes at its one venue (a place), and nothing else (issue 16).
 */
export const ACCESS_ROLES = ['admin', 'operator', 'department', 'analyst', 'auditor', 'venue'] as const;
export type AccessRole = (typeof ACCESS_ROLES)[number];

/** Tokens shorter than this are refused outright: too few bits to resist guessing. */
export const MIN_ACCESS_TOKEN_LENGTH = 32;

export const accessTokenEntrySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'role', 'tokenSha256'],
  properties: {
    /** Who holds the token: the actor recorded for what they do. */
    name: { type: 'string', minLength: 1, maxLength: 100 },
    role: { type: 'string', enum: ACCESS_ROLES },
    /** Lower-case hex SHA-256 of the token (`cityops token new` prints it). */
    tokenSha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    /** Role `department`: the department ids whose alerts the holder sees and acts on. */
    departments: { type: 'array', minItems: 1, maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 64 } },
    /** Role `venue`: the place (`district/subdistrict/grid[/building]`) its verdicts are recorded at. */
    venue: { type: 'string', minLength: 5, maxLength: 200 },
  },
} as const;

export type AccessTokenEntry = FromSchema<typeof accessTokenEntrySchema>;

export const accessTokensSchema = { type: 'array', default: [], maxItems: 10_000, items: accessTokenEntrySchema } as const;

/** Who a request comes from. */
export interface AccessPrincipal {
  readonly name: string;
  readonly role: AccessRole;
  /** Role `department` only. */
  readonly departments?: readonly string[] | undefined;
  /** Role `venue` only: its place, as `formatPlace` writes it. */
  readonly venue?: string | undefined;
}

export interface TokenAuthenticator {
  /** Tokens are configured: requests must carry one (otherwise development, everything open). */
  readonly configured: boolean;
  /** The principal of an `Authorization: Bearer <token>` header, or undefined. Never throws. */
  authenticate(authorization: string | undefined): AccessPrincipal | undefined;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Problems a schema cannot see: a department entry without departments, departments on another
 * role, a token hash listed twice. Empty: fine.
 */
export function accessTokenProblems(entries: readonly AccessTokenEntry[], where = 'tokens'): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  entries.forEach((e, i) => {
    if (e.role === 'department' && (e.departments === undefined || e.departments.length === 0)) {
      problems.push(`${where}/${i} (${e.name}): role department needs departments`);
    }
    if (e.role !== 'department' && e.departments !== undefined) {
      problems.push(`${where}/${i} (${e.name}): departments apply to role department only`);
    }
    if (e.role === 'venue') {
      if (e.venue === undefined) problems.push(`${where}/${i} (${e.name}): role venue needs venue (district/subdistrict/grid[/building])`);
      else if (placeProblem(e.venue) !== undefined) problems.push(`${where}/${i} (${e.name}): venue ${placeProblem(e.venue)}`);
    } else if (e.venue !== undefined) {
      problems.push(`${where}/${i} (${e.name}): venue applies to role venue only`);
    }
    if (seen.has(e.tokenSha256)) problems.push(`${where}/${i} (${e.name}): the same token hash is listed twice`);
    seen.add(e.tokenSha256);
  });
  return problems;
}

function placeProblem(text: string): string | undefined {
  try {
    parsePlace(text);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Checks Bearer tokens against the configured hashes. Every entry is compared (constant time, equal
 * lengths: the digests), so the time taken says nothing about which entry or how much matched.
 */
export function createTokenAuthenticator(entries: readonly AccessTokenEntry[]): TokenAuthenticator {
  const known = entries.map((e) => ({
    digest: Buffer.from(e.tokenSha256, 'hex'),
    principal: Object.freeze({
      name: e.name,
      role: e.role,
      ...(e.departments === undefined ? {} : { departments: [...e.departments] }),
      ...(e.venue === undefined ? {} : { venue: e.venue }),
    }),
  }));
  return {
    configured: known.length > 0,
    authenticate(authorization) {
      if (authorization === undefined) return undefined;
      const match = /^Bearer ([\x21-\x7e]+)$/.exec(authorization);
      if (match === null || match[1]!.length < MIN_ACCESS_TOKEN_LENGTH) return undefined;
      const given = createHash('sha256').update(match[1]!).digest();
      let found: AccessPrincipal | undefined;
      for (const k of known) if (timingSafeEqual(k.digest, given) && found === undefined) found = k.principal;
      return found;
    },
  };
}

/** A new random token (256 bits, base64url, 43 chars) and its config entry. Print the token once. */
export function mintAccessToken(name: string, role: AccessRole, departments?: readonly string[], venue?: string): { token: string; entry: AccessTokenEntry } {
  const token = randomBytes(32).toString('base64url');
  const entry: AccessTokenEntry = {
    name,
    role,
    tokenSha256: sha256Hex(token),
    ...(departments === undefined ? {} : { departments: [...departments] }),
    ...(venue === undefined ? {} : { venue }),
  };
  return { token, entry };
}

/** The outcome of a route's check: let in (principal undefined: development, no tokens), or 401 / 403. */
export type AccessDecision =
  | { readonly outcome: 'allowed'; readonly principal: AccessPrincipal | undefined }
  | { readonly outcome: 'unauthenticated' }
  | { readonly outcome: 'forbidden'; readonly principal: AccessPrincipal };

/** Checks a request's Authorization header against the roles a route class admits. */
export function decideAccess(auth: TokenAuthenticator, authorization: string | undefined, roles: readonly AccessRole[]): AccessDecision {
  if (!auth.configured) return { outcome: 'allowed', principal: undefined };
  const principal = auth.authenticate(authorization);
  if (principal === undefined) return { outcome: 'unauthenticated' };
  return roles.includes(principal.role) ? { outcome: 'allowed', principal } : { outcome: 'forbidden', principal };
}
