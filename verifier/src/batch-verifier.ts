import { threadId } from 'node:worker_threads';
import { createCodeDecoder } from '@cityops/protocol';
import { authenticateCode, type Authentication } from './authenticate-code.ts';
import { createWorkerTrustViews } from './worker-trust-view.ts';

/** One micro-batch as posted to a worker: the trust list by reference (shared memory) and the QR texts. */
export interface VerifyTask {
  readonly trustVersion: number;
  readonly trustTable: SharedArrayBuffer;
  readonly items: readonly string[];
}

export interface VerifyTaskResult {
  readonly results: Authentication[];
  /** Keys this thread has parsed since it started: grows with kids and trust versions, never with requests. */
  readonly keysParsed: number;
  readonly thread: number;
}

export interface BatchVerifierOptions {
  readonly decoder: { readonly maxQrChars: number; readonly maxInflatedBytes: number };
  readonly pseudonymKey?: string;
}

/**
 * What a pool thread does with a batch: the CPU half of verification (authenticate-code.ts) for
 * every item, with the keys of each trust version parsed at most once in this thread.
 * Must import nothing that loads the warehouse (chDB crashes in worker threads).
 */
export function createBatchVerifier(options: BatchVerifierOptions): (task: VerifyTask) => VerifyTaskResult {
  const decoder = createCodeDecoder(options.decoder);
  const views = createWorkerTrustViews();
  return (task) => {
    if (task.items.length === 0) return { results: [], keysParsed: views.parsedKeys, thread: threadId };
    const trust = views.viewOf(task.trustVersion, task.trustTable);
    const results = task.items.map((qr) => authenticateCode(qr, trust, decoder, options.pseudonymKey));
    return { results, keysParsed: views.parsedKeys, thread: threadId };
  };
}
