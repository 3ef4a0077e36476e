import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';

export interface MosquittoOptions {
  /** Listen here (e.g. to restart on the same port); default: a free port. */
  readonly port?: number;
  /**
   * Turns persistence on, with the database in this directory (the caller owns it): persistent
   * sessions, their subscriptions and queued QoS 1 messages survive a restart. Default: off.
   */
  readonly persistenceDir?: string;
  /** More configuration lines, e.g. `max_queued_messages 10000`. */
  readonly extraConfig?: readonly string[];
  readonly binary?: string;
  readonly readyTimeoutMs?: number;
}

export interface Mosquitto {
  readonly port: number;
  readonly url: string;
  /** The broker's log so far (the last 64 KiB). */
  log(): string;
  /** SIGTERM, then wait for the exit (SIGKILL after 5 s); removes the config directory. */
  stop(): Promise<void>;
}

const LOG_LIMIT = 64 * 1024;

/**
 * Debian's mosquitto in the foreground on 127.0.0.1, from a minimal config written to a temp dir.
 * Ready when it logs "running" (it opens its listener before that line).
 */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const tries = options.port === undefined ? 3 : 1; // a port from freePort() may be taken meanwhile
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options.port ?? (await freePort()), options);
    } catch (err) {
      if (attempt >= tries || !String((err as Error).message).includes('Address already in use')) throw err;
    }
  }
}

async function startOnce(port: number, options: MosquittoOptions): Promise<Mosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'cityops-mosquitto-'));
  const config = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    options.persistenceDir === undefined ? 'persistence false' : `persistence true\npersistence_location ${options.persistenceDir}/`,
    // As root, mosquitto would switch to its own user, which cannot write our temp directories.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    ...(options.extraConfig ?? []),
  ].join('\n');
  const configPath = join(dir, 'mosquitto.conf');
  await writeFile(configPath, `${config}\n`);

  const child = spawn(options.binary ?? '/usr/sbin/mosquitto', ['-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
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
  child.stderr.setEncoding('utf8');

  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mosquitto not ready after ${options.readyTimeoutMs ?? 10_000} ms:\n${log}`)), options.readyTimeoutMs ?? 10_000);
    child.stderr.on('data', (text: string) => {
      log = (log + text).slice(-LOG_LIMIT);
      if (/ running\s*$/m.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`mosquitto exited with ${child.exitCode ?? child.signalCode}:\n${log}`));
    });
  });

  async function stop(): Promise<void> {
    if (!exited) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  }

  try {
    await ready;
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, url: `mqtt://127.0.0.1:${port}`, log: () => log, stop };
}
