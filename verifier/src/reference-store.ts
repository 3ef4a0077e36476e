import type { Logger } from 'pino';
import { verifierErrors } from './errors.ts';
import { buildRevocationSnapshot, parseRevocationList } from './revocation-list.ts';
import { createSourceReader, type SourceReader } from './source-reader.ts';
import { buildStatusSnapshot, parseStatusFeed } from './status-feed.ts';
import { readTrustList } from './trust-formats/read-trust-list.ts';
import { createTrustCheckMemo } from './trust-formats/trust-check-memo.ts';
import { compileTrustChecks, type TrustCheckConfig } from './trust-formats/trust-material.ts';
import { buildTrustSnapshot } from './trust-list.ts';
import { buildPolicySnapshot, parseVenuePolicies } from './venue-policies.ts';
import type { VerificationContext } from './verification-context.ts';

export type ReferenceKind = 'trust' | 'revocation' | 'status' | 'policies';
export type ReloadOutcome = 'changed' | 'unchanged' | 'failed';

interface SourceConfig {
  readonly source: string;
  readonly refreshMs: number;
}

export interface ReferenceStoreConfig {
  /** The trust source, with what its lists are checked with (format, signer, anchors, CSCAs). */
  readonly trust: SourceConfig & TrustCheckConfig & { readonly maxAgeMs: number };
  readonly revocation?: SourceConfig & { readonly maxAgeMs: number; readonly filterFalsePositiveRate: number };
  readonly status?: SourceConfig & { readonly maxAgeMs: number };
  readonly policies?: SourceConfig;
  readonly maxSourceBytes: number;
  readonly sourceTimeoutMs: number;
}

export interface ReferenceStoreDeps {
  readonly now: () => number;
  readonly logger: Logger;
  readonly fetch?: typeof fetch;
  readonly onReload?: (kind: ReferenceKind, outcome: ReloadOutcome) => void;
}

export interface ReferenceStore {
  /** Loads every configured source; rejects (and keeps nothing running) when one cannot be used. */
  start(): Promise<VerificationContext>;
  /** Idempotent: stops polling and waits for reloads in flight. */
  stop(): Promise<void>;
  /** The context requests use now. Throws before start. */
  current(): VerificationContext;
  /**
   * Reads the source(s) now and swaps in what changed. Rejects when a source fails; the data in use
   * then stays (and ages).
   */
  reload(kind?: ReferenceKind): Promise<void>;
  /** Called after every swap, with the new context. */
  onChange(listener: (context: VerificationContext) => void): void;
  /** The trust list's text as last read and accepted (what scanners check themselves when it is pushed to them). */
  trustSource(): Buffer | undefined;
}

/**
 * Owns the reference data: reads each source, parses it into an immutable snapshot (keys parsed
 * there, once), and swaps a new context in with one assignment. Each source is polled on its own
 * timer, one read at a time; a failed read or a refused text keeps the old snapshot.
 */
export function createReferenceStore(config: ReferenceStoreConfig, deps: ReferenceStoreDeps): ReferenceStore {
  const { now, logger } = deps;
  const { checks: trustChecks, problems } = compileTrustChecks(config.trust, '/trust');
  if (trustChecks === undefined) throw verifierErrors.VERIFIER_ERR_CONFIG(problems.join('; '));
  const trustMemo = createTrustCheckMemo();
  const readerOptions = { maxBytes: config.maxSourceBytes, timeoutMs: config.sourceTimeoutMs };
  const readerDeps = { now, ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }) };
  const sources: Partial<Record<ReferenceKind, SourceConfig>> = {
    trust: config.trust,
    ...(config.revocation === undefined ? {} : { revocation: config.revocation }),
    ...(config.status === undefined ? {} : { status: config.status }),
    ...(config.policies === undefined ? {} : { policies: config.policies }),
  };
  const readers = new Map<ReferenceKind, SourceReader>();
  for (const [kind, c] of Object.entries(sources) as [ReferenceKind, SourceConfig][]) {
    readers.set(kind, createSourceReader(c.source, readerOptions, readerDeps));
  }
  const listeners: ((context: VerificationContext) => void)[] = [];
  const timers = new Map<ReferenceKind, NodeJS.Timeout>();
  const inFlight = new Map<ReferenceKind, Promise<void>>();
  let context: VerificationContext | undefined;
  let nextVersion = 1;
  let running = false;
  // Bounded by maxSourceBytes: the reader refuses a longer text.
  let trustBytes: Buffer | undefined;

  function swap(next: Omit<VerificationContext, 'generation'>): void {
    context = Object.freeze({ ...next, generation: (context?.generation ?? 0) + 1 });
    for (const listener of listeners) listener(context);
  }

  /** Applies one read to the context (or to the initial parts during start). */
  function apply(base: Omit<VerificationContext, 'generation'>, kind: ReferenceKind, bytes: Buffer | undefined, freshAt: number) {
    const version = nextVersion++;
    const text = bytes?.toString('utf8');
    const freshness = { ...base.freshness };
    switch (kind) {
      case 'trust':
        freshness.trust = { freshAt, maxAgeMs: config.trust.maxAgeMs };
        return { ...base, freshness, ...(bytes === undefined ? {} : { trust: readTrustList(bytes, version, trustChecks, trustMemo) }) };
      case 'revocation': {
        const c = config.revocation!;
        freshness.revocation = { freshAt, maxAgeMs: c.maxAgeMs };
        return { ...base, freshness, ...(text === undefined ? {} : { revocation: parseRevocationList(text, version, c.filterFalsePositiveRate) }) };
      }
      case 'status':
        freshness.status = { freshAt, maxAgeMs: config.status!.maxAgeMs };
        return { ...base, freshness, ...(text === undefined ? {} : { status: parseStatusFeed(text, version) }) };
      case 'policies':
        return { ...base, ...(text === undefined ? {} : { policies: parseVenuePolicies(text, version) }) };
    }
  }

  async function readInto(base: Omit<VerificationContext, 'generation'>, kind: ReferenceKind) {
    const reader = readers.get(kind)!;
    const read = await reader.read();
    try {
      const next = apply(base, kind, read.bytes, read.freshAt);
      if (kind === 'trust' && read.bytes !== undefined) trustBytes = read.bytes;
      return { next, changed: read.bytes !== undefined };
    } catch (err) {
      // Read it again next time: until a good text arrives, the data in use must keep ageing.
      reader.forget();
      throw err;
    }
  }

  async function reloadNow(kind: ReferenceKind): Promise<void> {
    try {
      const { next, changed } = await readInto(current(), kind);
      // Another source may have swapped meanwhile: apply this one's part to the context of now.
      // An unchanged read still renews freshness (a new context), except for policies, which do not age.
      if (changed || kind !== 'policies') {
        const latest = current();
        swap({ ...latest, [kind]: next[kind], freshness: { ...latest.freshness, ...pick(next.freshness, kind) } });
      }
      deps.onReload?.(kind, changed ? 'changed' : 'unchanged');
      if (changed) logger.info({ kind, source: readers.get(kind)!.source }, 'reference data swapped');
    } catch (err) {
      deps.onReload?.(kind, 'failed');
      logger.warn({ err, kind }, 'reference data reload failed; keeping the data in use');
      throw err;
    }
  }

  /** One read at a time per source; a reload asked for during another runs after it (and sees what it missed). */
  function reloadOne(kind: ReferenceKind): Promise<void> {
    const previous = inFlight.get(kind) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => reloadNow(kind));
    inFlight.set(kind, run);
    const forget = () => {
      if (inFlight.get(kind) === run) inFlight.delete(kind);
    };
    run.then(forget, forget);
    return run;
  }

  function schedule(kind: ReferenceKind): void {
    if (!running) return;
    const timer = setTimeout(() => {
      reloadOne(kind)
        .catch(() => undefined)
        .finally(() => schedule(kind));
    }, sources[kind]!.refreshMs);
    timer.unref();
    timers.set(kind, timer);
  }

  function current(): VerificationContext {
    if (context === undefined) throw new Error('reference store not started');
    return context;
  }

  return {
    current,
    onChange(listener) {
      listeners.push(listener);
    },
    trustSource: () => trustBytes,
    async start() {
      if (context !== undefined) return context;
      let base: Omit<VerificationContext, 'generation'> = {
        trust: buildTrustSnapshot([], 0),
        revocation: buildRevocationSnapshot({}, 0, config.revocation?.filterFalsePositiveRate ?? 0.000001),
        status: buildStatusSnapshot([], 0),
        policies: buildPolicySnapshot({}, 0),
        freshness: {},
      };
      for (const kind of readers.keys()) base = (await readInto(base, kind)).next;
      swap(base);
      running = true;
      for (const kind of readers.keys()) schedule(kind);
      return current();
    },
    async reload(kind) {
      const kinds = kind === undefined ? [...readers.keys()] : [kind];
      const results = await Promise.allSettled(kinds.filter((k) => readers.has(k)).map(reloadOne));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    },
    async stop() {
      running = false;
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...inFlight.values()]);
    },
  };
}

function pick<T extends object>(freshness: T, kind: ReferenceKind): Partial<T> {
  return kind in freshness ? ({ [kind]: freshness[kind as keyof T] } as Partial<T>) : {};
}
