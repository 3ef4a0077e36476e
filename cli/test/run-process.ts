import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Running {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly finished: Promise<Finished>;
}

/** Starts a process with piped stdio and collects what it prints (bounded: the last 200 KiB of each). */
/** `group`: in its own process group, as a terminal's foreground job (a Ctrl-C signals the whole group). */
export function startProcess(file: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; group?: boolean }): Running {
  const child = spawn(file, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: options.group === true });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout = (stdout + c).slice(-204_800)));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-204_800)));
  const finished = (async () => {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout, stderr };
  })();
  return { child, stdout: () => stdout, finished };
}

/** Runs a process to its end with stdin closed. */
export async function runProcess(file: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Finished> {
  const running = startProcess(file, args, options);
  running.child.stdin?.end();
  return running.finished;
}
