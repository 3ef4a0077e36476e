import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  bloomFilterFromBytes,
  buildPolicySnapshot,
  buildRevocationSnapshot,
  buildStatusSnapshot,
  buildTrustSnapshot,
  compileTrustChecks,
  createSourceReader,
  createTrustCheckMemo,
  parseVenuePolicies,
  readTrustList,
  type PolicySnapshot,
  type RevocationSnapshot,
  type SourceReader,
  type TrustCheckConfig,
  type TrustSnapshot,
  type VerificationContext,
} from '@cityops/verifier';
import type { Logger } from 'pino';
import type { Timers } from '../agent-deps.ts';
import { writeFileAtomic } from '../journal/fs-durability.ts';
import { filterRevocationSnapshot } from './filter-revocation.ts';
import { scannerErrors } from './scanner-errors.ts';

export type ReferenceKind = 'trust' | 'revocation' | 'policies';
export type RefreshOutcome = 'changed' | 'unchanged' | 'failed';

interface SourceConfig {
  readonly source: string;
  readonly refreshMs: number;
}

export interface ReferenceCacheConfig {
  /** Where the last good copies are kept: `trust.json`, `revocation.cbf`, `policies.json`, `meta.json`. */
  readonly dir: string;
  /** The trust source, in any format the verifier reads, with what it is checked with (signer, anchors, cscas). */
  readonly trust: SourceConfig & TrustCheckConfig & { readonly maxAgeMs: number };
  readonly revocation?: (SourceConfig & { readonly maxAgeMs: number }) | undefined;
  readonly policies?: SourceConfig | undefined;
  readonly maxSourceBytes: number;
  readonly sourceTimeoutMs: number;
}

export interface ReferenceCacheDeps {
  readonly now: () => number;
  readonly logger: Logger;
  readonly timers: Timers;
  readonly fetch?: typeof fetch;
  readonly onRefresh?: (kind: ReferenceKind, outcome: RefreshOutcome) => void;
}

export interface ReferenceSourceState {
  /** A copy is held (fetched now or persisted before). */
  readonly loaded: boolean;
  /** When the copy was last known current, ms since the epoch (0: never). */
  readonly freshAt: number;
  readonly refreshes: number;
  readonly failures: number;
  /** Copies in use that could not be written to `dir`. */
  readonly persistFailures: number;
}

export interface ReferenceCache {
  /** Loads the persisted copies, then reads every source once; a source that fails keeps its persisted copy. */
  start(): Promise<void>;
  /** Idempotent: stops polling and waits for reads in flight. */
  stop(): Promise<void>;
  /** What offline verdicts use now. */
  current(): VerificationContext;
  /** Reads the source(s) now; rejects when one fails (its copy in use stays, and ages). */
  refresh(kind?: ReferenceKind): Promise<void>;
  stats(): Partial<Record<ReferenceKind, ReferenceSourceState>>;
  /** The highest pushed version applied (or refused as unparseable) for a kind; 0 when none. Survives restarts. */
  pushedVersion(kind: ReferenceKind): number;
  /**
   * Applies a copy pushed by the verifier (already checked: signed, digest, kind), in turn with the
   * polls of that kind. Resolves false without a change when `version` is not above pushedVersion;
   * rejects when the copy is refused (the one in use stays).
   */
  offer(kind: ReferenceKind, bytes: Buffer, pushed: { readonly version: number; readonly freshAt: number }): Promise<boolean>;
}

const FILES: Readonly<Record<ReferenceKind, string>> = { trust: 'trust.json', revocation: 'revocation.cbf', policies: 'policies.json' };
const META_FILE = 'meta.json';

interface Part {
  freshAt: number;
  etag?: string | undefined;
  loaded: boolean;
  refreshes: number;
  failures: number;
  persistFailures: number;
  pushed: number;
}

/**
 * The scanner's offline copy of the reference data: the trust list, the revocation filter and the
 * venue policies, each from a file or a feed, polled on its own timer, one read at a time. A copy
 * is parsed before it is used or persisted, so a refused text never replaces a good one; the last
 * good copy and when it was fresh are persisted, so that a scanner restarted without a network
 * verifies with what it had. Ages are reported as the verifier's (`freshness`), so offline
 * verdicts say `stale` past maxAgeMs. There is no status feed offline: colour downgrades after
 * issuance are the verifier's to apply.
 */
export function createReferenceCache(config: ReferenceCacheConfig, deps: ReferenceCacheDeps): ReferenceCache {
  const { logger, timers, now } = deps;
  const { checks: trustChecks, problems } = compileTrustChecks(config.trust, '/reference/trust');
  if (trustChecks === undefined) throw scannerErrors.SCANNER_ERR_CONFIG(problems.join('; '));
  const trustMemo = createTrustCheckMemo();
  const sources: Partial<Record<ReferenceKind, SourceConfig>> = {
    trust: config.trust,
    ...(config.revocation === undefined ? {} : { revocation: config.revocation }),
    ...(config.policies === undefined ? {} : { policies: config.policies }),
  };
  const kinds = Object.keys(sources) as ReferenceKind[];
  const fetchers = new Map<ReferenceKind, SourceReader>();
  const parts = new Map<ReferenceKind, Part>();
  for (const kind of kinds) {
    fetchers.set(
      kind,
      createSourceReader(
        sources[kind]!.source,
        { maxBytes: config.maxSourceBytes, timeoutMs: config.sourceTimeoutMs },
        { now, ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }) },
      ),
    );
    parts.set(kind, { freshAt: 0, loaded: false, refreshes: 0, failures: 0, persistFailures: 0, pushed: 0 });
  }
  let trust: TrustSnapshot = buildTrustSnapshot([], 0);
  let revocation: RevocationSnapshot = buildRevocationSnapshot({}, 0, 0.000001);
  let policies: PolicySnapshot = buildPolicySnapshot({}, 0);
  const status = buildStatusSnapshot([], 0);
  let version = 0;
  let context: VerificationContext | undefined;
  const timersByKind = new Map<ReferenceKind, unknown>();
  const inFlight = new Map<ReferenceKind, Promise<void>>();
  let running = false;
  let persisting: Promise<void> = Promise.resolve();

  function rebuild(): void {
    const part = (kind: ReferenceKind) => parts.get(kind)!;
    context = Object.freeze({
      generation: (context?.generation ?? 0) + 1,
      trust,
      revocation,
      status,
      policies,
      freshness: {
        trust: { freshAt: part('trust').freshAt, maxAgeMs: config.trust.maxAgeMs },
        ...(config.revocation === undefined ? {} : { revocation: { freshAt: part('revocation').freshAt, maxAgeMs: config.revocation.maxAgeMs } }),
      },
    });
  }

  /** Parses a copy into its snapshot; throws (a verifier error) when it is refused. */
  function install(kind: ReferenceKind, bytes: Buffer): void {
    version++;
    switch (kind) {
      case 'trust':
        trust = readTrustList(bytes, version, trustChecks, trustMemo);
        return;
      case 'revocation':
        revocation = filterRevocationSnapshot(bloomFilterFromBytes(bytes), version);
        return;
      case 'policies':
        policies = parseVenuePolicies(bytes.toString('utf8'), version);
        return;
    }
  }

  /** Writes the copy and the shared meta.json; one write at a time (sources refresh concurrently). */
  function persist(kind: ReferenceKind, bytes: Buffer | undefined): Promise<void> {
    const run = persisting.then(async () => {
      if (bytes !== undefined) await writeFileAtomic(join(config.dir, FILES[kind]), bytes);
      const meta: Partial<Record<ReferenceKind, { freshAt: number; etag?: string; pushed?: number }>> = {};
      for (const [k, p] of parts) if (p.loaded) meta[k] = { freshAt: p.freshAt, ...(p.etag === undefined ? {} : { etag: p.etag }), ...(p.pushed === 0 ? {} : { pushed: p.pushed }) };
      await writeFileAtomic(join(config.dir, META_FILE), JSON.stringify(meta));
    });
    persisting = run.catch(() => undefined);
    return run;
  }

  async function loadPersisted(): Promise<void> {
    let meta: Partial<Record<ReferenceKind, { freshAt?: unknown; etag?: unknown; pushed?: unknown }>> = {};
    try {
      meta = JSON.parse(await readFile(join(config.dir, META_FILE), 'utf8')) as typeof meta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err: scannerErrors.SCANNER_ERR_REFERENCE('meta.json unreadable', err) }, 'cached reference data unreadable');
    }
    for (const kind of kinds) {
      const entry = meta[kind];
      if (entry === undefined || typeof entry.freshAt !== 'number') continue;
      try {
        install(kind, await readFile(join(config.dir, FILES[kind])));
      } catch (err) {
        logger.warn({ err: scannerErrors.SCANNER_ERR_REFERENCE(`cached ${kind} refused`, err) }, 'cached reference data refused');
        continue;
      }
      const part = parts.get(kind)!;
      part.loaded = true;
      part.freshAt = entry.freshAt;
      part.pushed = typeof entry.pushed === 'number' && Number.isSafeInteger(entry.pushed) ? entry.pushed : 0;
      // Only a validator of the same source is worth sending again.
      part.etag = typeof entry.etag === 'string' ? entry.etag : undefined;
      fetchers.get(kind)!.remember(part.etag);
    }
  }

  async function refreshNow(kind: ReferenceKind): Promise<void> {
    const fetcher = fetchers.get(kind)!;
    const part = parts.get(kind)!;
    try {
      const read = await fetcher.read().catch((err: unknown) => {
        throw scannerErrors.SCANNER_ERR_REFERENCE(`${kind} from ${fetcher.source} not read`, err);
      });
      if (read.bytes !== undefined) {
        try {
          install(kind, read.bytes);
        } catch (err) {
          // Read it whole again next time: until a good copy arrives, the one in use keeps ageing.
          fetcher.remember(undefined);
          throw scannerErrors.SCANNER_ERR_REFERENCE(`${kind} from ${fetcher.source} refused`, err);
        }
      } else if (!part.loaded) {
        // Unchanged, but nothing is held (the copy was lost): read it whole.
        fetcher.remember(undefined);
        return await refreshNow(kind);
      }
      part.loaded = true;
      part.freshAt = read.freshAt;
      part.etag = read.validator;
      part.refreshes++;
      rebuild();
      // The copy is in use; a disk that refuses it only costs the next restart its freshness.
      await persist(kind, read.bytes).catch((err: unknown) => {
        part.persistFailures++;
        logger.error({ err: scannerErrors.SCANNER_ERR_REFERENCE(`${kind} not persisted`, err) }, 'reference copy not persisted');
      });
      deps.onRefresh?.(kind, read.bytes === undefined ? 'unchanged' : 'changed');
    } catch (err) {
      part.failures++;
      deps.onRefresh?.(kind, 'failed');
      throw err;
    }
  }

  /** A pushed copy: parsed before it replaces the one in use; its time is the publisher's, never ahead of ours. */
  async function offerNow(kind: ReferenceKind, bytes: Buffer, pushed: { version: number; freshAt: number }): Promise<boolean> {
    const part = parts.get(kind)!;
    if (pushed.version <= part.pushed) return false;
    // Refused or not, this version is spent: the same bytes sent again are not parsed again.
    part.pushed = pushed.version;
    try {
      install(kind, bytes);
    } catch (err) {
      part.failures++;
      deps.onRefresh?.(kind, 'failed');
      throw scannerErrors.SCANNER_ERR_REFERENCE(`pushed ${kind} version ${pushed.version} refused`, err);
    }
    part.loaded = true;
    part.freshAt = Math.max(part.freshAt, Math.min(pushed.freshAt, now()));
    part.refreshes++;
    // The poll keeps its validator: a source that has not caught up answers 304 and does not take the pushed copy back.
    rebuild();
    await persist(kind, bytes).catch((err: unknown) => {
      part.persistFailures++;
      logger.error({ err: scannerErrors.SCANNER_ERR_REFERENCE(`${kind} not persisted`, err) }, 'reference copy not persisted');
    });
    deps.onRefresh?.(kind, 'changed');
    return true;
  }

  /** Polls and pushes of one kind run one at a time, in order. */
  function inTurn<T>(kind: ReferenceKind, task: () => Promise<T>): Promise<T> {
    const previous = inFlight.get(kind) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(task);
    const turn = run.then(() => undefined);
    inFlight.set(kind, turn);
    const forget = () => {
      if (inFlight.get(kind) === turn) inFlight.delete(kind);
    };
    turn.then(forget, forget);
    return run;
  }

  function refreshOne(kind: ReferenceKind): Promise<void> {
    return inTurn(kind, () => refreshNow(kind));
  }

  function schedule(kind: ReferenceKind): void {
    if (!running) return;
    const timer = timers.setTimeout(() => {
      refreshOne(kind)
        .catch((err: unknown) => logger.warn({ err, kind }, 'reference refresh failed; keeping the cached copy'))
        .finally(() => schedule(kind));
    }, sources[kind]!.refreshMs);
    (timer as { unref?: () => void }).unref?.();
    timersByKind.set(kind, timer);
  }

  return {
    current() {
      if (context === undefined) rebuild();
      return context!;
    },
    async refresh(kind) {
      const chosen = kind === undefined ? kinds : kinds.filter((k) => k === kind);
      const results = await Promise.allSettled(chosen.map(refreshOne));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    },
    async start() {
      if (running) return;
      await mkdir(config.dir, { recursive: true });
      await loadPersisted();
      rebuild();
      const results = await Promise.allSettled(kinds.map(refreshOne));
      results.forEach((r, i) => {
        if (r.status === 'rejected') logger.warn({ err: r.reason as Error, kind: kinds[i] }, 'reference data not refreshed at start; using the cached copy');
      });
      running = true;
      for (const kind of kinds) schedule(kind);
    },
    async stop() {
      running = false;
      for (const timer of timersByKind.values()) timers.clearTimeout(timer);
      timersByKind.clear();
      await Promise.allSettled([...inFlight.values()]);
      await persisting;
    },
    pushedVersion: (kind) => parts.get(kind)?.pushed ?? 0,
    offer(kind, bytes, pushed) {
      if (!parts.has(kind)) return Promise.resolve(false);
      return inTurn(kind, () => offerNow(kind, bytes, pushed));
    },
    stats() {
      const out: Partial<Record<ReferenceKind, ReferenceSourceState>> = {};
      for (const [kind, p] of parts) out[kind] = { loaded: p.loaded, freshAt: p.freshAt, refreshes: p.refreshes, failures: p.failures, persistFailures: p.persistFailures };
      return out;
    },
  };
}
