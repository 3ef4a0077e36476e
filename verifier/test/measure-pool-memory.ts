// The verify pool's RSS, idle and under load (issue 20):
//   [POOL_YOUNG_MB=4] node --import tsx verifier/test/measure-pool-memory.ts [ms]
// Starts a 2-thread pool (bundled worker, worker-bundle.ts) in this process, then keeps 512 health
// codes in flight for `ms` (default 8000). Prints JSON: RSS before start, after start, highest under
// load (MiB), and CPU µs of the whole process per verification. POOL_YOUNG_MB sets the threads'
// young generation (pool.youngGenerationMb); unset: V8's default.
import { readFileSync } from 'node:fs';
import { parseTrustList } from '../src/trust-list.ts';
import { createVerifyPool } from '../src/verify-pool.ts';
import { createVerifierMetrics } from '../src/verifier-metrics.ts';
import { createTestIssuers, PSEUDONYM_KEY, trustEntries } from './code-fixtures.ts';
const rss = () => Math.round(Number(readFileSync('/proc/self/status', 'utf8').match(/VmRSS:\s+(\d+)/)![1]) / 1024);
const issuers = createTestIssuers();
const trust = parseTrustList(trustEntries(issuers), 1);
const codes = Array.from({ length: 4096 }, (_, i) => issuers.health.issueHealthCode({ subject: `p-${i}`, colour: 'green' }));
const base = rss();
const pool = createVerifyPool({ threads: 2, maxQueue: 256, batchMaxItems: 64, batchMaxDelayMs: 0, concurrentTasksPerWorker: 2, ...(process.env.POOL_YOUNG_MB ? { youngGenerationMb: Number(process.env.POOL_YOUNG_MB) } : {}), decoder: {}, pseudonymKey: PSEUDONYM_KEY } as never, { metrics: createVerifierMetrics() });
await pool.start();
const started = rss();
let peak = started;
const t0 = performance.now();
const cpu0 = process.cpuUsage();
let n = 0;
while (performance.now() - t0 < Number(process.argv[2] ?? 8000)) {
  await Promise.all(Array.from({ length: 512 }, (_, i) => pool.authenticate(codes[(n + i) % codes.length]!, trust)));
  n += 512;
  peak = Math.max(peak, rss());
}
console.log(JSON.stringify({ young: process.env.POOL_YOUNG_MB ?? 'default', base, started, peak, poolPeakDelta: peak - base, verifications: n, cpuUsPerVerification: Math.round(((c) => (c.user + c.system) / n)(process.cpuUsage(cpu0))), perS: Math.round(n / ((performance.now() - t0) / 1000)) }));
await pool.stop();
