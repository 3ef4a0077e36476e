import type { AlertDescription, AlertEvent, AlertState } from './alert-event.ts';

/** An alert's current state, folded from its events; what the API shows. */
export interface AlertView extends AlertDescription {
  readonly id: string;
  readonly state: AlertState;
  readonly department: string;
  readonly parentKey: string;
  readonly openedAt: number;
  readonly updatedAt: number;
  /** The last event's seq. */
  readonly seq: number;
  /** Whether the rule engine last reported the condition true (raise) or false (clear). */
  readonly conditionActive: boolean;
  readonly everDispatched: boolean;
  /** When the current department got it (dispatched, reopened or escalated): the accept deadline runs from here. */
  readonly assignedAt?: number;
  readonly resolvedAt?: number;
  /** The last feedback (resolved) or reopen reason. */
  readonly feedback?: string;
  /** A bad rating flagged the case for this supervising department (the last flag). */
  readonly flaggedFor?: string;
  /** The state to return to when a suppression is lifted. */
  readonly stateBeforeSuppression?: AlertState;
  readonly events: readonly AlertEvent[];
}

/**
 * Applies one event to an alert's view. Events at or below the view's seq are ignored (a retried
 * insert may store a row twice; the fold sees it once).
 */
export function foldEvent(view: AlertView | undefined, e: AlertEvent): AlertView {
  if (view !== undefined && e.seq <= view.seq) return view;
  const { alertId, seq, at, type, actor: _actor, state, department, parentKey, feedback, rating: _r, ratingStage: _s, flaggedFor, ...description } = e;
  const base: AlertView = view ?? {
    ...description,
    id: alertId,
    state,
    department,
    parentKey,
    openedAt: at,
    updatedAt: at,
    seq,
    conditionActive: true,
    everDispatched: false,
    events: [],
  };
  let next: AlertView = { ...base, ...description, state, department, parentKey, seq, updatedAt: at, events: [...base.events, e] };
  switch (type) {
    case 'dispatched':
    case 'escalated':
      next = { ...next, everDispatched: true, assignedAt: at };
      break;
    case 'resolved':
      next = { ...next, resolvedAt: at, feedback };
      break;
    case 'reopened':
      next = { ...next, conditionActive: true, ...(feedback === '' ? {} : { feedback }) };
      break;
    case 'suppressed':
      next = { ...next, stateBeforeSuppression: base.state === 'suppressed' ? (base.stateBeforeSuppression ?? 'open') : base.state };
      break;
    case 'flagged':
      next = { ...next, ...(flaggedFor === undefined ? {} : { flaggedFor }) };
      break;
    case 'cleared':
      next = { ...next, conditionActive: false };
      break;
    case 'condition_returned':
    case 'opened':
      next = { ...next, conditionActive: true };
      break;
    default:
      break;
  }
  return next;
}

/** Folds a whole alert's events (in seq order). */
export function foldEvents(events: readonly AlertEvent[]): AlertView | undefined {
  let view: AlertView | undefined;
  for (const e of events) view = foldEvent(view, e);
  return view;
}

export function isLive(view: AlertView): boolean {
  return view.state !== 'closed';
}

/**
 * Every alert kept in memory, by id, with the live one of each key. Bounded: past `maxAlerts`,
 * closed alerts are evicted oldest first (their events stay in the warehouse); live alerts are
 * never evicted (their number is bounded by the rules' conditions), and `overCapacity` says so.
 */
export function createAlertProjection(maxAlerts: number) {
  const byId = new Map<string, AlertView>();
  const liveByKey = new Map<string, string>();
  const counts = new Map<AlertState, number>();
  // Closed alerts, least recently changed first: eviction takes from the front in O(1), so a
  // projection over capacity (more live alerts than maxAlerts) costs nothing per event.
  const closedOrder = new Set<string>();
  let evicted = 0;

  function count(state: AlertState, by: number): void {
    counts.set(state, (counts.get(state) ?? 0) + by);
  }

  function evict(): void {
    if (byId.size <= maxAlerts) return;
    for (const id of closedOrder) {
      if (byId.size <= maxAlerts) break;
      closedOrder.delete(id);
      const v = byId.get(id)!;
      byId.delete(id);
      count(v.state, -1);
      evicted++;
    }
  }

  return {
    apply(e: AlertEvent): AlertView {
      const before = byId.get(e.alertId);
      const view = foldEvent(before, e);
      if (before !== undefined) count(before.state, -1);
      count(view.state, 1);
      byId.set(view.id, view);
      closedOrder.delete(view.id);
      if (isLive(view)) liveByKey.set(view.key, view.id);
      else {
        closedOrder.add(view.id);
        if (liveByKey.get(view.key) === view.id) liveByKey.delete(view.key);
      }
      evict();
      return view;
    },
    get(id: string): AlertView | undefined {
      return byId.get(id);
    },
    liveFor(key: string): AlertView | undefined {
      const id = liveByKey.get(key);
      return id === undefined ? undefined : byId.get(id);
    },
    all(): IterableIterator<AlertView> {
      return byId.values();
    },
    get size() {
      return byId.size;
    },
    get evicted() {
      return evicted;
    },
    /** Alerts not closed. */
    liveCount(): number {
      return byId.size - closedOrder.size;
    },
    overCapacity(): boolean {
      return byId.size > maxAlerts;
    },
    /** Alerts kept, by state. */
    countsByState(): ReadonlyMap<AlertState, number> {
      return counts;
    },
    clear(): void {
      byId.clear();
      liveByKey.clear();
      closedOrder.clear();
      counts.clear();
    },
  };
}

export type AlertProjection = ReturnType<typeof createAlertProjection>;
