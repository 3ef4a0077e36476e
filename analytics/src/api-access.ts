import type { FastifyRequest } from 'fastify';
import { createTokenAuthenticator, decideAccess, type AccessPrincipal, type AccessRole, type AccessTokenEntry, type TokenAuthenticator } from '@cityops/protocol';
import { analyticsErrors } from './errors.ts';

/**
 * Which roles each class of analytics route admits (issue 6, item 3), when `auth.tokens` is
 * configured. Departments also see indicators: the same aggregates their district's screen shows.
 */
export const ANALYTICS_ROUTE_ROLES = {
  /** Indicators, the dashboard's overview and stream (aggregates; alert events filtered per viewer). */
  aggregates: ['admin', 'operator', 'department', 'analyst'],
  /** Alerts: read and act (a department only on the alerts currently with its departments). */
  alerts: ['admin', 'operator', 'department'],
} as const satisfies Record<string, readonly AccessRole[]>;

export type AnalyticsRouteClass = keyof typeof ANALYTICS_ROUTE_ROLES;

export interface AnalyticsAccess {
  /** `auth.tokens` has entries: every data route needs a token of a role it admits. */
  readonly configured: boolean;
  /**
   * The request's principal when its token's role admits the route class; undefined when no token is
   * configured (development). Throws 401 ANALYTICS_ERR_UNAUTHENTICATED / 403 ANALYTICS_ERR_ROLE_FORBIDDEN.
   */
  require(request: FastifyRequest, routeClass: AnalyticsRouteClass): AccessPrincipal | undefined;
}

/** Departments whose alerts the principal sees; undefined: all (operator, admin, or development). */
export function alertDepartments(principal: AccessPrincipal | undefined): readonly string[] | undefined {
  return principal?.role === 'department' ? (principal.departments ?? []) : undefined;
}

/** `tokens` may be a live set (a TokenStore a file watcher replaces): consulted at each request. */
export function createAnalyticsAccess(tokens: readonly AccessTokenEntry[] | TokenAuthenticator): AnalyticsAccess {
  const auth: TokenAuthenticator = Array.isArray(tokens) ? createTokenAuthenticator(tokens) : (tokens as TokenAuthenticator);
  return {
    configured: auth.configured,
    require(request, routeClass) {
      const decision = decideAccess(auth, request.headers.authorization, ANALYTICS_ROUTE_ROLES[routeClass]);
      // Neither message repeats what the client sent: a token pasted by mistake is not echoed or logged.
      if (decision.outcome === 'unauthenticated') throw analyticsErrors.ANALYTICS_ERR_UNAUTHENTICATED();
      if (decision.outcome === 'forbidden') {
        throw analyticsErrors.ANALYTICS_ERR_ROLE_FORBIDDEN(`role ${decision.principal.role} may not use ${routeClass} routes`);
      }
      return decision.principal;
    },
  };
}
