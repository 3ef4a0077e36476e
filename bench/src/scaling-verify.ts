import { failedRequests, postEach, type Autocannon } from './autocannon-load.ts';
import { startCpuWindow, type CpuWindowResult } from './cpu-window.ts';
import { startVerifierProcess, verifierCounts } from './verifier-process.ts';

export interface VerifierThreadsOptions {
  readonly autocannon: Autocannon;
  readonly trustPath: string;
  /** Piscina pool threads of the verifier under test. */
  readonly threads: number;
  /** `POST /v1/verify/batch` bodies, each sent once; the same for every thread count. */
  readonly bodies: readonly string[];
  readonly itemsPerBody: number;
  /** Bodies of other codes sent first for `warmupS` (none: no warm-up). */
  readonly warmBodies: readonly string[];
  readonly warmupS: number;
  readonly connections: number;
  readonly seconds: number;
}

export interface VerifierThreadsRun {
  readonly threads: number;
  readonly seconds: number;
  readonly verificationsPerSecond: number;
  /** Per batch request, from autocannon. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly failedRequests: number;
  readonly verdicts: number;
  readonly okVerdicts: number;
  readonly cacheHits: number;
  /** `verifier` over the measured load; the bench process (autocannon) is `benchCpuSeconds`. */
  readonly cpu: CpuWindowResult;
}

/**
 * One verifier process with `threads` pool threads (fresh: empty verdict cache), warmed on other
 * codes, then autocannon from the bench process: verifications/s, p99, and the CPU both used.
 */
export async function measureVerifierThreads(o: VerifierThreadsOptions): Promise<VerifierThreadsRun> {
  const verifier = await startVerifierProcess(o.trustPath, { threads: o.threads });
  try {
    if (o.warmBodies.length >= o.connections) await postEach(o.autocannon, verifier.httpUrl, '/v1/verify/batch', o.warmBodies, o.connections, o.warmupS, verifier.authorizations);
    const before = await verifierCounts(verifier.httpUrl);
    const window = startCpuWindow({ verifier: verifier.pid });
    const result = await postEach(o.autocannon, verifier.httpUrl, '/v1/verify/batch', o.bodies, o.connections, o.seconds, verifier.authorizations);
    const cpu = window.stop();
    const after = await verifierCounts(verifier.httpUrl);
    return {
      threads: o.threads,
      seconds: result.duration,
      verificationsPerSecond: (result['2xx'] * o.itemsPerBody) / result.duration,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      failedRequests: failedRequests(result),
      verdicts: after.verdicts - before.verdicts,
      okVerdicts: after.ok - before.ok,
      cacheHits: after.cacheHits - before.cacheHits,
      cpu,
    };
  } finally {
    await verifier.stop();
  }
}
