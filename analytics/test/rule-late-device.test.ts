import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { manualClock, startRuleHarness, type RuleHarness } from './rule-harness.ts';

let h: RuleHarness;
beforeAll(async () => {
  h = await startRuleHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('a gateway registered after the engine read the registry', () => {
  it('has its first batches evaluated, not dropped: they wait for a re-read of the registry', async () => {
    const clock = manualClock();
    const rule = { name: 'level_now', title: 'Water level at flood mark', kind: 'threshold', indicator: 'water_level_max', level: 'grid', severity: 'warning', for: '0s' };
    const t = await h.engine([rule], clock);
    // Registered after the engine loaded its copy of the registry: the copy does not know it.
    const secret = await h.provision('gw-late', 'gateway', 'jinshan/jinshan-s01/g011');
    const gw = await h.gateway('gw-late', secret);
    await gw.publish([{ sensor: 'wl-1', metric: 'water_level', value: 9 }], clock.now());
    await gw.publish([{ sensor: 'wl-2', metric: 'water_level', value: 1 }], clock.now());
    // The gateway's retained status made the engine re-read the registry already; the batches wait
    // for the next re-read, at most registry.unknownRefreshMs (5 s) after it.
    await vi.waitFor(async () => expect((await t.metrics.ruleReadings.get()).values[0]?.value ?? 0).toBe(2), { timeout: 20_000, interval: 50 });
    await t.readingsSeen(2);
    await t.tick();
    const drops = (await t.metrics.ruleDrops.get()).values.filter((v) => String(v.labels.reason).startsWith('unknown_device'));
    expect(drops.reduce((n, v) => n + v.value, 0)).toBe(0);
    const raised = t.sink.raises('level_now:');
    expect(raised).toHaveLength(1);
    expect(raised[0]!.summary).toMatch(/at jinshan\/jinshan-s01\/g011$/);
    await t.engine.stop();
  });
});
