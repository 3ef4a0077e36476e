import { createCodeDecoder, createCodeIssuer, createDevelopmentIssuer, type LicenceClaims } from '@cityops/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { authenticateCode } from '../src/authenticate-code.ts';
import { identifierHash, pseudonym } from '../src/identifier-hashes.ts';
import { createMicroBatcher } from '../src/micro-batcher.ts';
import { REASON_CODES, isCodeValid, type Reason } from '../src/reasons.ts';
import { buildRevocationSnapshot } from '../src/revocation-list.ts';
import { buildStatusSnapshot } from '../src/status-feed.ts';
import { parseTrustList } from '../src/trust-list.ts';
import { createVerdictCache } from '../src/verdict-cache.ts';
import { buildPolicySnapshot } from '../src/venue-policies.ts';
import type { VerificationContext } from '../src/verification-context.ts';
import { verifyCode } from '../src/verify-code.ts';
import { createTestIssuers, dccTest, dccVaccination, MALFORMED, PSEUDONYM_KEY, trustEntries } from './code-fixtures.ts';

const NOW = Date.UTC(2026, 10, 26, 9, 0, 0);
const MINUTE = 60_000;
const issuers = createTestIssuers(() => NOW);
const decoder = createCodeDecoder();
const revokedCodeId = Buffer.from('00112233445566778899', 'hex');
/** A licensing authority (issue 23): food business licences for Shanghai and Jiangsu, recognised only at home. */
const licensor = createDevelopmentIssuer({
  alg: 'EdDSA',
  issuer: 'sh-market',
  kinds: ['licence'],
  licence: { types: ['food-business'], regions: ['CN-SH', 'CN-JS'] },
  trustForm: 'public-key',
  now: () => NOW,
});
const licence = (extra: Partial<LicenceClaims> = {}) =>
  licensor.issueLicence({ licence: { holder: 'b-1000', holderKind: 'business', type: 'food-business', number: 'L-1', region: 'CN-SH', status: 'valid', ...extra } });

function context(overrides: Partial<VerificationContext> = {}): VerificationContext {
  return {
    generation: 1,
    trust: parseTrustList([...trustEntries(issuers), licensor.trustEntry], 1),
    revocation: buildRevocationSnapshot({ codes: [identifierHash(revokedCodeId.toString('hex'))], subjects: [identifierHash('p-revoked')] }, 1, 1e-6),
    status: buildStatusSnapshot([{ subject: identifierHash('p-traced'), colour: 'yellow', since: NOW - MINUTE }], 1),
    policies: buildPolicySnapshot({ default: { colours: ['green'] }, venues: { 'clinic-1': { kinds: ['eu-dcc'] }, 'cafe-2': { colours: ['green', 'yellow'] } } }, 1),
    freshness: { trust: { freshAt: NOW - MINUTE, maxAgeMs: 3_600_000 } },
    ...overrides,
  };
}

const options = { now: NOW, clockSkewMs: 30_000, staleAction: 'warn' as const, pseudonymKey: PSEUDONYM_KEY };
const green = (subject = 'p-100001', extra: object = {}) => issuers.health.issueHealthCode({ subject, colour: 'green', ...extra });

/** One QR text (and venue) per reason the core gives, with what else the verdict must say. */
const cases: { name: string; qr: string; venue?: string; reason: Reason; expect?: object }[] = [
  { name: 'a green health code', qr: green(), reason: 'OK', expect: { verdict: 'allow', kind: 'health-code', colour: 'green', issuer: 'city-health' } },
  { name: 'a site code', qr: issuers.site.issueSiteCode({ venue: 'mall-1', place: 'huangpu/nanjing-east/g001', risk: 'low' }), reason: 'OK', expect: { kind: 'site-code' } },
  { name: 'a vaccination DCC', qr: issuers.dcc.issueDcc({ payload: dccVaccination() }), reason: 'OK', expect: { kind: 'eu-dcc', dccType: 'v', issuer: 'XA' } },
  ...MALFORMED.map((m) => ({ name: `malformed at ${m.reason}`, qr: m.qr, reason: m.reason, expect: { verdict: 'deny', kind: null, detail: `CODE_ERR_${m.reason.slice('MALFORMED_'.length)}` } })),
  { name: 'a key nobody trusts', qr: issuers.rogue.issueHealthCode({ subject: 'p-100002', colour: 'green' }), reason: 'UNKNOWN_KEY', expect: { kind: 'health-code' } },
  { name: 'a site key signing a health code', qr: issuers.siteOnly.issueHealthCode({ subject: 'p-100003', colour: 'green' }), reason: 'KEY_NOT_ALLOWED_FOR_KIND' },
  { name: 'a trusted key whose entry names another issuer', qr: issuers.impostor.issueHealthCode({ subject: 'p-100004', colour: 'green' }), reason: 'ISSUER_MISMATCH', expect: { detail: 'key of someone-else' } },
  { name: 'a forged signature', qr: forged('p-100005'), reason: 'BAD_SIGNATURE' },
  { name: 'a test DCC from a vaccination-only signer', qr: issuers.dcc.issueDcc({ payload: dccTest() }), reason: 'KEY_USAGE_MISMATCH', expect: { detail: 'type t' } },
  { name: 'a DCC issued before its signer certificate was valid', qr: issuers.dcc.issueDcc({ payload: dccVaccination(), issuedAt: NOW - 2 * 24 * 60 * MINUTE }), reason: 'SIGNER_NOT_VALID_AT_ISSUE' },
  { name: 'a code from the future', qr: green('p-100006', { issuedAt: NOW + 5 * MINUTE }), reason: 'NOT_YET_VALID' },
  { name: 'an expired code', qr: green('p-100007', { issuedAt: NOW - 2 * 60 * MINUTE, validMinutes: 60 }), reason: 'EXPIRED' },
  { name: 'a revoked code id', qr: green('p-100008', { codeId: revokedCodeId }), reason: 'REVOKED', expect: { detail: 'code' } },
  { name: 'a revoked subject', qr: green('p-revoked'), reason: 'REVOKED', expect: { detail: 'subject' } },
  { name: 'a green code of a subject traced since', qr: green('p-traced', { issuedAt: NOW - 10 * MINUTE }), reason: 'COLOUR_DOWNGRADED', expect: { colour: 'yellow', issuedColour: 'green' } },
  { name: 'the same, at a venue accepting yellow', qr: green('p-traced', { issuedAt: NOW - 10 * MINUTE }), venue: 'cafe-2', reason: 'OK', expect: { verdict: 'allow', colour: 'yellow', issuedColour: 'green' } },
  { name: 'a green code issued after the downgrade', qr: green('p-traced', { issuedAt: NOW - 30_000 }), reason: 'OK', expect: { colour: 'green' } },
  { name: 'a yellow code', qr: issuers.health.issueHealthCode({ subject: 'p-100009', colour: 'yellow' }), reason: 'POLICY_DENIED', expect: { detail: 'colour' } },
  { name: 'a health code at a DCC-only venue', qr: green(), venue: 'clinic-1', reason: 'POLICY_DENIED', expect: { detail: 'kind' } },
  { name: 'a food business licence', qr: licence(), reason: 'OK', expect: { kind: 'licence', licenceTypes: ['food-business'] } },
  { name: 'a licence of a type its authority may not issue', qr: licence({ type: 'liquor-retail' }), reason: 'LICENCE_TYPE_NOT_ALLOWED' },
  { name: 'a licence for a region its authority may not issue for', qr: licence({ region: 'CN-ZJ' }), reason: 'LICENCE_REGION_NOT_ALLOWED' },
  { name: 'a licence issued withdrawn', qr: licence({ status: 'withdrawn' }), reason: 'LICENCE_WITHDRAWN' },
  { name: 'a licence issued suspended', qr: licence({ status: 'suspended' }), reason: 'LICENCE_SUSPENDED' },
  { name: 'a Jiangsu licence its authority is not recognised for here', qr: licence({ region: 'CN-JS' }), reason: 'LICENCE_NOT_RECOGNISED' },
];

/** A code under the trusted health kid, signed by another key: the structure holds, the signature does not. */
function forged(subject: string): string {
  const kid = Buffer.from(issuers.health.trustEntry.kid, 'base64');
  return createCodeIssuer({ kid, privateKey: issuers.rogue.privateKey, alg: 'ES256', issuer: 'city-health' }, { now: () => NOW }).issueHealthCode({
    subject,
    colour: 'green',
  });
}

describe('verification core', () => {
  it.each(cases)('$name → $reason', ({ qr, venue, reason, expect: extra }) => {
    const { verdict, authentication } = verifyCode(qr, context(), decoder, { ...options, venue });
    expect(verdict.reason).toBe(reason);
    expect(verdict.verdict).toBe(reason === 'OK' ? 'allow' : 'deny');
    if (extra !== undefined) expect(verdict).toMatchObject(extra);
    // Never the subject or the code id in what leaves the core.
    expect(JSON.stringify(verdict)).not.toMatch(/p-1000|p-revoked|p-traced/);
    expect(JSON.stringify(authentication)).not.toMatch(/p-1000|p-revoked|p-traced/);
  });

  it('reaches every documented reason (the rest are covered by the service, pool and CLI tests)', () => {
    const reached = new Set(cases.map((c) => c.reason));
    // NO_CODE_IN_IMAGE: given by the image readers (cli/test/verify-image-command.test.ts), never by the core.
    // THROTTLED: given by the engine before the core (verifier/test/credential-throttle.test.ts).
    const elsewhere: Reason[] = ['MALFORMED_REQUEST', 'MALFORMED_INPUT', 'STALE_DATA', 'OVERLOADED', 'INTERNAL_ERROR', 'NO_CODE_IN_IMAGE', 'THROTTLED'];
    expect(REASON_CODES.filter((r) => !reached.has(r) && !elsewhere.includes(r))).toEqual([]);
  });

  it('a decoder failure outside the documented codes is MALFORMED_INPUT', () => {
    const broken = { decode: () => { throw new TypeError('boom'); } };
    expect(authenticateCode('CHC1:X', context().trust, broken)).toEqual({ ok: false, reason: 'MALFORMED_INPUT', kind: null, detail: 'TypeError' });
  });

  it('keys the pseudonym with the audit key and hashes ids for revocation', () => {
    const auth = authenticateCode(green('p-555555'), context().trust, decoder, PSEUDONYM_KEY);
    expect(auth).toMatchObject({ ok: true, pseudonym: pseudonym(PSEUDONYM_KEY, identifierHash('p-555555')), subjectHash: identifierHash('p-555555') });
    expect(authenticateCode(green('p-555555'), context().trust, decoder)).toMatchObject({ pseudonym: '' });
  });

  it('allows clock skew on both ends of the window', () => {
    const early = green('p-100010', { issuedAt: NOW + 20_000 });
    expect(verifyCode(early, context(), decoder, options).verdict.reason).toBe('OK');
    const late = green('p-100011', { issuedAt: NOW - 60 * MINUTE - 20_000, validMinutes: 60 });
    expect(verifyCode(late, context(), decoder, options).verdict.reason).toBe('OK');
    expect(verifyCode(late, context(), decoder, { ...options, clockSkewMs: 0 }).verdict.reason).toBe('EXPIRED');
  });

  it('marks verdicts made with stale data, and denies on them when told to', () => {
    const stale = context({ freshness: { trust: { freshAt: NOW - 2 * 3_600_000, maxAgeMs: 3_600_000 }, revocation: { freshAt: NOW, maxAgeMs: 1000 } } });
    const warned = verifyCode(green(), stale, decoder, options).verdict;
    expect(warned).toMatchObject({ verdict: 'allow', reason: 'OK', stale: true, staleSources: ['trust'] });
    const denied = verifyCode(green(), stale, decoder, { ...options, staleAction: 'deny' }).verdict;
    expect(denied).toMatchObject({ verdict: 'deny', reason: 'STALE_DATA', detail: 'trust', stale: true });
    // A deny for another reason keeps its reason, with the mark.
    expect(verifyCode('XX1:A', stale, decoder, { ...options, staleAction: 'deny' }).verdict).toMatchObject({ reason: 'MALFORMED_PREFIX', stale: true });
    expect(isCodeValid('STALE_DATA')).toBe(true);
    expect(isCodeValid('EXPIRED')).toBe(false);
  });
});

describe('micro-batcher', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends a batch when full, after the delay, or when the key changes', async () => {
    vi.useFakeTimers();
    const sent: { key: string; items: number[] }[] = [];
    const batcher = createMicroBatcher<string, number, number>({ maxItems: 3, maxDelayMs: 1 }, {
      run: (key, items) => {
        sent.push({ key, items: [...items] });
        return Promise.resolve(items.map((i) => i * 10));
      },
    });
    const full = [batcher.push('a', 1), batcher.push('a', 2), batcher.push('a', 3)];
    expect(sent).toEqual([{ key: 'a', items: [1, 2, 3] }]);
    expect(await Promise.all(full)).toEqual([10, 20, 30]);
    const late = batcher.push('a', 4);
    expect(batcher.open).toBe(1);
    const switched = batcher.push('b', 5);
    expect(sent[1]).toEqual({ key: 'a', items: [4] });
    expect(sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent[2]).toEqual({ key: 'b', items: [5] });
    expect([await late, await switched]).toEqual([40, 50]);
  });

  it('fails every item of a batch whose run fails or miscounts', async () => {
    const failing = createMicroBatcher<number, number, number>({ maxItems: 2, maxDelayMs: 0 }, { run: () => Promise.reject(new Error('down')) });
    await expect(Promise.all([failing.push(1, 1), failing.push(1, 2)])).rejects.toThrow('down');
    const short = createMicroBatcher<number, number, number>({ maxItems: 2, maxDelayMs: 0 }, { run: () => Promise.resolve([1]) });
    const results = await Promise.allSettled([short.push(1, 1), short.push(1, 2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});

describe('verdict cache', () => {
  it('is a bounded LRU answering only for its generation and time', () => {
    let evictions = 0;
    const cache = createVerdictCache({ maxEntries: 2 }, { onEvict: () => evictions++ });
    const v = { verdict: 'allow', reason: 'OK', kind: 'health-code' } as const;
    cache.set('a', { verdict: v, pseudonym: 'x', generation: 1, until: 100 }, 0);
    cache.set('b', { verdict: v, pseudonym: 'x', generation: 1, until: 100 }, 0);
    expect(cache.get('a', 1, 50)?.verdict).toEqual(v); // a copy: the cache keeps its fields, not the object
    cache.set('c', { verdict: v, pseudonym: 'x', generation: 1, until: 100 }, 50);
    expect(evictions).toBe(1);
    expect(cache.get('b', 1, 50)).toBeUndefined();
    expect(cache.get('a', 1, 50)).toBeDefined();
    expect(cache.get('a', 2, 50)).toBeUndefined();
    expect(cache.get('c', 1, 100)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('drops expired entries from the least recently used end as new ones arrive, without counting them as evictions', () => {
    let evictions = 0;
    const cache = createVerdictCache({ maxEntries: 100 }, { onEvict: () => evictions++ });
    const v = { verdict: 'allow', reason: 'OK', kind: 'health-code' } as const;
    for (let i = 0; i < 50; i++) cache.set(`old-${i}`, { verdict: v, pseudonym: 'x', generation: 1, until: 1000 }, 0);
    cache.set('live', { verdict: v, pseudonym: 'x', generation: 1, until: 5000 }, 500);
    expect(cache.size).toBe(51);
    cache.set('later', { verdict: v, pseudonym: 'x', generation: 1, until: 9000 }, 1000);
    expect(cache.size).toBe(2);
    expect(cache.get('live', 1, 1000)).toBeDefined();
    expect(evictions).toBe(0);
  });
});
