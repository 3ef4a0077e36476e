import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDateTime64Utc } from '@cityops/warehouse';
import { startRuleHarness, manualClock, type RuleHarness } from './rule-harness.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** Scanners registered across districts and levels (a building, a grid), each with the department the city routes its venue to. */
const VENUES = [
  { scanner: 'sc-hp', place: 'huangpu/huangpu-s01/g001/b01', level: 'building', security: 'huangpu-public-security', ops: 'huangpu-ops-center' },
  { scanner: 'sc-pd', place: 'pudong/pudong-s01/g001/b01', level: 'building', security: 'pudong-public-security', ops: 'pudong-ops-center' },
  { scanner: 'sc-xh', place: 'xuhui/xuhui-s02/g003', level: 'grid', security: 'xuhui-public-security', ops: 'xuhui-ops-center' },
  { scanner: 'sc-cm', place: 'chongming/chongming-s01/g002/b04', level: 'building', security: 'chongming-public-security', ops: 'chongming-ops-center' },
] as const;

const FORGERY_RULE = {
  name: 'forged_r',
  title: 'Forged codes presented at a venue',
  kind: 'verification_anomaly',
  match: { reason: ['UNKNOWN_KEY', 'BAD_SIGNATURE'] },
  window: '5m',
  baseline: '1h',
  minEvents: 3,
  // Routing, not learning, is under test here: declared with no history needed (issue 19).
  history: '0s',
  minBaselineEvents: 0,
  factor: 5,
  severity: 'critical',
};
const FLOOD_RULE = { name: 'flood_r', title: 'Scanner sending more checks than a door can see', kind: 'scanner_flood', window: '3m', severity: 'warning' };

/** Each test two hours of its own (earlier and earlier), so one's events never fall in another's windows. */
let hoursBack = 2;
const freshClock = () => manualClock(Date.now() - (hoursBack += 2) * 3_600_000);

let h: RuleHarness;

beforeAll(async () => {
  h = await startRuleHarness();
  for (const v of VENUES) await h.provision(v.scanner, 'scanner', v.place);
  await h.provision('sc-flood', 'scanner', 'jingan/jingan-s01/g005/b03');
}, 60_000);

afterAll(async () => {
  await h?.close();
});


function forgedEvent(at: number, scanner: string, venue: string) {
  return {
    at: formatDateTime64Utc(at), venue, kind: 'health', verdict: 'deny', reason: 'BAD_SIGNATURE', issuer: '', pseudonym: '',
    scanner, transport: 'http', offline: false, stale: false,
  };
}

describe('verification alerts: one source for the venue and its department (issue 16)', () => {
  it("places each forgery alert at the scanner's registered venue and routes it by that place, whatever venue the requests named", async () => {
    const clock = freshClock();
    const lifecycle = await h.lifecycle(clock);
    const t = await h.engine([FORGERY_RULE], clock, lifecycle);
    const now = clock.now();
    await h.warehouse.insertRows(
      'verification_events',
      VENUES.flatMap((v, i) =>
        // Every request names the next venue of the table (another district), as the outsider of issue 16 did.
        Array.from({ length: 5 }, (_, k) => forgedEvent(now - k * 10 * SECOND, v.scanner, VENUES[(i + 1) % VENUES.length]!.place)),
      ),
    );
    await t.engine.pollVerificationsNow();
    await t.engine.settled();
    const alerts = lifecycle.list({ rule: 'forged_r' });
    expect(alerts.map((a) => a.place).sort()).toEqual(VENUES.map((v) => v.place).sort());
    for (const v of VENUES) {
      const alert = alerts.find((a) => a.key === `forged_r:${v.place}`);
      expect(alert, v.place).toMatchObject({ kind: 'verification_anomaly', place: v.place, level: v.level, subject: v.place, state: 'dispatched', department: v.security });
      // The department is the dispatch route of the alert's own place: they cannot disagree.
      expect(alert!.department).toBe(lifecycle.dispatch.route({ kind: 'verification_anomaly', place: alert!.place }).department);
      expect(alert!.summary).toContain(`at ${v.place} `);
      for (const other of VENUES) if (other !== v) expect(alert!.summary).not.toContain(other.place);
    }
    await t.engine.stop();
  });

  it('raises no venue alert for verdicts without a scanner (open mode) or from a scanner the registry does not know', async () => {
    const clock = freshClock();
    const lifecycle = await h.lifecycle(clock);
    const t = await h.engine([{ ...FORGERY_RULE, name: 'forged_open' }], clock, lifecycle);
    const now = clock.now();
    await h.warehouse.insertRows('verification_events', [
      ...Array.from({ length: 12 }, (_, k) => forgedEvent(now - k * SECOND, '', 'pudong/pudong-s01/g001/b01')),
      ...Array.from({ length: 12 }, (_, k) => forgedEvent(now - k * SECOND, 'sc-ghost', 'pudong/pudong-s01/g001/b01')),
    ]);
    await t.engine.pollVerificationsNow();
    await t.engine.settled();
    expect(t.sink.raises('forged_open:')).toEqual([]);
    expect(lifecycle.list({ rule: 'forged_open' })).toEqual([]);
    // The same forged codes through a registered scanner do raise one: the rule itself is live.
    await h.warehouse.insertRows('verification_events', Array.from({ length: 3 }, (_, k) => forgedEvent(now - k * SECOND, 'sc-pd', 'elsewhere')));
    await t.engine.pollVerificationsNow();
    await t.engine.settled();
    expect(lifecycle.list({ rule: 'forged_open' }).map((a) => [a.place, a.department])).toEqual([['pudong/pudong-s01/g001/b01', 'pudong-public-security']]);
    await t.engine.stop();
  });

  it("raises exactly one alert for a flooding scanner, at its registered place, with its district's operations centre", async () => {
    const clock = freshClock();
    const lifecycle = await h.lifecycle(clock);
    const t = await h.engine([FLOOD_RULE], clock, lifecycle);
    // As the verifier writes them: one flag per credential per minute while the flood lasts; the venue the requests named is not where it is.
    const flag = (at: number) => ({ at: formatDateTime64Utc(at), credential: 'sc-flood', scanner: 'sc-flood', venue: 'pudong/pudong-s01/g001/b01', transport: 'http' });
    const poll = async () => {
      await t.engine.pollVerificationsNow();
      await t.engine.settled();
    };
    // A flood of ten minutes: a flag a minute, the rule asked every 20 s.
    for (let minute = 0; minute < 10; minute++) {
      await h.warehouse.insertRows('credential_flags', [flag(clock.now())]);
      for (let k = 0; k < 3; k++) {
        await poll();
        clock.advance(20 * SECOND);
      }
    }
    const alerts = lifecycle.list({ rule: 'flood_r' });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      key: 'flood_r:sc-flood',
      kind: 'scanner_flood',
      place: 'jingan/jingan-s01/g005/b03',
      level: 'building',
      subject: 'sc-flood',
      state: 'dispatched',
      department: 'jingan-ops-center',
    });
    expect(alerts[0]!.department).toBe(lifecycle.dispatch.route({ kind: 'scanner_flood', place: alerts[0]!.place }).department);
    expect(t.sink.raises('flood_r:')).toHaveLength(1);
    // The flood stops: the condition clears a window after the last flag; the alert stays with the department.
    clock.advance(3 * MINUTE);
    await poll();
    expect(t.sink.clears('flood_r:')).toEqual(['flood_r:sc-flood']);
    expect(lifecycle.list({ rule: 'flood_r' })).toHaveLength(1);
    await t.engine.stop();
  });

  it('raises a flooding venue token (no registered scanner) for the city, routed to the city operations centre', async () => {
    const clock = freshClock();
    const lifecycle = await h.lifecycle(clock);
    const t = await h.engine([{ ...FLOOD_RULE, name: 'flood_token' }], clock, lifecycle);
    await h.warehouse.insertRows('credential_flags', [
      { at: formatDateTime64Utc(clock.now() - SECOND), credential: 'venue-token:mall-7', scanner: '', venue: 'xuhui/xuhui-s02/g003', transport: 'batch' },
    ]);
    await t.engine.pollVerificationsNow();
    await t.engine.settled();
    expect(lifecycle.list({ rule: 'flood_token' }).map((a) => [a.subject, a.place, a.level, a.department])).toEqual([
      ['venue-token:mall-7', '', 'city', 'city-ops-center'],
    ]);
    await t.engine.stop();
  });
});
