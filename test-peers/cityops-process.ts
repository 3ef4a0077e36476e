import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { memoryEnv } from './memory-env.ts';

const MAIN = fileURLToPath(new URL('../cli/src/main.ts', import.meta.url));

export interface CityopsProcess {
  readonly child: ChildProcess;
  /** The JSON line the command printed when it was ready. */
  readonly ready: Record<string, unknown>;
  readonly stderr: () => string;
  /** Resolves with the first JSON line printed (now or later) that `match` accepts. */
  waitForJson(match: (value: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM and wait for exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
  /** SIGKILL, as a crash would, and wait for the process to be gone. */
  kill(): Promise<void>;
}

/** scripts/memory.env's NODE_OPTIONS, then the environment's and the caller's (a later V8 flag wins). */
function nodeOptions(env: NodeJS.ProcessEnv | undefined): string {
  return [memoryEnv().NODE_OPTIONS, process.env.NODE_OPTIONS, env?.NODE_OPTIONS].filter((o) => o !== undefined && o !== '').join(' ');
}

/** For `cityops ingest`, the broker's node flags (scripts/memory.env's CITYOPS_INGEST_NODE_FLAGS, unless the caller's or the environment's); then the caller's. */
function nodeFlags(args: readonly string[], options: { env?: NodeJS.ProcessEnv; nodeArgs?: readonly string[] }): string[] {
  const flags = args[0] !== 'ingest' ? '' : (options.env?.CITYOPS_INGEST_NODE_FLAGS ?? process.env.CITYOPS_INGEST_NODE_FLAGS ?? memoryEnv().CITYOPS_INGEST_NODE_FLAGS ?? '');
  return [...flags.split(/\s+/).filter((f) => f !== ''), ...(options.nodeArgs ?? [])];
}

/**
 * Runs `cityops <args>` as a separate process (through tsx, from source) and resolves once it prints
 * its `{"ready": true, ...}` line. For tests and benchmarks that need a real process to kill.
 */
export async function startCityops(
  args: readonly string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; /** More of Node's own flags (V8's that NODE_OPTIONS refuses), after memory.env's. */ nodeArgs?: readonly string[] } = {},
): Promise<CityopsProcess> {
  // CITYOPS_CPU_PROF_DIR: each cityops process writes a V8 CPU profile there when it exits (a
  // benchmark's services profiled where they run; NODE_OPTIONS does not take --cpu-prof).
  const profile = process.env.CITYOPS_CPU_PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${process.env.CITYOPS_CPU_PROF_DIR}`];
  const child = spawn(process.execPath, [...profile, ...nodeFlags(args, options), '--import', 'tsx', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // As `npm start` runs it: the allocator, heap and V8 settings of scripts/memory.env. NODE_OPTIONS
    // joined, not replaced: a profiled bench run sets its own (an --import) in the environment.
    env: { ...memoryEnv(), ...process.env, LOG_LEVEL: 'warn', ...options.env, NODE_OPTIONS: nodeOptions(options.env) },
  });
  let errText = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    errText = (errText + chunk).slice(-20_000);
  });
  const exited = once(child, 'exit');
  exited.catch(() => undefined); // a spawn failure surfaces through waitForJson's exit check
  const printed: Record<string, unknown>[] = [];
  const watchers = new Set<() => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    printed.push(JSON.parse(line) as Record<string, unknown>);
    for (const w of watchers) w();
  });

  function waitForJson(match: (value: Record<string, unknown>) => boolean, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = printed.find(match);
        if (found === undefined) return;
        finish();
        resolve(found);
      };
      const onExit = () => {
        finish();
        reject(new Error(`cityops ${args.join(' ')} exited (${String(child.exitCode ?? child.signalCode)}) before printing what was awaited:\n${errText}`));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`cityops ${args.join(' ')}: nothing awaited was printed in ${timeoutMs} ms:\n${errText}`));
      }, timeoutMs);
      function finish() {
        clearTimeout(timer);
        watchers.delete(check);
        child.off('exit', onExit);
      }
      watchers.add(check);
      child.once('exit', onExit);
      check();
    });
  }

  let ready: Record<string, unknown>;
  try {
    ready = await waitForJson((v) => v.ready === true, options.timeoutMs ?? 60_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    child,
    ready,
    stderr: () => errText,
    waitForJson,
    async stop(graceMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const [code] = (await exited) as [number | null];
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
