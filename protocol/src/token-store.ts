import { accessTokenProblems, accessTokensSchema, createTokenAuthenticator, type AccessTokenEntry, type TokenAuthenticator } from './access-tokens.ts';
import { compileSchemaCheck } from './schema-check.ts';

/**
 * The token set every HTTP API of a process consults per request (issue 6: revocable at runtime).
 * `replace` swaps the whole set at once: an entry gone is revoked for the next request, one added is
 * granted. Whether tokens are required is fixed at creation, so no replacement ever opens access:
 * emptying the set refuses everyone, and a store made without tokens (development) refuses any.
 */
export interface TokenStore extends TokenAuthenticator {
  /** The entries now in force. */
  entries(): readonly AccessTokenEntry[];
  /** Puts `entries` in force if valid; otherwise keeps the current set and returns the problems (empty: replaced). */
  replace(entries: unknown): string[];
}

export function createTokenStore(initial: readonly AccessTokenEntry[]): TokenStore {
  const check = compileSchemaCheck(accessTokensSchema);
  const configured = initial.length > 0;
  let current = { entries: [...initial], auth: createTokenAuthenticator(initial) };
  return {
    configured,
    entries: () => current.entries,
    authenticate: (authorization) => current.auth.authenticate(authorization),
    replace(entries) {
      if (!configured) return ['started without tokens (development): restart with tokens to require them'];
      const problems = check(entries);
      if (problems.length > 0) return problems;
      const valid = entries as AccessTokenEntry[];
      const more = accessTokenProblems(valid);
      if (more.length > 0) return more;
      current = { entries: [...valid], auth: createTokenAuthenticator(valid) };
      return [];
    },
  };
}
