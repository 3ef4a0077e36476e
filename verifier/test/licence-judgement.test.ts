import { createCodeDecoder, createDevelopmentIssuer, type DevelopmentIssuer, type LicenceAuthority, type LicenceClaims } from '@cityops/protocol';
import { describe, expect, it } from 'vitest';
import { identifierHash } from '../src/identifier-hashes.ts';
import { buildRevocationSnapshot } from '../src/revocation-list.ts';
import { buildStatusSnapshot, parseStatusFeed } from '../src/status-feed.ts';
import { parseTrustList } from '../src/trust-list.ts';
import { parseVenuePolicies, type VenuePoliciesFile } from '../src/venue-policies.ts';
import type { VerificationContext } from '../src/verification-context.ts';
import { verifyCode } from '../src/verify-code.ts';
import { createWorkerTrustViews } from '../src/worker-trust-view.ts';

/**
 * Electronic licences at the verifier (issue 23 §1): what an authority may issue, where its licences
 * are recognised, revocation and the status feed, expiry, and venues requiring licences. Every time
 * is relative to one fixed instant; nothing reads today's date.
 */
const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const DAY = 86_400_000;
const decoder = createCodeDecoder();
const options = { now: NOW, clockSkewMs: 30_000, staleAction: 'warn' as const };

function authority(issuer: string, licence: LicenceAuthority | undefined, kinds: ('licence' | 'health-code')[] = ['licence']): DevelopmentIssuer {
  return createDevelopmentIssuer({ alg: 'EdDSA', issuer, kinds, trustForm: 'public-key', now: () => NOW, ...(licence === undefined ? {} : { licence }) });
}

const shMarket = authority('sh-market-authority', { types: ['food-business', 'restaurant-comprehensive', 'public-place-hygiene', 'liquor-retail'], regions: ['CN-SH'] });
const shHealth = authority('sh-health-authority', { types: ['food-handler-health'], regions: ['CN-SH'] });
const jsMarket = authority('js-market-authority', { types: ['food-business'], regions: ['CN-JS'], crossRegion: true });
const jsUnrecognised = authority('js-other-authority', { types: ['food-business'], regions: ['CN-JS'] });
const healthOnly = authority('cityops-health', undefined, ['health-code']);

const FOOD_BUSINESS: LicenceClaims = {
  holder: '91310101MA1FPX1234',
  holderKind: 'business',
  type: 'food-business',
  number: 'JY13101010000123',
  region: 'CN-SH',
  scope: 'rest-0001',
  status: 'valid',
};
const FOOD_HANDLER: LicenceClaims = { holder: 'p-5e1c0a77', holderKind: 'person', type: 'food-handler-health', number: 'SH-FH-42', region: 'CN-SH', status: 'valid' };
const COMPREHENSIVE: LicenceClaims = {
  holder: '91310101MA1FPX5678',
  holderKind: 'business',
  type: 'restaurant-comprehensive',
  integrates: ['food-business', 'public-place-hygiene'],
  number: 'SH-ZH-7',
  region: 'CN-SH',
  scope: 'rest-0002',
  status: 'valid',
};

const RESTAURANT_POLICY: VenuePoliciesFile = {
  default: { kinds: ['health-code', 'licence'] },
  venues: {
    'rest-0001': {
      licences: [
        { types: ['food-handler-health'], holder: 'person' },
        { types: ['food-business'], holder: 'business', scope: 'venue' },
      ],
    },
    'rest-0002': { licences: [{ types: ['food-business', 'public-place-hygiene'], holder: 'business', scope: 'venue' }] },
    'bar-0003': { licences: [{ types: ['liquor-retail'], scope: 'venue' }] },
    'inspector-07': { kinds: ['licence'], licences: [{ types: ['food-business'], holder: 'business' }] },
  },
};

interface ContextParts {
  readonly issuers?: readonly DevelopmentIssuer[];
  readonly revoked?: { codes?: string[]; subjects?: string[] };
  readonly status?: unknown;
  readonly policies?: VenuePoliciesFile;
}

function contextOf(parts: ContextParts = {}): VerificationContext {
  return {
    generation: 1,
    trust: parseTrustList((parts.issuers ?? [shMarket, shHealth, jsMarket, jsUnrecognised, healthOnly]).map((i) => i.trustEntry), 1),
    revocation: buildRevocationSnapshot({ codes: parts.revoked?.codes ?? [], subjects: parts.revoked?.subjects ?? [] }, 1, 1e-6),
    status: parts.status === undefined ? buildStatusSnapshot([], 1) : parseStatusFeed(parts.status, 1),
    policies: parseVenuePolicies(parts.policies ?? RESTAURANT_POLICY, 1),
    freshness: {},
  };
}

const issue = (issuer: DevelopmentIssuer, licence: LicenceClaims, issuedAt = NOW - DAY, validMinutes = 365 * 24 * 60) =>
  issuer.issueLicence({ licence, issuedAt, validMinutes });
const judge = (qr: string, venue?: string, context = contextOf(), extra: { now?: number; homeRegion?: string } = {}) =>
  verifyCode(qr, context, decoder, { ...options, venue, ...extra }).verdict;

describe('licences: each variant at the restaurant’s door', () => {
  it('allows the venue’s own food business licence, and says what it stands for and where', () => {
    expect(judge(issue(shMarket, FOOD_BUSINESS), 'rest-0001')).toMatchObject({
      verdict: 'allow',
      reason: 'OK',
      kind: 'licence',
      issuer: 'sh-market-authority',
      licenceTypes: ['food-business'],
      licenceScope: 'rest-0001',
    });
  });

  it('allows a food handler’s health certificate (a person, unscoped) at the staff requirement', () => {
    expect(judge(issue(shHealth, FOOD_HANDLER), 'rest-0001')).toMatchObject({ verdict: 'allow', reason: 'OK', licenceTypes: ['food-handler-health'] });
  });

  it('denies a licence meeting no requirement, another venue’s licence, and a holder of the wrong kind', () => {
    expect(judge(issue(shMarket, FOOD_BUSINESS), 'rest-0002')).toMatchObject({ verdict: 'deny', reason: 'POLICY_DENIED', detail: 'licence' });
    expect(judge(issue(shMarket, { ...FOOD_BUSINESS, scope: 'rest-9999' }), 'rest-0001')).toMatchObject({ reason: 'POLICY_DENIED', detail: 'licence-scope' });
    const unscoped: LicenceClaims = { holder: FOOD_BUSINESS.holder, holderKind: 'business', type: 'food-business', number: 'JY2', region: 'CN-SH', status: 'valid' };
    expect(judge(issue(shMarket, unscoped), 'rest-0001')).toMatchObject({ reason: 'POLICY_DENIED', detail: 'licence-scope' });
    expect(judge(issue(shHealth, { ...FOOD_HANDLER, holderKind: 'business' }), 'rest-0001')).toMatchObject({ reason: 'POLICY_DENIED', detail: 'licence' });
    const policies: VenuePoliciesFile = { default: { kinds: ['health-code'] } };
    expect(judge(issue(shMarket, FOOD_BUSINESS), 'rest-0001', contextOf({ policies }))).toMatchObject({ reason: 'POLICY_DENIED', detail: 'kind' });
  });

  it('lets an inspector’s scanner check any venue’s licence, and tells whose it is', () => {
    expect(judge(issue(shMarket, FOOD_BUSINESS), 'inspector-07')).toMatchObject({ verdict: 'allow', licenceScope: 'rest-0001' });
    expect(judge(issue(shHealth, FOOD_HANDLER), 'inspector-07')).toMatchObject({ verdict: 'deny', reason: 'POLICY_DENIED', detail: 'licence' });
    const health = healthOnly.issueHealthCode({ subject: 'p-1', colour: 'green', issuedAt: NOW - 60_000 });
    expect(judge(health, 'inspector-07')).toMatchObject({ reason: 'POLICY_DENIED', detail: 'kind' });
    expect(judge(health, 'rest-0001')).toMatchObject({ verdict: 'allow' });
  });
});

describe('licences: a comprehensive licence stands for the singles it integrates', () => {
  it('meets a requirement of one single, and of several at once, at its own venue', () => {
    const qr = issue(shMarket, COMPREHENSIVE);
    expect(judge(qr, 'rest-0002')).toMatchObject({ verdict: 'allow', licenceTypes: ['restaurant-comprehensive', 'food-business', 'public-place-hygiene'] });
    const policies: VenuePoliciesFile = { venues: { 'rest-0002': { licences: [{ types: ['food-business'], scope: 'venue' }] } } };
    expect(judge(qr, 'rest-0002', contextOf({ policies }))).toMatchObject({ verdict: 'allow' });
  });

  it('does not stand for a single it does not integrate', () => {
    expect(judge(issue(shMarket, { ...COMPREHENSIVE, scope: 'bar-0003' }), 'bar-0003')).toMatchObject({ reason: 'POLICY_DENIED', detail: 'licence' });
    expect(judge(issue(shMarket, { ...COMPREHENSIVE, scope: 'bar-0003', integrates: ['liquor-retail'] }), 'bar-0003')).toMatchObject({ verdict: 'allow' });
  });
});

describe('licences: what an authority may issue, and where', () => {
  it('denies a type outside the signer’s types with its own reason, a comprehensive licence’s singles included', () => {
    expect(judge(issue(shHealth, { ...FOOD_BUSINESS, number: 'X1' }), 'rest-0001')).toMatchObject({ verdict: 'deny', reason: 'LICENCE_TYPE_NOT_ALLOWED', detail: 'type food-business' });
    const widened = issue(jsMarket, { ...FOOD_BUSINESS, region: 'CN-JS', type: 'food-business', integrates: ['liquor-retail'] });
    expect(judge(widened, 'rest-0001')).toMatchObject({ reason: 'LICENCE_TYPE_NOT_ALLOWED', detail: 'type liquor-retail' });
  });

  it('denies every licence of a key whose entry names no licence types, and a key not trusted for the kind', () => {
    const entryWithout = { ...shMarket.trustEntry, licence: undefined };
    const context = { ...contextOf(), trust: parseTrustList([JSON.parse(JSON.stringify(entryWithout))], 2) };
    expect(judge(issue(shMarket, FOOD_BUSINESS), 'rest-0001', context)).toMatchObject({ reason: 'LICENCE_TYPE_NOT_ALLOWED' });
    const healthKey = createDevelopmentIssuer({ alg: 'EdDSA', issuer: 'cityops-health', kinds: ['health-code'], privateKey: healthOnly.privateKey, trustForm: 'public-key' });
    expect(judge(issue(healthKey, FOOD_BUSINESS), 'rest-0001')).toMatchObject({ reason: 'KEY_NOT_ALLOWED_FOR_KIND' });
  });

  it('denies a region outside the signer’s regions', () => {
    expect(judge(issue(shMarket, { ...FOOD_BUSINESS, region: 'CN-ZJ' }), 'rest-0001')).toMatchObject({ reason: 'LICENCE_REGION_NOT_ALLOWED', detail: 'region CN-ZJ' });
  });

  it('recognises another region’s licence only when the trust list says so (cross-region on and off)', () => {
    const jiangsu: LicenceClaims = { ...FOOD_BUSINESS, region: 'CN-JS', number: 'JS-1' };
    expect(judge(issue(jsMarket, jiangsu), 'rest-0001')).toMatchObject({ verdict: 'allow', issuer: 'js-market-authority' });
    expect(judge(issue(jsUnrecognised, jiangsu), 'rest-0001')).toMatchObject({ verdict: 'deny', reason: 'LICENCE_NOT_RECOGNISED', detail: 'region CN-JS' });
    // Off again: the same authority's entry without crossRegion.
    const off = { ...jsMarket.trustEntry, licence: { types: ['food-business'], regions: ['CN-JS'], crossRegion: false } };
    const context = { ...contextOf(), trust: parseTrustList([off], 2) };
    expect(judge(issue(jsMarket, jiangsu), 'rest-0001', context)).toMatchObject({ reason: 'LICENCE_NOT_RECOGNISED' });
    // A verifier in Jiangsu needs no recognition for its own region's licences, and does for Shanghai's.
    expect(judge(issue(jsUnrecognised, jiangsu), 'rest-0001', contextOf(), { homeRegion: 'CN-JS' })).toMatchObject({ verdict: 'allow' });
    expect(judge(issue(shMarket, FOOD_BUSINESS), 'rest-0001', contextOf(), { homeRegion: 'CN-JS' })).toMatchObject({ reason: 'LICENCE_NOT_RECOGNISED' });
  });
});

describe('licences: revocation, status feed, expiry', () => {
  it('revokes the licence by its number (re-issued codes too) and the holder', () => {
    const context = contextOf({ revoked: { codes: [identifierHash(FOOD_BUSINESS.number)] } });
    expect(judge(issue(shMarket, FOOD_BUSINESS), 'rest-0001', context)).toMatchObject({ reason: 'REVOKED', detail: 'code' });
    expect(judge(issue(shMarket, FOOD_BUSINESS, NOW - 60_000), 'rest-0001', context)).toMatchObject({ reason: 'REVOKED', detail: 'code' });
    expect(judge(issue(shMarket, { ...FOOD_BUSINESS, number: 'JY-OTHER' }), 'rest-0001', context)).toMatchObject({ verdict: 'allow' });
    const byHolder = contextOf({ revoked: { subjects: [identifierHash(FOOD_HANDLER.holder)] } });
    expect(judge(issue(shHealth, FOOD_HANDLER), 'rest-0001', byHolder)).toMatchObject({ reason: 'REVOKED', detail: 'subject' });
  });

  it('suspends codes issued before the feed’s since, not those issued after; withdrawal ends every code', () => {
    const licence = identifierHash(FOOD_BUSINESS.number);
    const suspended = contextOf({ status: { entries: [], licences: [{ licence, status: 'suspended', since: NOW - DAY / 2 }] } });
    expect(judge(issue(shMarket, FOOD_BUSINESS, NOW - DAY), 'rest-0001', suspended)).toMatchObject({ verdict: 'deny', reason: 'LICENCE_SUSPENDED' });
    expect(judge(issue(shMarket, FOOD_BUSINESS, NOW - DAY / 4), 'rest-0001', suspended)).toMatchObject({ verdict: 'allow' });
    const withdrawn = contextOf({ status: { entries: [], licences: [{ licence, status: 'withdrawn', since: new Date(NOW - DAY / 2).toISOString() }] } });
    expect(judge(issue(shMarket, FOOD_BUSINESS, NOW - DAY / 4), 'rest-0001', withdrawn)).toMatchObject({ reason: 'LICENCE_WITHDRAWN' });
    // The latest entry of a licence wins.
    const latest = contextOf({
      status: { entries: [], licences: [{ licence, status: 'withdrawn', since: NOW - DAY }, { licence, status: 'suspended', since: NOW - DAY / 2 }] },
    });
    expect(judge(issue(shMarket, FOOD_BUSINESS, NOW - DAY / 4), 'rest-0001', latest)).toMatchObject({ verdict: 'allow' });
  });

  it('denies a licence issued suspended or withdrawn', () => {
    expect(judge(issue(shMarket, { ...FOOD_BUSINESS, status: 'suspended' }), 'rest-0001')).toMatchObject({ reason: 'LICENCE_SUSPENDED' });
    expect(judge(issue(shMarket, { ...FOOD_BUSINESS, status: 'withdrawn' }), 'rest-0001')).toMatchObject({ reason: 'LICENCE_WITHDRAWN' });
  });

  it('expires at exp (beyond the skew), and is not yet valid before iat', () => {
    const qr = issue(shMarket, FOOD_BUSINESS, NOW - DAY, 2 * 24 * 60);
    expect(judge(qr, 'rest-0001', contextOf(), { now: NOW + DAY - 1000 })).toMatchObject({ verdict: 'allow' });
    expect(judge(qr, 'rest-0001', contextOf(), { now: NOW + DAY + 60_000 })).toMatchObject({ reason: 'EXPIRED' });
    expect(judge(qr, 'rest-0001', contextOf(), { now: NOW - DAY - 60_000 })).toMatchObject({ reason: 'NOT_YET_VALID' });
  });
});

describe('licences: personal data, workers, hostile reference data', () => {
  it('never puts the holder or the number in a verdict; the audit gets a keyed pseudonym', () => {
    const result = verifyCode(issue(shHealth, FOOD_HANDLER), contextOf(), decoder, { ...options, venue: 'rest-0001', pseudonymKey: 'k'.repeat(32) });
    expect(JSON.stringify(result.verdict)).not.toMatch(/p-5e1c0a77|SH-FH-42/);
    expect(result.authentication.ok).toBe(true);
    expect(result.authentication.pseudonym).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(result.authentication)).not.toMatch(/p-5e1c0a77|SH-FH-42/);
  });

  it('hands workers the authority’s licence types and regions with the key', () => {
    const trust = parseTrustList([jsMarket.trustEntry], 3);
    const view = createWorkerTrustViews().viewOf(3, trust.workerTable());
    expect(view.keysFor(jsMarket.kid.toString('base64'))?.[0]?.licence).toEqual({ types: ['food-business'], regions: ['CN-JS'], crossRegion: true });
  });

  it('refuses a trust list, a policy file or a status feed with a malformed licence part, naming each problem', () => {
    const entry = { ...shMarket.trustEntry, licence: { types: ['Food Business'], regions: ['shanghai'], extra: 1 } };
    expect(() => parseTrustList([entry], 2)).toThrow(/VERIFIER_ERR_TRUST_LIST|types.*regions|pattern/s);
    try {
      parseTrustList([entry], 2);
    } catch (err) {
      expect((err as { code: string }).code).toBe('VERIFIER_ERR_TRUST_LIST');
      expect((err as Error).message).toMatch(/types\/0.*regions\/0|regions\/0.*types\/0/s);
    }
    const tooMany = { default: { licences: Array.from({ length: 17 }, () => ({ types: ['food-business'] })) } };
    expect(() => parseVenuePolicies(tooMany, 2)).toThrow(expect.objectContaining({ code: 'VERIFIER_ERR_POLICIES' }));
    expect(() => parseVenuePolicies({ default: { licences: [{ types: ['food-business'], scope: 'everywhere' }] } }, 2)).toThrow(
      expect.objectContaining({ code: 'VERIFIER_ERR_POLICIES' }),
    );
    const badFeed = { entries: [], licences: [{ licence: 'JY1', status: 'revoked', since: -1 }] };
    expect(() => parseStatusFeed(badFeed, 2)).toThrow(expect.objectContaining({ code: 'VERIFIER_ERR_STATUS_FEED' }));
    expect(() => parseStatusFeed({ entries: [], licences: [{ licence: 'a'.repeat(64), status: 'suspended', since: 'not a time at all' }] }, 2)).toThrow(
      /licences\/0\/since/,
    );
  });

  it('answers garbage, oversized and wrong-kind text with a reason, never a throw', () => {
    const context = contextOf();
    expect(judge('CLC1:%%%', 'rest-0001', context)).toMatchObject({ verdict: 'deny', reason: 'MALFORMED_BASE45', kind: null });
    expect(judge(`CLC1:${'A'.repeat(10_000)}`, 'rest-0001', context)).toMatchObject({ reason: 'MALFORMED_TOO_LARGE' });
    const health = healthOnly.issueHealthCode({ subject: 'p-1', colour: 'green', issuedAt: NOW });
    expect(judge(`CLC1:${health.slice(5)}`, 'rest-0001', context)).toMatchObject({ reason: 'MALFORMED_CLAIMS' });
  });
});
