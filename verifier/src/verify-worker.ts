import { workerData } from 'node:worker_threads';
import { createBatchVerifier, type BatchVerifierOptions, type VerifyTask, type VerifyTaskResult } from './batch-verifier.ts';

// The pool thread's entry (bundled by worker-bundle.ts, run without tsx): one batch verifier per thread.
const verify = createBatchVerifier(workerData as BatchVerifierOptions);

export function verifyBatch(task: VerifyTask): VerifyTaskResult {
  return verify(task);
}
