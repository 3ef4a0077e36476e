import { describe, expect, it } from 'vitest';
import { accessTokenProblems, createTokenAuthenticator, decideAccess, mintAccessToken, sha256Hex } from '../src/access-tokens.ts';

describe('access tokens', () => {
  const analyst = mintAccessToken('ana', 'analyst');
  const dept = mintAccessToken('pudong water', 'department', ['pudong-water']);
  const auth = createTokenAuthenticator([analyst.entry, dept.entry]);

  it('finds the principal of a Bearer token by its SHA-256, never storing the token', () => {
    expect(analyst.token.length).toBeGreaterThanOrEqual(32);
    expect(analyst.entry.tokenSha256).toBe(sha256Hex(analyst.token));
    expect(JSON.stringify(analyst.entry)).not.toContain(analyst.token);
    expect(auth.authenticate(`Bearer ${analyst.token}`)).toEqual({ name: 'ana', role: 'analyst' });
    expect(auth.authenticate(`Bearer ${dept.token}`)).toEqual({ name: 'pudong water', role: 'department', departments: ['pudong-water'] });
  });

  it('binds a venue token to one place (issue 16): checked at config time, carried by the principal', () => {
    const gate = mintAccessToken('gate', 'venue', undefined, 'huangpu/nanjing-east/g001/b01');
    expect(createTokenAuthenticator([gate.entry]).authenticate(`Bearer ${gate.token}`)).toEqual({ name: 'gate', role: 'venue', venue: 'huangpu/nanjing-east/g001/b01' });
    expect(accessTokenProblems([gate.entry])).toEqual([]);
    const problems = accessTokenProblems([
      { name: 'no place', role: 'venue', tokenSha256: sha256Hex('a'.repeat(40)) },
      { name: 'bad place', role: 'venue', tokenSha256: sha256Hex('b'.repeat(40)), venue: "x'; DROP TABLE --/y/z" },
      { name: 'auditor', role: 'auditor', tokenSha256: sha256Hex('c'.repeat(40)), venue: 'huangpu/nanjing-east/g001' },
    ]);
    expect(problems).toEqual([
      expect.stringMatching(/no place\): role venue needs venue/),
      expect.stringMatching(/bad place\): venue Place must be/),
      expect.stringMatching(/auditor\): venue applies to role venue only/),
    ]);
  });

  it('refuses absent, malformed, unknown and short tokens', () => {
    const short = 'x'.repeat(31);
    const shortAuth = createTokenAuthenticator([{ name: 's', role: 'admin', tokenSha256: sha256Hex(short) }]);
    expect(shortAuth.authenticate(`Bearer ${short}`)).toBeUndefined();
    for (const h of [undefined, '', 'Bearer', `Basic ${analyst.token}`, `Bearer ${analyst.token} x`, `Bearer ${analyst.token}x`, `bearer${analyst.token}`]) {
      expect(auth.authenticate(h)).toBeUndefined();
    }
  });

  it('decides 401 / 403 / allowed, and lets everything in when no token is configured', () => {
    expect(decideAccess(auth, undefined, ['analyst']).outcome).toBe('unauthenticated');
    expect(decideAccess(auth, `Bearer ${dept.token}`, ['analyst']).outcome).toBe('forbidden');
    expect(decideAccess(auth, `Bearer ${analyst.token}`, ['analyst'])).toMatchObject({ outcome: 'allowed', principal: { name: 'ana' } });
    expect(decideAccess(createTokenAuthenticator([]), undefined, ['admin'])).toEqual({ outcome: 'allowed', principal: undefined });
  });

  it('reports entries a schema cannot judge', () => {
    const e = analyst.entry;
    expect(accessTokenProblems([{ ...e, role: 'department' }, { ...e, name: 'b', departments: ['x'] }])).toEqual([
      'tokens/0 (ana): role department needs departments',
      'tokens/1 (b): departments apply to role department only',
      'tokens/1 (b): the same token hash is listed twice',
    ]);
  });
});
