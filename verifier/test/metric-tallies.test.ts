import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createCounterTally } from '../src/counter-tally.ts';
import { createTallyHistogram } from '../src/tally-histogram.ts';
import { createVerifierMetrics } from '../src/verifier-metrics.ts';

const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1];
/** Values on and beside bounds, above the last, zero: where a bucket choice can be off by one. */
const VALUES = [0, 0.0001, 0.00010001, 0.0003, 0.001, 0.0049, 0.02, 0.7, 1, 1.5, 42, 0.00025];

describe('metric tallies expose what prom-client would', () => {
  it('histogram: the same text as a prom-client Histogram fed the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const config = { name: 'x_seconds', help: 'Some seconds.', labelNames: ['transport', 'cache'] as const, buckets: BUCKETS };
    const tally = createTallyHistogram({ ...config, registers: [ours] });
    const reference = new Histogram({ ...config, registers: [theirs] });
    VALUES.forEach((v, i) => {
      const labels = { transport: i % 3 === 0 ? 'http' : 'batch', cache: i % 2 === 0 ? 'miss' : 'hit' };
      tally.observe(labels, v);
      reference.observe(labels, v);
    });
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
    expect((await ours.metrics()).split('\n')).toContain('x_seconds_count{transport="http",cache="miss"} 2');
    expect(() => tally.observe({ transport: 'http', cache: 'miss' }, Number.NaN)).toThrow(TypeError);
    tally.reset();
    expect(await ours.metrics()).toBe('# HELP x_seconds Some seconds.\n# TYPE x_seconds histogram\n');
  });

  it('counter: counts added at a read, once, by label set', async () => {
    const registry = new Registry();
    const tally = createCounterTally(['verdict', 'reason'] as const);
    const counter = new Counter({
      name: 'v_total',
      help: 'V.',
      labelNames: ['verdict', 'reason'] as const,
      registers: [registry],
      collect() {
        tally.drainInto(this);
      },
    });
    for (let i = 0; i < 5; i++) tally.add({ verdict: 'allow', reason: 'OK' });
    tally.add({ verdict: 'deny', reason: 'EXPIRED' }, 3);
    const first = (await counter.get()).values.map((v) => [v.labels.reason, v.value]);
    expect(first).toEqual([['OK', 5], ['EXPIRED', 3]]);
    // Drained: a second read adds nothing; new counts add to the old.
    tally.add({ verdict: 'allow', reason: 'OK' });
    expect(await registry.metrics()).toContain('v_total{verdict="allow",reason="OK"} 6');
    expect(await registry.metrics()).toContain('v_total{verdict="deny",reason="EXPIRED"} 3');
  });

  it("the verifier's verdict and latency metrics keep their names, labels and help", async () => {
    const metrics = createVerifierMetrics();
    metrics.verdictCounts.add({ verdict: 'deny', reason: 'UNKNOWN_KEY', kind: 'health-code', transport: 'http' });
    metrics.verifySeconds.observe({ transport: 'http', cache: 'miss' }, 0.003);
    metrics.cacheLookupCounts.add({ result: 'miss' });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^# TYPE cityops_verifier_verify_seconds histogram$/m);
    expect(text).toMatch(/^cityops_verifier_verify_seconds_bucket\{le="0.005",transport="http",cache="miss"\} 1$/m);
    expect(text).toMatch(/^cityops_verifier_verify_seconds_count\{transport="http",cache="miss"\} 1$/m);
    expect(text).toMatch(/^cityops_verifier_verdicts_total\{verdict="deny",reason="UNKNOWN_KEY",kind="health-code",transport="http"\} 1$/m);
    expect(text).toMatch(/^cityops_verifier_cache_lookups_total\{result="miss"\} 1$/m);
  });
});
