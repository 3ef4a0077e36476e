import type { Logger } from 'pino';
import type { AlertKind, AlertSignal, AlertSink } from '../alerts/alert-signal.ts';
import { createAlertStorms, type AlertStormConfig } from './alert-storms.ts';

/** A condition's signal before the engine decides its parent. */
export type BaseSignal = Omit<AlertSignal, 'parentKey'>;

/** Where a silence condition sits, for finding its nearest active ancestor. */
export interface ConditionLinks {
  readonly gateway?: string;
  readonly grid?: string;
  /** A sensor's own silence: the key of its gateway's group, which it hangs under while that is active. */
  readonly group?: string;
  /** This is a group (several sensors of a gateway): in the chain just above its kind's single conditions. */
  readonly isGroup?: boolean;
}

interface Condition {
  base: BaseSignal;
  readonly links: ConditionLinks;
  /** Chain rank: kind index × 2, +1 for a group or a storm; -1 outside the chain. */
  readonly rank: number;
  readonly storm: boolean;
  parent: string | undefined;
  raised: boolean;
  /** Counted against its rule and place's storm cap (once, even if its raise has to wait). */
  admitted: boolean;
  /** Folded into a storm: never raised. */
  folded: boolean;
  /** Its description changed since it was last sent. */
  stale: boolean;
  sentAt: number;
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
  /** An active condition's description changed (a group's members): sent again, at most every updateEveryMs. */
  update(base: BaseSignal): void;
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
   * dropped in all: the engine derives its conditions again at start (silence from sensor_presence).
   */
  close(): Promise<number>;
  activeByKind(): Map<AlertKind, number>;
  suppressed(): number;
  size(): number;
  /** Storm alerts active, and sink calls waiting to be sent. */
  storms(): number;
  pending(): number;
}

export interface ConditionSetDeps {
  readonly sink: AlertSink;
  readonly parentOf: ParentFinder;
  readonly logger: Logger;
  /** Most conditions active at once; beyond it new ones are dropped and counted. */
  readonly maxConditions: number;
  readonly onDrop: () => void;
  readonly now: () => number;
  readonly storms: AlertStormConfig;
  /** Least time between two descriptions of one condition sent to the sink. */
  readonly updateEveryMs: number;
  /** Most sink calls waiting; beyond it a raise or clear waits in the set for the next flush (counted). */
  readonly maxPending: number;
  readonly onSinkBusy: () => void;
}

/**
 * The engine's active conditions, and the only place that talks to the sink: raise on a rising
 * edge or a parent change, clear on a falling edge, never per evaluation. Sink calls go out one
 * after another in the order decided here, so the lifecycle sees a parent raised before children
 * that name it. The calls wait in a bounded queue, never an unbounded promise chain; new alerts
 * per rule and place are capped (alert-storms.ts).
 */
export function createConditionSet(deps: ConditionSetDeps): ConditionSet {
  const active = new Map<string, Condition>();
  const fresh = new Set<string>();
  const stale = new Set<string>();
  const clears: { key: string; at: number; rank: number }[] = [];
  const storms = createAlertStorms(deps.storms);
  // A chain ancestor appeared or went (or a send waited): every silence below must be looked at again.
  let chainChanged = false;
  const outbox: { call: () => Promise<void>; what: string }[] = [];
  let head = 0;
  let draining: Promise<void> | undefined;
  let closed = false;
  let dropped = 0;

  const isActive = (key: string) => active.has(key);
  const kindRank = (kind: AlertKind) => CHAIN.indexOf(kind);

  async function drain(): Promise<void> {
    while (head < outbox.length) {
      const { call, what } = outbox[head]!;
      outbox[head++] = undefined as never;
      if (head > 1024 && head * 2 > outbox.length) {
        outbox.splice(0, head);
        head = 0;
      }
      try {
        await call();
      } catch (err) {
        deps.logger.error({ err }, `alert sink ${what} failed`);
      }
    }
    outbox.length = 0;
    head = 0;
    draining = undefined;
  }

  /** Queues a sink call; false when the queue is full (the caller keeps it for the next flush). */
  function send(call: () => Promise<void>, what: string): boolean {
    if (closed) {
      dropped++;
      return true; // taken as sent: nothing keeps it for a later flush
    }
    if (outbox.length - head >= deps.maxPending) {
      deps.onSinkBusy();
      return false;
    }
    outbox.push({ call, what });
    draining ??= drain();
    return true;
  }

  function raise(cond: Condition, parent: string | undefined, t: number): void {
    const signal: AlertSignal = parent === undefined ? cond.base : { ...cond.base, parentKey: parent };
    if (!send(() => deps.sink.raise(signal), 'raise')) {
      chainChanged = true; // looked at again next flush
      if (!cond.raised) fresh.add(cond.base.key);
      return;
    }
    cond.parent = parent;
    cond.raised = true;
    cond.stale = false;
    cond.sentAt = t;
    stale.delete(cond.base.key);
  }

  function add(base: BaseSignal, links: ConditionLinks, storm: boolean): void {
    const k = kindRank(base.kind);
    const rank = k < 0 ? -1 : k * 2 + (links.isGroup === true || storm ? 1 : 0);
    active.set(base.key, { base, links, rank, storm, parent: undefined, raised: false, admitted: false, folded: false, stale: false, sentAt: 0 });
    fresh.add(base.key);
    if (rank > 0) chainChanged = true;
  }

  function end(key: string, at: number): void {
    const cond = active.get(key);
    if (cond === undefined) return;
    active.delete(key);
    fresh.delete(key);
    stale.delete(key);
    if (!cond.raised) return; // never said (new and gone between two flushes, folded, or still queued): nothing to clear
    clears.push({ key, at, rank: cond.rank });
    if (cond.rank > 0) chainChanged = true;
  }

  /** A condition that would be a new alert: admitted, or folded into its rule and place's storm. */
  function admit(cond: Condition, t: number): boolean {
    if (cond.storm || cond.admitted) return true;
    const folded = storms.admit(cond.base, cond.links, t);
    if (folded === undefined) {
      cond.admitted = true;
      return true;
    }
    cond.folded = true;
    const storm = active.get(folded.signal.key);
    if (storm === undefined) add(folded.signal, folded.links, true);
    else {
      storm.base = folded.signal;
      if (storm.raised) stale.add(storm.base.key);
    }
    return false;
  }

  return {
    activate(base, links = {}) {
      if (active.has(base.key)) return;
      if (active.size >= deps.maxConditions) {
        deps.onDrop();
        return;
      }
      add(base, links, false);
    },
    update(base) {
      const cond = active.get(base.key);
      if (cond === undefined) return;
      cond.base = base;
      if (cond.raised) stale.add(base.key);
    },
    deactivate: end,
    isActive,
    flush() {
      const t = deps.now();
      for (const key of storms.expire(t)) end(key, t);
      clears.sort((a, b) => a.rank - b.rank);
      let sent = 0;
      for (const { key, at } of clears) {
        if (!send(() => deps.sink.clear(key, at), 'clear')) break;
        sent++;
      }
      clears.splice(0, sent);
      const todo: Condition[] = [];
      if (chainChanged) {
        chainChanged = false;
        for (const cond of active.values()) if (cond.rank >= 0 || fresh.has(cond.base.key)) todo.push(cond);
      } else {
        for (const key of fresh) {
          const cond = active.get(key);
          if (cond !== undefined) todo.push(cond);
        }
      }
      fresh.clear();
      // Top of the chain first; rules outside the chain (rank -1) have no parent.
      todo.sort((a, b) => b.rank - a.rank);
      for (const cond of todo) {
        if (cond.folded) continue;
        const parent = cond.rank >= 0 ? deps.parentOf(cond.base.kind, cond.links, isActive) : undefined;
        if (!cond.raised) {
          if (admit(cond, t)) raise(cond, parent, t);
        } else if (parent !== cond.parent) raise(cond, parent, t);
      }
      // Storms begun just now: nothing hangs under a storm, so after the rest is fine.
      for (const key of fresh) {
        const cond = active.get(key);
        if (cond !== undefined && cond.storm) {
          fresh.delete(key);
          raise(cond, deps.parentOf(cond.base.kind, cond.links, isActive), t);
        }
      }
      for (const key of stale) {
        const cond = active.get(key)!;
        if (t - cond.sentAt >= deps.updateEveryMs) raise(cond, cond.parent, t);
      }
    },
    settled: async () => {
      while (draining !== undefined) await draining;
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
    storms: () => storms.size(),
    pending: () => outbox.length - head,
    async close() {
      closed = true;
      dropped += outbox.length - head;
      outbox.length = head;
      while (draining !== undefined) await draining;
      return dropped;
    },
  };
}
