import type { Logger } from 'pino';
import type { AlertKind, AlertSignal, AlertSink } from '../alerts/alert-signal.ts';

/** A condition's signal before the engine decides its parent. */
export type BaseSignal = Omit<AlertSignal, 'parentKey'>;

/** Where a silence condition sits, for finding its nearest active ancestor. */
export interface ConditionLinks {
  readonly gateway?: string;
  readonly grid?: string;
}

interface Condition {
  readonly base: BaseSignal;
  readonly links: ConditionLinks;
  parent: string | undefined;
  raised: boolean;
}

/** Suppression chain, child first: a condition hangs under the nearest active one above it. */
const CHAIN: readonly AlertKind[] = ['sensor_silent', 'gateway_offline', 'grid_quiet', 'pipeline_backlog'];

export interface ParentFinder {
  /** The key of the nearest active ancestor of a condition of `kind` with these links, if any. */
  (kind: AlertKind, links: ConditionLinks, isActive: (key: string) => boolean): string | undefined;
}

export interface ConditionSet {
  /** The condition became true (no-op when already active). Raised at the next flush. */
  activate(base: BaseSignal, links?: ConditionLinks): void;
  /** The condition became false (no-op when not active). Cleared at the next flush. */
  deactivate(key: string, at: number): void;
  isActive(key: string): boolean;
  /**
   * Sends what changed to the sink, in order: clears (children first), then raises from the top of
   * the chain down, new conditions and conditions whose nearest active ancestor changed.
   */
  flush(): void;
  /** Resolves when every sink call made so far has settled. */
  settled(): Promise<void>;
  /**
   * Stopping: sink calls not yet begun are dropped from now on (the one in flight finishes), so
   * `settled` waits for one call, not a storm's backlog. Resolves, once settled, with how many were
   * dropped: the engine derives its conditions again at start (silence from sensor_presence).
   */
  close(): Promise<number>;
  activeByKind(): Map<AlertKind, number>;
  suppressed(): number;
  size(): number;
}

export interface ConditionSetDeps {
  readonly sink: AlertSink;
  readonly parentOf: ParentFinder;
  readonly logger: Logger;
  /** Most conditions active at once; beyond it new ones are dropped and counted. */
  readonly maxConditions: number;
  readonly onDrop: () => void;
}

/**
 * The engine's active conditions, and the only place that talks to the sink: raise on a rising
 * edge or a parent change, clear on a falling edge, never per evaluation. Sink calls go out one
 * after another in the order decided here, so the lifecycle sees a parent raised before children
 * that name it.
 */
export function createConditionSet(deps: ConditionSetDeps): ConditionSet {
  const active = new Map<string, Condition>();
  const fresh = new Set<string>();
  const clears: { key: string; at: number; rank: number }[] = [];
  // A chain ancestor appeared or went: every silence below must be looked at again.
  let chainChanged = false;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;
  let dropped = 0;

  const isActive = (key: string) => active.has(key);
  const rank = (kind: AlertKind) => CHAIN.indexOf(kind);

  function send(call: () => Promise<void>, what: string): void {
    if (closed) return void dropped++;
    chain = chain
      .then(() => (closed ? void dropped++ : call()))
      .catch((err: unknown) => deps.logger.error({ err }, `alert sink ${what} failed`));
  }

  function raise(cond: Condition, parent: string | undefined): void {
    cond.parent = parent;
    cond.raised = true;
    const signal: AlertSignal = parent === undefined ? cond.base : { ...cond.base, parentKey: parent };
    send(() => deps.sink.raise(signal), 'raise');
  }

  return {
    activate(base, links = {}) {
      if (active.has(base.key)) return;
      if (active.size >= deps.maxConditions) {
        deps.onDrop();
        return;
      }
      active.set(base.key, { base, links, parent: undefined, raised: false });
      fresh.add(base.key);
      if (rank(base.kind) > 0) chainChanged = true;
    },
    deactivate(key, at) {
      const cond = active.get(key);
      if (cond === undefined) return;
      active.delete(key);
      if (fresh.delete(key) && !cond.raised) return; // true and false between two flushes: nothing to say
      clears.push({ key, at, rank: rank(cond.base.kind) });
      if (rank(cond.base.kind) > 0) chainChanged = true;
    },
    isActive,
    flush() {
      clears.sort((a, b) => a.rank - b.rank);
      for (const { key, at } of clears) send(() => deps.sink.clear(key, at), 'clear');
      clears.length = 0;
      const todo: Condition[] = [];
      if (chainChanged) {
        for (const cond of active.values()) if (rank(cond.base.kind) >= 0 || fresh.has(cond.base.key)) todo.push(cond);
      } else {
        for (const key of fresh) {
          const cond = active.get(key);
          if (cond !== undefined) todo.push(cond);
        }
      }
      // Top of the chain first; rules outside the chain (rank -1) have no parent.
      todo.sort((a, b) => rank(b.base.kind) - rank(a.base.kind));
      for (const cond of todo) {
        const parent = rank(cond.base.kind) >= 0 ? deps.parentOf(cond.base.kind, cond.links, isActive) : undefined;
        if (!cond.raised || parent !== cond.parent) raise(cond, parent);
      }
      fresh.clear();
      chainChanged = false;
    },
    settled: () => chain,
    async close() {
      closed = true;
      await chain;
      return dropped;
    },
    activeByKind() {
      const counts = new Map<AlertKind, number>();
      for (const cond of active.values()) counts.set(cond.base.kind, (counts.get(cond.base.kind) ?? 0) + 1);
      return counts;
    },
    suppressed() {
      let n = 0;
      for (const cond of active.values()) if (cond.parent !== undefined) n++;
      return n;
    },
    size: () => active.size,
  };
}
