import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MOSQUITTO } from './debian-peers.ts';
import { startDaemon } from './daemon-process.ts';
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
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  /** The broker's log so far (the last 64 KiB). */
  log(): string;
  /** SIGTERM, then wait for the exit (SIGKILL after 5 s); removes the config directory. */
  stop(): Promise<void>;
}


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

  const daemon = await startDaemon({
    name: 'mosquitto',
    binary: options.binary ?? MOSQUITTO.path,
    args: ['-c', configPath],
    dir,
    ready: (log) => / running\s*$/m.test(log),
    readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
  });
  return { port, url: `mqtt://127.0.0.1:${port}`, ...daemon };
}
