/** Flags that load a module before the entry; their value names it. */
const PRELOAD_FLAGS = ['--import', '--loader', '--experimental-loader', '--require', '-r'];

/** What a thread shares with the process besides preloads: its profiles (one per thread) and source maps. */
const THREAD_FLAG = /^--(?:cpu-prof|heap-prof)(?:-[a-z]+)?(?:=|$)|^--enable-source-maps$/;
const VALUE_FLAG = /^--(?:cpu|heap)-prof-(?:dir|name|interval)$/;

/**
 * The Node flags a pool thread starts with: the process's preloads and its profiling and source-map
 * flags, nothing else. A thread refuses V8's flags and the process-wide ones
 * (ERR_WORKER_INVALID_EXEC_ARGV: `--no-memory-reducer` of scripts/memory.env, a user's
 * `--max-old-space-size`), and it would inherit every one of them by default. A tsx loader is kept
 * only with `tsx` (the threads then run the sources: profiled runs): under `node --import tsx` every
 * thread loaded tsx and started a loader hooks thread of its own although its code is bundled
 * JavaScript (worker-bundle.ts). Measured (issue 20): the bundled 2-thread pool took +131 MiB of RSS
 * with the flag inherited, +36 without (which is why bundling alone had shown no gain).
 */
export function poolExecArgv(execArgv: readonly string[], options: { readonly tsx: boolean }): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const flag = execArgv[i]!;
    const next = execArgv[i + 1];
    if (PRELOAD_FLAGS.includes(flag)) {
      if (next !== undefined && (options.tsx || !isTsx(next))) kept.push(flag, next);
      i++;
      continue;
    }
    const eq = flag.indexOf('=');
    if (eq > 0 && PRELOAD_FLAGS.includes(flag.slice(0, eq))) {
      if (options.tsx || !isTsx(flag.slice(eq + 1))) kept.push(flag);
      continue;
    }
    if (!THREAD_FLAG.test(flag)) continue;
    kept.push(flag);
    // `--cpu-prof-dir DIR` as well as `--cpu-prof-dir=DIR`.
    if (VALUE_FLAG.test(flag) && next !== undefined) kept.push(execArgv[++i]!);
  }
  return kept;
}

/** `tsx`, `tsx/esm`, `tsx/cjs`, or a path (or file URL) into a tsx package. */
function isTsx(specifier: string): boolean {
  return specifier === 'tsx' || specifier.startsWith('tsx/') || /[\\/]node_modules[\\/]tsx[\\/]/.test(specifier);
}

/** Whether the process (and so each thread, which inherits the flag) writes a V8 CPU profile. */
export function writesCpuProfiles(execArgv: readonly string[]): boolean {
  return execArgv.some((flag) => flag === '--cpu-prof' || flag.startsWith('--cpu-prof='));
}
