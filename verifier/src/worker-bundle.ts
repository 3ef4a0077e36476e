import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, stop } from 'esbuild';
import { verifierErrors } from './errors.ts';

/** The pool thread's module, TypeScript from source; bundled it needs no loader in the thread. */
export const WORKER_ENTRY = fileURLToPath(new URL('./verify-worker.ts', import.meta.url));

export interface WorkerBundle {
  /** An ESM file plain Node runs; exports `verifyBatch`. */
  readonly file: string;
  /** Idempotent: removes the file and its directory. */
  remove(): Promise<void>;
}

/**
 * The pool thread's code as one ESM file in a directory of its own under the system's temp dir.
 *
 * Why (issue 20): a thread that loads TypeScript through tsx starts its own loader hooks thread, a
 * second V8 isolate with tsx and esbuild's API in it, and under `node --import tsx` it loaded tsx a
 * second time from the inherited flag. An idle 2-thread pool took +106 MiB of RSS that way, +36 MiB
 * bundled with no loader (measured on Node 20: RSS before and after start() with empty batches).
 * Bundling takes ~0.2 s, once per pool start. Node built-ins stay imports; CommonJS dependencies
 * bundled in (cbor's) get a `require` made for the bundle's own URL.
 */
export async function bundleVerifyWorker(): Promise<WorkerBundle> {
  try {
    return await writeBundle();
  } catch (err) {
    throw verifierErrors.VERIFIER_ERR_WORKER(`the pool thread's code could not be bundled (${(err as Error).message})`, err);
  }
}

async function writeBundle(): Promise<WorkerBundle> {
  const result = await build({
    entryPoints: [WORKER_ENTRY],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    banner: { js: "import { createRequire as __cityopsCreateRequire } from 'node:module'; const require = __cityopsCreateRequire(import.meta.url);" },
  });
  // esbuild keeps its service process (~36 MiB of RSS, measured) for later calls; there are none.
  // A later call would start it again.
  await stop();
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error('esbuild produced no output for the verify worker');
  const dir = await mkdtemp(join(tmpdir(), 'cityops-verify-worker-'));
  const file = join(dir, 'verify-worker.mjs');
  let removed: Promise<void> | undefined;
  try {
    await writeFile(file, output.contents);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    file,
    remove() {
      removed ??= rm(dir, { recursive: true, force: true });
      return removed;
    },
  };
}
