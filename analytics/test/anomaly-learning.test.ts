import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDateTime64Utc } from '@cityops/warehouse';
import { CITY_RULES_PATH, loadIndicatorDefinitions, parseRuleDefinitions } from '../src/index.ts';
import { manualClock, startRuleHarness, type RuleHarness } from './rule-harness.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** The shipped city's verification anomaly rules, as `cityops up` runs them. */
const CITY_ANOMALY_RULES = (JSON.parse(readFileSync(CITY_RULES_PATH, 'utf8')) as { rules: { kind: string }[] }).rules.filter((r) => r.kind === 'verification_anomaly');

/** Each test two hours of its own, so one's events never fall in another's windows. */
let hoursBack = 2;
const freshClock = () => manualClock(Date.now() - (hoursBack += 2) * 3_600_000);

let h: RuleHarness;
beforeAll(async () => {
  h = await startRuleHarness();
}, 60_000);
afterAll(async () => {
  await h?.close();
});

type Outcome = 'ok' | 'expired' | 'forged';
const REASON: Record<Outcome, string> = { ok: 'OK', expired: 'EXPIRED', forged: 'BAD_SIGNATURE' };

/** One check every `everyMs` from `fromMs` to `toMs` at a scanner; `outcome(i)` says what the i-th was. */
function checks(scanner: string, fromMs: number, toMs: number, everyMs: number, outcome: (i: number) => Outcome) {
  const rows = [];
  for (let at = fromMs, i = 0; at < toMs; at += everyMs, i++) {
    const o = outcome(i);
    rows.push({
      at: formatDateTime64Utc(at), venue: 'named-by-request', kind: 'health', verdict: o === 'ok' ? 'allow' : 'deny', reason: REASON[o], issuer: 'city-health',
      pseudonym: 'p', scanner, transport: 'mqtt', offline: false, stale: false,
    });
  }
  return rows;
}

/** 2% denied (expired), as the simulated city's doors see (simulators' CITY_CODE_MIX). */
const usualDay = (i: number): Outcome => (i % 50 === 7 ? 'expired' : 'ok');

describe('verification anomaly rules learn before they fire (issue 19)', () => {
  it('the shipped rules declare their history and minimum count', () => {
    const { rules } = parseRuleDefinitions({ rules: CITY_ANOMALY_RULES }, loadIndicatorDefinitions());
    expect(rules.map((r) => r.name).sort()).toEqual(['deny_spike', 'forgery_spike']);
    for (const r of rules) {
      if (r.kind !== 'verification_anomaly') continue;
      expect(r.history).toMatch(/^[1-9]\d*m$/);
      expect(r.minBaselineEvents).toBeGreaterThanOrEqual(100);
    }
  });

  it('refuses a rule without a declared history, or one it could never reach', () => {
    const base = { name: 'x', title: 'X', kind: 'verification_anomaly', match: { verdict: ['deny'] }, window: '5m', baseline: '10m', minEvents: 3, severity: 'warning' };
    expect(() => parseRuleDefinitions({ rules: [base] }, loadIndicatorDefinitions())).toThrow(/must have required property 'history'.*must have required property 'minBaselineEvents'/);
    expect(() => parseRuleDefinitions({ rules: [{ ...base, history: '16m', minBaselineEvents: 10 }] }, loadIndicatorDefinitions())).toThrow(
      /history 16m is longer than window \+ baseline \(5m \+ 10m\): the rule could never finish learning/,
    );
  });

  it('a venue switched on minutes ago raises nothing, however many denials and forgeries, and the rules say learning', async () => {
    const clock = freshClock();
    await h.provision('sc-new', 'scanner', 'yangpu/yangpu-s01/g001/b01');
    const t = await h.engine(CITY_ANOMALY_RULES, clock);
    const now = clock.now();
    // The old simulator's mix at one door for 4 minutes: 20% denied, 4% forged (the 17 alerts).
    await h.warehouse.insertRows('verification_events', checks('sc-new', now - 4 * MINUTE, now, SECOND, (i) => (i % 25 === 0 ? 'forged' : i % 5 === 0 ? 'expired' : 'ok')));
    await t.engine.pollVerificationsNow();
    await t.engine.settled();
    expect(t.sink.raises()).toEqual([]);
    const anomalies = t.engine.stats().anomalies;
    expect(anomalies.map((a) => [a.rule, a.state, a.venuesLearning, a.venuesReady])).toEqual([
      ['deny_spike', 'learning', 1, 0],
      ['forgery_spike', 'learning', 1, 0],
    ]);
    await t.engine.stop();
  });

  it('once the venue has its history, a quiet door stays quiet and a forged-code ring raises one forgery alert at the venue', async () => {
    const clock = freshClock();
    await h.provision('sc-old', 'scanner', 'hongkou/hongkou-s02/g003/b07');
    const t = await h.engine(CITY_ANOMALY_RULES, clock);
    const now = clock.now();
    // 40 minutes of a usual day, a check every 2 s (1,200 checks, 24 denied).
    await h.warehouse.insertRows('verification_events', checks('sc-old', now - 40 * MINUTE, now, 2 * SECOND, usualDay));
    await t.engine.pollVerificationsNow();
    await t.engine.settled();
    expect(t.sink.raises()).toEqual([]);
    expect(t.engine.stats().anomalies.map((a) => [a.rule, a.state])).toEqual([
      ['deny_spike', 'ready'],
      ['forgery_spike', 'ready'],
    ]);

    // The ring: the next 5 minutes, one code in ten at this door forged (the check at the split counts for the baseline).
    clock.advance(5 * MINUTE);
    const later = clock.now();
    await h.warehouse.insertRows('verification_events', checks('sc-old', now, later, 2 * SECOND, (i) => (i % 10 === 3 ? 'forged' : usualDay(i))));
    await t.engine.pollVerificationsNow();
    await t.engine.settled();
    const forged = t.sink.raises('forgery_spike:');
    expect(forged.map((s) => s.key)).toEqual(['forgery_spike:hongkou/hongkou-s02/g003/b07']);
    expect(forged[0]).toMatchObject({ severity: 'critical', place: 'hongkou/hongkou-s02/g003/b07', value: 15 });
    expect(forged[0]!.summary).toMatch(/^Forged codes presented at a venue: 15 matching of 149 verifications at hongkou\/hongkou-s02\/g003\/b07 in 5m \(usual 0\.0 per 5m\)$/);
    await t.engine.stop();
  });
});
