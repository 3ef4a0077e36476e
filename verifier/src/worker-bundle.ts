import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { verifierErrors } from './errors.ts';

/** The pool thread's module, TypeScript from source; bundled it needs no loader in the thread. */
export const WORKER_ENTRY = fileURLToPath(new URL('./verify-worker.ts', import.meta.url));

/** esbuild's command (the native binary, or its launcher where the install step did not run). */
const ESBUILD = createRequire(import.meta.url).resolve('esbuild/bin/esbuild');
const BUNDLE_TIMEOUT_MS = 60_000;
/** A bundle's directory: `<tmp>/<PREFIX><pid>-<random>`. */
const PREFIX = 'cityops-verify-worker-';

/** Whether process `pid` exists (signal 0: the permission check only). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A process killed (SIGKILL, OOM) never ran its pool's stop(): its bundle (~0.6 MB) stays in the temp
 * dir. The next start removes those of processes that are gone, so crashes and restarts do not pile
 * them up. A directory whose process still runs (another verifier) is left alone.
 */
async function removeOrphans(): Promise<void> {
  const names = await readdir(tmpdir()).catch(() => [] as string[]);
  await Promise.all(
    names.map(async (name) => {
      if (!name.startsWith(PREFIX)) return;
      const pid = Number(name.slice(PREFIX.length).split('-')[0]);
      if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) return;
      await rm(join(tmpdir(), name), { recursive: true, force: true }).catch(() => undefined);
    }),
  );
}

/** cbor-x's and msgpackr's native string extraction (node-gyp-build addons). */
const NATIVE = ['cbor-extract', 'msgpackr-extract'];

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
 *
 * esbuild runs as a command of its own that exits when done (~0.2 s once per pool start): its JS API
 * keeps a service process (36 MiB, measured) for the life of ours, and stopping that service from
 * one pool would kill another pool's bundling in flight (two verifiers in one process hung).
 * Node built-ins stay imports; CommonJS dependencies bundled in (cbor's) get a `require` made for
 * the worker's source file, which also loads the native addons left outside.
 */
export async function bundleVerifyWorker(): Promise<WorkerBundle> {
  await removeOrphans();
  const dir = await mkdtemp(join(tmpdir(), `${PREFIX}${process.pid}-`));
  const file = join(dir, 'verify-worker.mjs');
  try {
    await promisify(execFile)(
      ESBUILD,
      [
        WORKER_ENTRY,
        '--bundle',
        '--platform=node',
        '--format=esm',
        '--target=node20',
        '--log-level=error',
        `--outfile=${file}`,
        // Packages that load a native addon from their own directory stay outside the bundle (bundled,
        // their loader finds no addon and cbor-x / msgpackr fall back to JavaScript without a word).
        ...NATIVE.map((name) => `--external:${name}`),
        // `require` resolves as from the worker's source file, so those packages are found in node_modules.
        `--banner:js=import { createRequire as __cityopsCreateRequire } from 'node:module'; const require = __cityopsCreateRequire(${JSON.stringify(WORKER_ENTRY)});`,
      ],
      { timeout: BUNDLE_TIMEOUT_MS, maxBuffer: 1024 * 1024 },
    );
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw verifierErrors.VERIFIER_ERR_WORKER(`the pool thread's code could not be bundled (${(err as Error).message.slice(0, 2000)})`, err);
  }
  let removed: Promise<void> | undefined;
  return {
    file,
    remove() {
      removed ??= rm(dir, { recursive: true, force: true });
      return removed;
    },
  };
}
