import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { createTokenAuthenticator, decideAccess, type AccessRole, type AccessTokenEntry, type TokenAuthenticator } from '@cityops/protocol';
import { ingestErrors } from './errors.ts';

/** Roles that may read stored readings when tokens are configured (aggregates and above). */
export const READINGS_ROLES = ['admin', 'operator', 'analyst'] as const satisfies readonly AccessRole[];
/** Roles that may read and set a device's remote configuration (issue 18). */
export const DEVICE_CONFIG_ROLES = ['admin', 'operator'] as const satisfies readonly AccessRole[];

export interface IngestAccess {
  /** `http.tokens` has entries: GET /v1/readings needs one (otherwise it is open, as in development). */
  readonly tokensConfigured: boolean;
  /** Device provisioning: the `adminToken`, or a token of role admin. 401 otherwise. */
  requireAdmin(request: FastifyRequest): Promise<void>;
  /** Stored readings: a token of role admin, operator or analyst (or the admin token). 401 / 403. */
  requireReader(request: FastifyRequest): Promise<void>;
  /**
   * Device configuration: the admin token or a token of role admin or operator, never open (not even
   * without `http.tokens`). Resolves to the author recorded with a version: the token's name.
   */
  requireConfigurer(request: FastifyRequest): Promise<string>;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * Who may use ingest's HTTP routes beside devices (issue 6, item 3): the admin token of old, and
 * role tokens (`http.tokens`). Compared as SHA-256 digests in constant time; messages never repeat
 * what the client sent. `tokens` may be a live set (a TokenStore): consulted at each request.
 */
export function createIngestAccess(adminToken: string | undefined, tokens: readonly AccessTokenEntry[] | TokenAuthenticator): IngestAccess {
  const auth = Array.isArray(tokens) ? createTokenAuthenticator(tokens) : (tokens as TokenAuthenticator);
  const adminDigest = adminToken === undefined ? undefined : digest(`Bearer ${adminToken}`);
  const isAdminToken = (header: string | undefined) =>
    adminDigest !== undefined && header !== undefined && timingSafeEqual(adminDigest, digest(header));

  return {
    tokensConfigured: auth.configured,
    requireAdmin(request) {
      const header = request.headers.authorization;
      if (isAdminToken(header) || auth.authenticate(header)?.role === 'admin') return Promise.resolve();
      return Promise.reject(ingestErrors.INGEST_ERR_UNAUTHORIZED('admin token required'));
    },
    requireReader(request) {
      const header = request.headers.authorization;
      if (isAdminToken(header)) return Promise.resolve();
      const decision = decideAccess(auth, header, READINGS_ROLES);
      if (decision.outcome === 'unauthenticated') return Promise.reject(ingestErrors.INGEST_ERR_UNAUTHORIZED('a token of role analyst, operator or admin is required'));
      if (decision.outcome === 'forbidden') return Promise.reject(ingestErrors.INGEST_ERR_ROLE_FORBIDDEN(`role ${decision.principal.role} may not read readings`));
      return Promise.resolve();
    },
    requireConfigurer(request) {
      const header = request.headers.authorization;
      if (isAdminToken(header)) return Promise.resolve('admin-token');
      const principal = auth.configured ? auth.authenticate(header) : undefined;
      if (principal === undefined) return Promise.reject(ingestErrors.INGEST_ERR_UNAUTHORIZED('a token of role operator or admin is required'));
      if (!(DEVICE_CONFIG_ROLES as readonly AccessRole[]).includes(principal.role)) {
        return Promise.reject(ingestErrors.INGEST_ERR_ROLE_FORBIDDEN(`role ${principal.role} may not configure devices`));
      }
      return Promise.resolve(principal.name);
    },
  };
}
