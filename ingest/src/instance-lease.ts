import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ingestErrors } from './errors.ts';

export interface InstanceLeaseConfig {
  /** The pipeline instance name the lease is for. */
  readonly instance: string;
  readonly keyPrefix: string;
  readonly leaseMs: number;
  /** A file holding this instance's token: its data directory is its identity across restarts. */
  readonly tokenFile: string;
}

export interface InstanceLeaseDeps {
  readonly redis: Redis;
  readonly logger: Logger;
}

export interface InstanceLease {
  /** Takes the lease or rejects with INGEST_ERR_INSTANCE_TAKEN; then keeps it while running. */
  start(): Promise<void>;
  /** Gives the lease up (if still ours); idempotent. */
  stop(): Promise<void>;
}

// Take or renew the lease only if it is free or already ours (one round trip, atomic in Redis).
const TAKE = `local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Makes `pipelineStatus.instance` unique among live instances: two instances publishing their
 * status on the same retained topic would overwrite each other's health. The token comes from the
 * data directory, so a restarted instance (same WAL, same name) takes its own lease back at once,
 * even before the dead one's has expired; another directory with the same name is refused.
 */
export function createInstanceLease(config: InstanceLeaseConfig, deps: InstanceLeaseDeps): InstanceLease {
  const key = `${config.keyPrefix}ingest:instance:${config.instance}`;
  let token: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;

  async function loadToken(): Promise<string> {
    try {
      const text = (await readFile(config.tokenFile, 'utf8')).trim();
      if (text !== '') return text;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const fresh = randomUUID();
    await mkdir(dirname(config.tokenFile), { recursive: true });
    await writeFile(config.tokenFile, `${fresh}\n`);
    return fresh;
  }

  async function take(own: string): Promise<boolean> {
    return (await deps.redis.eval(TAKE, 1, key, own, String(config.leaseMs))) === 1;
  }

  return {
    async start() {
      const own = await loadToken();
      token = own;
      if (!(await take(own))) {
        throw ingestErrors.INGEST_ERR_INSTANCE_TAKEN(`"${config.instance}" (give each instance its own pipelineStatus.instance / --instance)`);
      }
      timer = setInterval(() => {
        take(own).then(
          (ok) => {
            if (!ok) deps.logger.error({ instance: config.instance }, 'another ingest instance took this pipeline instance name');
          },
          // Redis down: ingest refuses traffic meanwhile; the next renewal retries.
          (err: unknown) => deps.logger.warn({ err }, 'instance lease not renewed'),
        );
      }, Math.max(250, Math.floor(config.leaseMs / 3)));
      timer.unref();
    },
    stop() {
      stopping ??= (async () => {
        if (timer !== undefined) clearInterval(timer);
        if (token === undefined || deps.redis.status !== 'ready') return;
        await deps.redis.eval(RELEASE, 1, key, token).catch(() => undefined);
      })();
      return stopping;
    },
  };
}
