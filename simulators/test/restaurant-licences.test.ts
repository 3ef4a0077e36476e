import { createCodeDecoder } from '@cityops/protocol';
import { createSeededRandom } from '@cityops/edge-agent';
import {
  buildRevocationSnapshot,
  buildStatusSnapshot,
  parseTrustList,
  parseVenuePolicies,
  verifyCode,
  type VerificationContext,
} from '@cityops/verifier';
import { describe, expect, it } from 'vitest';
import { CODE_CLASSES, createRestaurantLicences, createScannerCodeMint, restaurantPolicy } from '../src/index.ts';

/** The restaurant of `cityops up` (issue 23): its licence codes get the reasons they promise from the real verifier core. */
const NOW = Date.UTC(2026, 6, 1, 10, 0, 0);
const VENUE = 'huangpu/nanjing-east/g001/b01';
const decoder = createCodeDecoder();

function setUp(share: number) {
  const restaurant = createRestaurantLicences({ venue: VENUE, share, now: () => NOW });
  const mint = restaurant.wrap(createScannerCodeMint({ seed: 3, now: () => NOW }));
  const context: VerificationContext = {
    generation: 1,
    trust: parseTrustList(mint.trustEntries, 1),
    revocation: buildRevocationSnapshot({ codes: [...mint.revocation.codes], subjects: [...mint.revocation.subjects] }, 1, 1e-6),
    status: buildStatusSnapshot([], 1),
    policies: parseVenuePolicies(restaurantPolicy(VENUE), 1),
    freshness: {},
  };
  const judge = (qr: string, venue: string) => verifyCode(qr, context, decoder, { now: NOW, venue, clockSkewMs: 30_000, staleAction: 'warn' }).verdict;
  return { mint, judge };
}

describe('the simulated restaurant requiring licences', () => {
  it('gives every class of code at its door the reason it promises, licences among them', () => {
    const { mint, judge } = setUp(0.6);
    const random = createSeededRandom(7);
    const reasons = new Map<string, number>();
    let licences = 0;
    for (let i = 0; i < 400; i++) {
      const codeClass = CODE_CLASSES[i % CODE_CLASSES.length]!;
      const minted = mint.mint(codeClass, VENUE, random);
      const verdict = judge(minted.qr, VENUE);
      expect({ codeClass, reason: verdict.reason }).toEqual({ codeClass, reason: minted.expectedReason });
      if (verdict.kind === 'licence') licences++;
      reasons.set(verdict.reason, (reasons.get(verdict.reason) ?? 0) + 1);
    }
    expect(licences).toBeGreaterThan(100);
    for (const reason of ['OK', 'EXPIRED', 'POLICY_DENIED', 'REVOKED', 'LICENCE_TYPE_NOT_ALLOWED', 'LICENCE_NOT_RECOGNISED']) expect(reasons.get(reason) ?? 0).toBeGreaterThan(0);
  });

  it('leaves every other venue’s codes as they were: no licences there', () => {
    const { mint, judge } = setUp(1);
    const random = createSeededRandom(9);
    const elsewhere = 'xuhui/tianping/g002/b02';
    for (let i = 0; i < 100; i++) {
      const minted = mint.mint('valid', elsewhere, random);
      const verdict = judge(minted.qr, elsewhere);
      expect(verdict.kind).not.toBe('licence');
      expect(verdict.reason).toBe('OK');
    }
  });

  it('lets its own licence pass where no licence is required, saying whose it is (an inspector reads it so)', () => {
    const { mint, judge } = setUp(1);
    const random = createSeededRandom(11);
    const own = Array.from({ length: 50 }, () => mint.mint('valid', VENUE, random)).find((m) => judge(m.qr, VENUE).licenceScope === VENUE);
    expect(own).toBeDefined();
    // Another venue has no licence requirement: the city default takes any genuine licence.
    expect(judge(own!.qr, 'xuhui/tianping/g002/b02')).toMatchObject({ verdict: 'allow', kind: 'licence', licenceScope: VENUE });
  });
});
