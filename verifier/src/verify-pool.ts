import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { Authentication } from './authenticate-code.ts';
import type { BatchVerifierOptions, VerifyTask, VerifyTaskResult } from './batch-verifier.ts';
import { createMicroBatcher } from './micro-batcher.ts';
import type { TrustSnapshot } from './trust-list.ts';
import type { VerifierMetrics } from './verifier-metrics.ts';
import { bundleVerifyWorker, type WorkerBundle } from './worker-bundle.ts';
import { poolExecArgv, writesCpuProfiles } from './worker-exec-argv.ts';

export interface VerifyPoolConfig extends BatchVerifierOptions {
  readonly threads: number;
  /** Batches waiting for a thread; an item that would exceed it is answered OVERLOADED. */
  readonly maxQueue: number;
  readonly batchMaxItems: number;
  readonly batchMaxDelayMs: number;
  readonly concurrentTasksPerWorker: number;
  /** Each thread's young generation, MiB (worker resourceLimits); absent: V8's default (up to 2 x 16 MiB semi-spaces). */
  readonly youngGenerationMb?: number;
}

export interface VerifyPoolStats {
  readonly queueSize: number;
  readonly utilization: number;
  readonly threads: number;
  readonly openBatchItems: number;
}

export interface VerifyPool {
  /** The CPU half of a verification, in a pool thread. Never rejects: overload and failures are answers. */
  authenticate(qr: string, trust: TrustSnapshot): Promise<Authentication>;
  stats(): VerifyPoolStats;
  /** Starts the threads and waits until they have loaded the worker. */
  start(): Promise<void>;
  /** Idempotent: sends the open batch, lets running batches finish, ends the threads. */
  stop(): Promise<void>;
}

/** A pool thread's entry when the sources run through tsx (while CPU profiles are written). */
const FROM_SOURCE = fileURLToPath(new URL('./verify-worker-from-source.mjs', import.meta.url));

/**
 * The piscina pool behind a micro-batcher: items gather into batches of ≤ batchMaxItems or
 * ≤ batchMaxDelayMs (longer while a batch already waits for a thread), one piscina task each, so message passing costs once per batch (per-item
 * tasks measured slower than the main thread). The trust list travels by reference (a
 * SharedArrayBuffer) with its version; threads parse each key once per version.
 */
export function createVerifyPool(config: VerifyPoolConfig, deps: { readonly metrics: VerifierMetrics }): VerifyPool {
  const { metrics } = deps;
  let pool: Piscina<VerifyTask, VerifyTaskResult> | undefined;
  let bundle: WorkerBundle | undefined;
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  const keysParsedByThread = new Map<number, number>();

  function answerAll(items: readonly string[], answer: Authentication): Authentication[] {
    return items.map(() => answer);
  }

  async function runBatch(trust: TrustSnapshot, items: string[]): Promise<Authentication[]> {
    metrics.batchItems.observe(items.length);
    if (pool === undefined) {
      return answerAll(items, { ok: false, reason: 'INTERNAL_ERROR', kind: null, detail: 'VERIFIER_ERR_STOPPED' });
    }
    if (pool.queueSize >= config.maxQueue) {
      metrics.overloaded.inc(items.length);
      return answerAll(items, { ok: false, reason: 'OVERLOADED', kind: null });
    }
    try {
      const { results, keysParsed, thread } = await pool.run({ trustVersion: trust.version, trustTable: trust.workerTable(), items });
      keysParsedByThread.set(thread, keysParsed);
      let total = 0;
      for (const n of keysParsedByThread.values()) total += n;
      metrics.keysParsed.set(total);
      return results;
    } catch (err) {
      if ((err as Error).message === 'Task queue is at limit') {
        metrics.overloaded.inc(items.length);
        return answerAll(items, { ok: false, reason: 'OVERLOADED', kind: null });
      }
      return answerAll(items, { ok: false, reason: 'INTERNAL_ERROR', kind: null, detail: 'VERIFIER_ERR_WORKER' });
    }
  }

  // A batch already waiting for a thread means the threads are behind: the next batch gathers
  // until one returns (one piscina task, one wake-up, for many single requests). A full queue is
  // not held back: that batch goes to be answered OVERLOADED at once.
  const batcher = createMicroBatcher<TrustSnapshot, string, Authentication>(
    { maxItems: config.batchMaxItems, maxDelayMs: config.batchMaxDelayMs },
    { run: runBatch, hold: () => pool !== undefined && pool.queueSize > 0 && pool.queueSize < config.maxQueue },
  );

  return {
    authenticate: (qr, trust) => batcher.push(trust, qr),
    stats: () => ({
      queueSize: pool?.queueSize ?? 0,
      utilization: pool?.utilization ?? 0,
      threads: pool?.threads.length ?? 0,
      openBatchItems: batcher.open,
    }),
    start() {
      starting ??= (async () => {
        // The thread's code bundled, run without tsx (worker-bundle.ts: ~35 MiB of RSS a thread less),
        // except while CPU profiles are written: a profile attributes time by file, and the bundle is
        // one file, so the threads then run the sources through tsx (the same code, transformed by the
        // same esbuild) and the report can still tell protocol's decoding from the verifier's judging.
        const profiling = writesCpuProfiles(process.execArgv);
        bundle = profiling ? undefined : await bundleVerifyWorker();
        pool = new Piscina<VerifyTask, VerifyTaskResult>({
          filename: bundle?.file ?? FROM_SOURCE,
          name: 'verifyBatch',
          minThreads: config.threads,
          maxThreads: config.threads,
          idleTimeout: 2 ** 31 - 1,
          execArgv: poolExecArgv(process.execArgv, { tsx: profiling }),
          // A thread's garbage is a batch's decoding, dead when the batch returns: a small young
          // generation holds it (issue 20: 2 threads under load peaked 25-50 MiB lower at 4 MiB, CPU per
          // verification unchanged within noise).
          ...(config.youngGenerationMb === undefined ? {} : { resourceLimits: { maxYoungGenerationSizeMb: config.youngGenerationMb } }),
          maxQueue: config.maxQueue,
          concurrentTasksPerWorker: config.concurrentTasksPerWorker,
          workerData: {
            decoder: config.decoder,
            ...(config.pseudonymKey === undefined ? {} : { pseudonymKey: config.pseudonymKey }),
          } satisfies BatchVerifierOptions,
        });
        // An empty batch per thread: the threads load the protocol and the worker before the first request.
        const empty = new SharedArrayBuffer(0);
        await Promise.all(Array.from({ length: config.threads }, () => pool!.run({ trustVersion: 0, trustTable: empty, items: [] })));
      })();
      return starting;
    },
    stop() {
      stopping ??= (async () => {
        // A start still bundling finishes first, so that its threads and file are ended here too.
        await starting?.catch(() => undefined);
        batcher.flush();
        const p = pool;
        if (p !== undefined) await p.close();
        pool = undefined;
        await bundle?.remove();
      })();
      return stopping;
    },
  };
}
