import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { profileNodeArgs } from './profiling/profile-capture.ts';

export interface JsonLinesProcess {
  readonly child: ChildProcess;
  /** Resolves with the first JSON line printed (now or later) that `match` accepts. */
  waitFor(match: (line: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
  /** SIGTERM, SIGKILL after 5 s; resolves once it is gone. */
  stop(): Promise<void>;
}

/**
 * A TypeScript file of the bench run as its own Node process (through tsx) that reports in JSON
 * lines on stdout: for what the bench must measure from outside (RSS, CPU) but drive by its API.
 * `nodeArgs` replace the tsx loader, e.g. to run a bundled `.mjs` with plain node.
 */
export function startJsonLinesProcess(file: string, args: readonly string[], nodeArgs: readonly string[] = ['--import', 'tsx']): JsonLinesProcess {
  const child = spawn(process.execPath, [...profileNodeArgs(), ...nodeArgs, file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  let errText = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    errText = (errText + chunk).slice(-20_000);
  });
  const exited = once(child, 'exit').then(
    () => undefined,
    () => undefined,
  );
  const printed: Record<string, unknown>[] = [];
  const watchers = new Set<() => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    printed.push(JSON.parse(line) as Record<string, unknown>);
    for (const w of watchers) w();
  });
  return {
    child,
    waitFor(match, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`${file}: nothing awaited was printed in ${timeoutMs} ms:\n${errText}`)), timeoutMs);
        const onExit = () => finish(new Error(`${file} exited (${String(child.exitCode ?? child.signalCode)}) before printing what was awaited:\n${errText}`));
        const check = () => {
          const found = printed.find(match);
          if (found !== undefined) finish(undefined, found);
        };
        function finish(err: Error | undefined, found?: Record<string, unknown>) {
          clearTimeout(timer);
          watchers.delete(check);
          child.off('exit', onExit);
          if (err === undefined) resolve(found!);
          else reject(err);
        }
        watchers.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      }
    },
  };
}
