import { access, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from './daemon-process.ts';
import { REDIS_SERVER } from './debian-peers.ts';
import { freePort } from './free-port.ts';

export interface RedisServerOptions {
  /** Listen here (e.g. to restart on the same port); default: a free port. */
  readonly port?: number;
  /**
   * Keeps the data (append-only file, fsync'ed on every write) in this directory, which the caller
   * owns, so that it survives a restart of redis-server. Default: a temp dir, no persistence.
   */
  readonly persistenceDir?: string;
  readonly binary?: string;
  readonly readyTimeoutMs?: number;
}

export interface RedisServer {
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  /** The server's log so far (the last 64 KiB). */
  log(): string;
  /** SIGTERM, then wait for the exit (SIGKILL after 5 s); removes the temp directory. */
  stop(): Promise<void>;
}

const DEFAULT_BINARY = REDIS_SERVER.path;

/**
 * Debian's redis-server in the foreground on 127.0.0.1, configured on the command line, its files
 * in a temp dir. Ready when it logs "Ready to accept connections".
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = options.binary ?? DEFAULT_BINARY;
  try {
    await access(binary);
  } catch {
    throw new Error(`${binary} not found: install Debian's redis-server (npm run setup runs scripts/install-peers.sh, which does)`);
  }
  const tries = options.port === undefined ? 3 : 1; // a port from freePort() may be taken meanwhile
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binary, options.port ?? (await freePort()), options);
    } catch (err) {
      if (attempt >= tries || !/Address already in use/i.test(String((err as Error).message))) throw err;
    }
  }
}

async function startOnce(binary: string, port: number, options: RedisServerOptions): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'cityops-redis-'));
  const persistent = options.persistenceDir !== undefined;
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', options.persistenceDir ?? dir,
    '--save', '',
    '--appendonly', persistent ? 'yes' : 'no',
    '--appendfsync', 'always',
    '--daemonize', 'no',
    '--protected-mode', 'no',
    '--logfile', '',
  ];
  const daemon = await startDaemon({
    name: 'redis-server',
    binary,
    args,
    dir,
    ready: (log) => log.includes('Ready to accept connections'),
    readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
  });
  return { port, url: `redis://127.0.0.1:${port}`, ...daemon };
}
