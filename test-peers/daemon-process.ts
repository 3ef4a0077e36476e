import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';

export interface DaemonOptions {
  /** For messages: `mosquitto`, `redis-server`. */
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  /** Removed on stop (and when the start fails). */
  readonly dir: string;
  /** Whether the log so far says the daemon is ready. */
  readonly ready: (log: string) => boolean;
  readonly readyTimeoutMs: number;
}

export interface Daemon {
  /** Its process id (for measuring its CPU and memory). */
  readonly pid: number;
  /** The daemon's stdout and stderr so far (the last 64 KiB). */
  log(): string;
  /** SIGTERM, then wait for the exit (SIGKILL after 5 s); removes `dir`. */
  stop(): Promise<void>;
}

const LOG_LIMIT = 64 * 1024;

/**
 * A peer daemon in the foreground (mosquitto, redis-server): started, its output kept, ready when
 * its log says so, stopped for sure. A daemon that exits or stays silent before it is ready is an
 * error carrying its log; nothing is left behind then.
 */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const child = spawn(options.binary, options.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  let exited = false;
  // `once` rejects when 'error' comes first (e.g. no binary): the process is gone either way.
  const exit = once(child, 'exit').then(
    () => undefined,
    () => undefined,
  );
  void exit.then(() => {
    exited = true;
  });

  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.name} not ready after ${options.readyTimeoutMs} ms:\n${log}`)), options.readyTimeoutMs);
    const onData = (text: string) => {
      log = (log + text).slice(-LOG_LIMIT);
      if (options.ready(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited with ${child.exitCode ?? child.signalCode}:\n${log}`));
    });
  });

  async function stop(): Promise<void> {
    if (!exited) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(killer);
    }
    await rm(options.dir, { recursive: true, force: true });
  }

  try {
    await ready;
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: child.pid!, log: () => log, stop };
}
