import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ingestErrors } from './errors.ts';
import type { IngestMetrics } from './ingest-metrics.ts';

export interface BatchClaimsConfig {
  /** The instance the claims are made for (`pipelineStatus.instance`). */
  readonly instance: string;
  readonly keyPrefix: string;
  /** How long a claim outlives its batch: longer than any gateway's resend horizon (ingest-config.ts). */
  readonly claimTtlMs: number;
  /** Claims waiting to be marked stored; beyond this the oldest waits for the next recovery instead. */
  readonly maxPendingMarks: number;
  /** How soon marks that failed (Redis down) are tried again. */
  readonly retryMs: number;
}

export interface BatchClaimsDeps {
  readonly redis: Redis;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
}

/**
 * What the shared claim says about a batch key:
 * - `claimed`: nobody had it; it is now ours, pending (go on: append, then `stored`).
 * - `ours-pending`: ours, not yet in our WAL as far as Redis knows (in flight here, or an append
 *   that failed and whose release failed too): our own dedup window decides.
 * - `stored`: in a WAL (ours or another instance's) that reaches the warehouse: a duplicate.
 * - `held`: another instance claimed it and has not said it is in its WAL; alive or not, storing it
 *   here could store it twice, so it is refused until that instance (or one adopting its WAL)
 *   resolves the claim, and the device resends.
 */
export type ClaimOutcome =
  | { readonly outcome: 'claimed' | 'ours-pending' | 'stored' }
  | { readonly outcome: 'held'; readonly holder: string; readonly holderAlive: boolean };

export interface BatchClaims {
  /** One round trip; rejects with INGEST_ERR_CLUSTER_UNAVAILABLE when Redis cannot answer (fail closed). */
  claim(device: string, boot: number, seq: number): Promise<ClaimOutcome>;
  /** The batch is in our WAL: marks the claim stored (batched, off the PUBACK path). */
  stored(device: string, boot: number, seq: number): void;
  /** The append failed: gives the claim back, if still ours and pending (best effort). */
  release(device: string, boot: number, seq: number): Promise<void>;
  /**
   * After a restart or when adopting a dead instance's WAL: every claim of this instance still
   * pending is marked stored if its key is in the WAL, otherwise given back (nothing was
   * acknowledged: the device resends and whoever it reaches claims it afresh).
   */
  resolve(inWal: (device: string, boot: number, seq: number) => boolean): Promise<{ stored: number; released: number }>;
  /** Sends the marks still queued (bounded by the command timeout); idempotent. */
  stop(): Promise<void>;
}

// Values are `p:<instance>` (pending) or `d:<instance>` (in that instance's WAL). Instance names
// match ^[A-Za-z0-9._-]{1,64}$, device ids too: ':' separates unambiguously.
const CLAIM = `local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], 'p:' .. ARGV[1], 'PX', ARGV[2])
  redis.call('SADD', KEYS[2], KEYS[1])
  return {'claimed', ''}
end
local state = string.sub(v, 1, 1)
local holder = string.sub(v, 3)
if state == 'd' then return {'stored', holder} end
if holder == ARGV[1] then return {'ours-pending', holder} end
return {'held', holder, redis.call('EXISTS', ARGV[3] .. holder)}`;
const MARK = `for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == 'p:' .. ARGV[1] then redis.call('SET', KEYS[i], 'd:' .. ARGV[1], 'KEEPTTL') end
  redis.call('SREM', KEYS[1], KEYS[i])
end
return #KEYS - 1`;
const RELEASE = `for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == 'p:' .. ARGV[1] then redis.call('DEL', KEYS[i]) end
  redis.call('SREM', KEYS[1], KEYS[i])
end
return #KEYS - 1`;
/** Keys per MARK/RELEASE call: one script runs alone in Redis, so each stays short. */
const CHUNK = 500;

/**
 * The cluster's one deduplication key per batch `(device, boot, seq)`, claimed in Redis before the
 * WAL append (issue 22): every instance sees the same claim, so a batch resent to another instance
 * after its PUBACK was lost is recognised there. Each instance also keeps a set of its pending
 * claims, so a restart (or an instance adopting its WAL) can resolve them against the WAL.
 */
export function createBatchClaims(config: BatchClaimsConfig, deps: BatchClaimsDeps): BatchClaims {
  const { redis, metrics, logger } = deps;
  const claimPrefix = `${config.keyPrefix}ingest:claim:`;
  const pendingSet = `${config.keyPrefix}ingest:claims-pending:${config.instance}`;
  const leasePrefix = `${config.keyPrefix}ingest:instance:`;
  const keyOf = (device: string, boot: number, seq: number) => `${claimPrefix}${device}:${boot}:${seq}`;
  let marks: string[] = [];
  let flushing: Promise<void> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  let stopped = false;

  async function runChunks(script: string, keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += CHUNK) {
      const chunk = keys.slice(i, i + CHUNK);
      await redis.eval(script, chunk.length + 1, pendingSet, ...chunk, config.instance);
    }
  }

  async function flush(): Promise<void> {
    while (marks.length > 0) {
      const batch = marks;
      marks = [];
      try {
        await runChunks(MARK, batch);
      } catch (err) {
        // Kept (bounded) and tried again: until then a resend elsewhere is refused, not doubled.
        metrics.clusterErrors.inc({ operation: 'claim_mark' });
        logger.warn({ err, claims: batch.length }, 'batch claims not marked stored; retrying');
        marks = [...batch, ...marks];
        trim();
        retryTimer ??= setTimeout(() => {
          retryTimer = undefined;
          kick();
        }, config.retryMs);
        retryTimer.unref();
        return;
      }
    }
  }

  function trim(): void {
    const over = marks.length - config.maxPendingMarks;
    if (over <= 0) return;
    // Still pending in Redis and in this instance's pending set: the next recovery resolves them.
    marks.splice(0, over);
    metrics.claimMarksDropped.inc(over);
  }

  function kick(): void {
    // After stop (appends finishing while the instance closes): left pending, the next start resolves them.
    if (stopped || flushing !== undefined || retryTimer !== undefined) return;
    flushing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(flush)
      .finally(() => {
        flushing = undefined;
        if (marks.length > 0 && retryTimer === undefined) kick();
      });
  }

  return {
    async claim(device, boot, seq) {
      let reply: [string, string, number?];
      try {
        reply = (await redis.eval(CLAIM, 2, keyOf(device, boot, seq), pendingSet, config.instance, String(config.claimTtlMs), leasePrefix)) as [string, string, number?];
      } catch (err) {
        metrics.claims.inc({ outcome: 'unavailable' });
        throw ingestErrors.INGEST_ERR_CLUSTER_UNAVAILABLE('the batch could not be claimed in Redis', err);
      }
      const [outcome, holder, alive] = reply;
      metrics.claims.inc({ outcome });
      if (outcome === 'held') return { outcome, holder, holderAlive: alive === 1 };
      return { outcome: outcome as 'claimed' | 'ours-pending' | 'stored' };
    },
    stored(device, boot, seq) {
      marks.push(keyOf(device, boot, seq));
      trim();
      kick();
    },
    async release(device, boot, seq) {
      await runChunks(RELEASE, [keyOf(device, boot, seq)]).catch((err: unknown) => {
        // Left pending and ours: a resend here finds it ours and stores it; elsewhere it waits.
        logger.warn({ err, device, boot, seq }, 'batch claim not given back');
      });
    },
    async resolve(inWal) {
      const keys = (await redis.smembers(pendingSet)).filter((k) => k.startsWith(claimPrefix));
      const stored: string[] = [];
      const released: string[] = [];
      for (const key of keys) {
        const parts = key.slice(claimPrefix.length).split(':');
        const [device, boot, seq] = parts;
        const known = parts.length === 3 && device !== undefined && inWal(device, Number(boot), Number(seq));
        (known ? stored : released).push(key);
      }
      await runChunks(MARK, stored);
      await runChunks(RELEASE, released);
      return { stored: stored.length, released: released.length };
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        if (retryTimer !== undefined) clearTimeout(retryTimer);
        retryTimer = undefined;
        while (flushing !== undefined) await flushing;
        if (marks.length > 0 && redis.status === 'ready') await flush();
        if (retryTimer !== undefined) clearTimeout(retryTimer);
      })();
      return stopping;
    },
  };
}
