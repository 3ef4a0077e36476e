import { randomUUID } from 'node:crypto';
import type { Warehouse } from '@cityops/warehouse';
import type { Logger } from 'pino';
import { createLogThrottle } from '@cityops/protocol';
import { analyticsErrors } from '../errors.ts';
import type { IndicatorEngine } from '../indicator-engine.ts';
import { ALERT_STATES, type AlertDescription, type AlertEvent, type AlertEventSpec, type AlertState } from './alert-event.ts';
import { createAlertEventStore } from './alert-event-store.ts';
import type { AlertMetrics } from './alert-metrics.ts';
import { summarize, type AlertNotifier, type AlertSummary } from './alert-notification.ts';
import { createAlertProjection, foldEvents, type AlertView } from './alert-projection.ts';
import type { AlertSignal, AlertSink, RuleConditions } from './alert-signal.ts';
import { NODE_TIMERS, type AlertTimers } from './alert-timers.ts';
import type { AlertsConfig } from './alerts-config.ts';
import { loadDispatch, placeUnder, type Dispatch } from './dispatch-config.ts';
import { checkRatingText, ratingSpecs, type RatingRequest } from './alert-rating.ts';
import { createKeyedSerial } from './keyed-serial.ts';
import { describe, descriptionOf } from './alert-description.ts';
import { createMqttAlertNotifier, type AlertPublish } from './mqtt-alert-notifier.ts';
import { createRatingLinks, type RatingLinks } from './rating-link.ts';
import { checkResolution } from './resolution-check.ts';
import { createWebhookAlertNotifier } from './webhook-alert-notifier.ts';

export interface AlertLifecycleDeps {
  readonly warehouse: Warehouse;
  readonly logger: Logger;
  readonly metrics: AlertMetrics;
  /** Verifies resolutions declared `by: 'indicator'`. */
  readonly engine?: IndicatorEngine;
  /** Verifies resolutions declared `by: 'condition'`; also settable later with `useRuleConditions`. */
  readonly conditions?: RuleConditions;
  readonly now?: () => number;
  readonly timers?: AlertTimers;
  /** An MQTT client's publish; absent: no MQTT notifications. */
  readonly publish?: AlertPublish;
  /** For webhooks. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Departments and routes; absent: read from `config.dispatchFile` (or the shipped city set). */
  readonly dispatch?: Dispatch;
  readonly randomId?: () => string;
}

/** Who acts on an alert. `departments` absent or containing `*`: any department. */
export interface AlertActor {
  readonly name: string;
  readonly departments?: readonly string[] | undefined;
}

export interface AlertFilter {
  readonly state?: AlertState | undefined;
  readonly level?: string | undefined;
  /** Place path prefix. */
  readonly place?: string | undefined;
  readonly department?: string | undefined;
  readonly rule?: string | undefined;
  readonly kind?: string | undefined;
  /** Alerts a bad rating flagged for this supervising department. */
  readonly flaggedFor?: string | undefined;
  /** @default 100 */
  readonly limit?: number | undefined;
}

export interface AlertLifecycle extends AlertSink {
  /** Loads the alerts not closed (and those closed recently) from the warehouse, then runs the checks. */
  start(): Promise<void>;
  /** Idempotent: stops the checks, waits for transitions in flight, closes the notifiers. */
  stop(): Promise<void>;
  readonly dispatch: Dispatch;
  /** Newest first. */
  list(filter?: AlertFilter): AlertSummary[];
  /** With its timeline; an alert no longer in memory is read from the warehouse. */
  get(id: string): Promise<AlertView | undefined>;
  accept(id: string, actor: AlertActor): Promise<AlertView>;
  resolve(id: string, feedback: string, actor: AlertActor): Promise<AlertView>;
  reopen(id: string, reason: string, actor: AlertActor): Promise<AlertView>;
  /** The raiser's rating of a handled alert (alert-rating.ts); `actor` scopes it, its name is never stored. */
  rate(id: string, request: RatingRequest, actor: AlertActor): Promise<AlertView>;
  /** The reporters' one-time links (signed with `ratings.linkSecret`). */
  readonly ratingLinks: RatingLinks;
  /** Escalation, then verification, once, now (what the intervals run). */
  checkNow(): Promise<void>;
  escalateNow(): Promise<void>;
  verifyNow(): Promise<void>;
  /** The rule engine, once it exists (it is built with this lifecycle as its sink). */
  useRuleConditions(conditions: RuleConditions): void;
}

type EventSpec = AlertEventSpec;

const SYSTEM = 'system';
const DAY_MS = 86_400_000;

/**
 * The alert lifecycle: raised by the rule engine (AlertSink), dispatched by the routes of the
 * dispatch file, accepted and resolved by departments, verified against the data, escalated when
 * not accepted in time. Every transition is an event stored in the warehouse first and then folded
 * into the in-memory projection, so what the API shows is durable and a restart rebuilds it.
 * Transitions of one alert key run one at a time (seq never interleaves).
 */
export function createAlertLifecycle(config: AlertsConfig, deps: AlertLifecycleDeps): AlertLifecycle {
  const now = deps.now ?? Date.now;
  const timers = deps.timers ?? NODE_TIMERS;
  const { logger, metrics } = deps;
  const dispatch = deps.dispatch ?? loadDispatch(config.dispatchFile);
  const store = createAlertEventStore(deps.warehouse);
  const projection = createAlertProjection(config.maxAlerts);
  const serial = createKeyedSerial();
  const newId = deps.randomId ?? randomUUID;
  const ratingLinks = createRatingLinks(config.ratings, now);
  let conditions = deps.conditions;
  const notifiers: AlertNotifier[] = [];
  if (deps.publish !== undefined) notifiers.push(createMqttAlertNotifier(config.mqttQueue, { publish: deps.publish, logger, metrics }));
  if (config.webhooks.length > 0) {
    notifiers.push(createWebhookAlertNotifier(config.webhooks, config.webhookQueue, { logger, metrics, timers, ...(deps.fetch ? { fetch: deps.fetch } : {}) }));
  }
  let phase: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  const intervals: unknown[] = [];
  let escalating: Promise<void> | undefined;
  let verifying: Promise<void> | undefined;
  const logOnce = createLogThrottle({ intervalMs: 60_000, now });

  function updateGauge(): void {
    const counts = projection.countsByState();
    for (const state of ALERT_STATES) metrics.alertsByState.set({ state }, counts.get(state) ?? 0);
  }

  async function running(): Promise<void> {
    if (phase === 'starting') await starting;
    if (phase !== 'running') throw analyticsErrors.ANALYTICS_ERR_ALERTS_STOPPED();
  }

  /** Stores the events of one transition (one insert), then folds them in and tells the notifiers. */
  async function commit(id: string, current: AlertView | undefined, description: AlertDescription, specs: readonly EventSpec[]): Promise<AlertView> {
    const at = now();
    let seq = current?.seq ?? 0;
    let department = current?.department ?? '';
    let parentKey = current?.parentKey ?? '';
    const events: AlertEvent[] = specs.map((s) => {
      department = s.department ?? department;
      parentKey = s.parentKey ?? parentKey;
      const { rating, ratingStage, flaggedFor } = s;
      return { ...description, alertId: id, seq: ++seq, at, type: s.type, actor: s.actor, state: s.state, department, parentKey, feedback: s.feedback ?? '', rating, ratingStage, flaggedFor };
    });
    await store.append(events);
    let view = current;
    for (const e of events) {
      view = projection.apply(e);
      metrics.transitions.inc({ type: e.type });
      const ratingLink = ratingLinks.offerFor(e, view);
      const notification = { event: e, alert: summarize(view), ...(ratingLink === undefined ? {} : { ratingLink }) };
      for (const n of notifiers) n.notify(notification);
    }
    updateGauge();
    if (projection.overCapacity() && logOnce('capacity')) logger.warn({ alerts: projection.size, maxAlerts: config.maxAlerts }, 'more live alerts than alerts.maxAlerts');
    return view!;
  }

  function dispatchSpecs(view: { readonly department: string } | undefined, description: AlertDescription, actor: string): EventSpec {
    const department = view !== undefined && view.department !== '' ? view.department : dispatch.route(description).department;
    return { type: 'dispatched', actor, state: 'dispatched', department };
  }

  function liveParent(signal: AlertSignal): boolean {
    return signal.parentKey !== undefined && signal.parentKey !== signal.key && projection.liveFor(signal.parentKey) !== undefined;
  }

  async function raise(signal: AlertSignal): Promise<void> {
    await running();
    await serial.run(signal.key, async () => {
      const actor = `rule:${signal.rule}`;
      const description = describe(signal);
      const parentKey = signal.parentKey ?? '';
      const suppress = liveParent(signal);
      const live = projection.liveFor(signal.key);
      if (live === undefined) {
        // Live alerts are never evicted: past maxAlerts a new one is refused (the rule engine's storms keep far below).
        if (projection.liveCount() >= config.maxAlerts) {
          metrics.refused.inc();
          if (logOnce('refused')) logger.error({ key: signal.key, maxAlerts: config.maxAlerts }, 'alert refused: alerts.maxAlerts alerts are live');
          return;
        }
        const specs: EventSpec[] = [{ type: 'opened', actor, state: 'open', parentKey }];
        specs.push(suppress ? { type: 'suppressed', actor, state: 'suppressed' } : dispatchSpecs(undefined, description, actor));
        await commit(newId(), undefined, description, specs);
        metrics.visibleSeconds.observe(Math.max(0, now() - (signal.observedAt ?? signal.at)) / 1000);
        return;
      }
      const specs: EventSpec[] = [];
      if (live.state === 'resolved') {
        specs.push({ type: 'reopened', actor, state: 'open', parentKey, feedback: 'the condition returned before verification' });
        specs.push(dispatchSpecs(live, description, actor));
      } else if (live.state === 'suppressed' && !suppress) {
        specs.push({ type: 'unsuppressed', actor, state: live.everDispatched ? (live.stateBeforeSuppression ?? 'dispatched') : 'open', parentKey });
        if (!live.everDispatched) specs.push(dispatchSpecs(live, description, actor));
      } else if (live.state !== 'suppressed' && suppress) {
        specs.push({ type: 'suppressed', actor, state: 'suppressed', parentKey });
      } else if (!live.conditionActive) {
        specs.push({ type: 'condition_returned', actor, state: live.state, parentKey });
      } else if (live.summary !== description.summary || live.value !== description.value) {
        // A group gained or lost members, a storm folded more: the same alert says so, not a new one.
        specs.push({ type: 'updated', actor, state: live.state, parentKey });
      }
      if (specs.length > 0) await commit(live.id, live, description, specs);
    });
  }

  async function clear(key: string, _at: number): Promise<void> {
    await running();
    await serial.run(key, async () => {
      const live = projection.liveFor(key);
      if (live === undefined || !live.conditionActive) return;
      const specs: EventSpec[] = [{ type: 'cleared', actor: `rule:${live.rule}`, state: live.state }];
      // Nobody was asked to handle a suppressed alert: nothing to hear back, so it simply ends.
      if (live.state === 'suppressed') specs.push({ type: 'closed', actor: SYSTEM, state: 'closed' });
      await commit(live.id, live, descriptionOf(live), specs);
    });
  }

  function authorize(view: AlertView, actor: AlertActor): void {
    const d = actor.departments;
    if (d === undefined || d.includes('*') || d.includes(view.department)) return;
    throw analyticsErrors.ANALYTICS_ERR_FORBIDDEN(`alert ${view.id} is with ${view.department || 'no department'}`);
  }

  /** Runs an operator's transition under the alert's key; the state is checked inside. */
  async function act(id: string, actor: AlertActor, step: (view: AlertView) => EventSpec[]): Promise<AlertView> {
    await running();
    const first = projection.get(id) ?? foldEvents(await store.loadAlert(id));
    if (first === undefined) throw analyticsErrors.ANALYTICS_ERR_ALERT_UNKNOWN(id);
    return serial.run(first.key, async () => {
      // An alert evicted from memory (closed long ago) comes back whole before it changes.
      if (projection.get(id) === undefined) for (const e of await store.loadAlert(id)) projection.apply(e);
      const view = projection.get(id)!;
      authorize(view, actor);
      return commit(id, view, descriptionOf(view), step(view));
    });
  }

  function refuse(view: AlertView, action: string): never {
    throw analyticsErrors.ANALYTICS_ERR_ALERT_TRANSITION(`cannot ${action} alert ${view.id}: it is ${view.state}`);
  }

  async function escalateNow(): Promise<void> {
    const due = [...projection.all()].filter((v) => v.state === 'dispatched' && v.assignedAt !== undefined);
    for (const candidate of due) {
      if (phase === 'stopped') return; // a stop waits for one transition, not a storm's round (issue 17)
      await serial.run(candidate.key, async () => {
        const v = projection.get(candidate.id);
        if (v === undefined || v.state !== 'dispatched' || v.assignedAt === undefined) return;
        if (now() - v.assignedAt < dispatch.route(v).acceptWithinMs) return;
        const parent = dispatch.department(v.department)?.parent;
        if (parent === undefined) return; // the top: it stays with the duty office
        await commit(v.id, v, descriptionOf(v), [
          { type: 'escalated', actor: SYSTEM, state: 'dispatched', department: parent, feedback: `not accepted by ${v.department} in time` },
        ]);
      });
    }
  }

  async function verifyOne(candidate: AlertView): Promise<void> {
    const outcome = await checkResolution(candidate, { engine: deps.engine, conditions, now });
    if (outcome.outcome === 'pending') return;
    await serial.run(candidate.key, async () => {
      const v = projection.get(candidate.id);
      if (v === undefined || v.seq !== candidate.seq) return; // something happened meanwhile; next round
      const specs: EventSpec[] =
        outcome.outcome === 'reopen'
          ? [
              { type: 'reopened', actor: SYSTEM, state: 'open', feedback: outcome.reason },
              { type: 'dispatched', actor: SYSTEM, state: 'dispatched' },
            ]
          : [
              { type: 'verified', actor: SYSTEM, state: 'verified', feedback: outcome.reason },
              { type: 'closed', actor: SYSTEM, state: 'closed' },
            ];
      await commit(v.id, v, descriptionOf(v), specs);
    });
  }

  async function verifyNow(): Promise<void> {
    const queue = [...projection.all()].filter((v) => v.state === 'resolved');
    const worker = async () => {
      for (let v = queue.shift(); v !== undefined && phase !== 'stopped'; v = queue.shift()) {
        try {
          await verifyOne(v);
        } catch (err) {
          logger.error({ err, alert: v.id }, 'alert verification failed; retried next round');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(config.verifyConcurrency, queue.length) }, worker));
  }

  function every(ms: number, run: () => Promise<void>, current: () => Promise<void> | undefined, set: (p: Promise<void> | undefined) => void, what: string) {
    intervals.push(
      timers.setInterval(() => {
        if (current() !== undefined || phase !== 'running') return; // the last round is still going
        const p = run()
          .catch((err: unknown) => logger.error({ err }, `alert ${what} round failed`))
          .finally(() => set(undefined));
        set(p);
      }, ms),
    );
  }

  return {
    dispatch,
    raise,
    clear,
    start() {
      if (phase !== 'new') return starting ?? Promise.resolve();
      phase = 'starting';
      starting = (async () => {
        const events = await store.loadRecent(now() - config.closedRetentionDays * DAY_MS);
        for (const e of events) projection.apply(e);
        updateGauge();
        phase = 'running';
        logger.info({ alerts: projection.size, events: events.length }, 'alert lifecycle rebuilt from the warehouse');
        every(config.escalationIntervalMs, escalateNow, () => escalating, (p) => {
          escalating = p;
        }, 'escalation');
        every(config.verifyIntervalMs, verifyNow, () => verifying, (p) => {
          verifying = p;
        }, 'verification');
      })();
      starting.catch(() => {
        phase = 'stopped';
      });
      return starting;
    },
    stop() {
      stopping ??= (async () => {
        await starting?.catch(() => undefined);
        phase = 'stopped';
        for (const h of intervals) timers.clearInterval(h);
        await Promise.all([escalating, verifying]);
        await serial.idle();
        for (const n of [...notifiers].reverse()) await n.close();
      })();
      return stopping;
    },
    list(filter = {}) {
      const out: AlertView[] = [];
      for (const v of projection.all()) {
        if (filter.state !== undefined && v.state !== filter.state) continue;
        if (filter.level !== undefined && v.level !== filter.level) continue;
        if (filter.place !== undefined && !placeUnder(v.place, filter.place)) continue;
        if (filter.department !== undefined && v.department !== filter.department) continue;
        if (filter.rule !== undefined && v.rule !== filter.rule) continue;
        if (filter.kind !== undefined && v.kind !== filter.kind) continue;
        if (filter.flaggedFor !== undefined && v.flaggedFor !== filter.flaggedFor) continue;
        out.push(v);
      }
      out.sort((a, b) => b.openedAt - a.openedAt || (a.id < b.id ? -1 : 1));
      return out.slice(0, filter.limit ?? 100).map(summarize);
    },
    async get(id) {
      return projection.get(id) ?? foldEvents(await store.loadAlert(id));
    },
    accept(id, actor) {
      return act(id, actor, (v) => (v.state === 'dispatched' ? [{ type: 'accepted', actor: actor.name, state: 'accepted' }] : refuse(v, 'accept')));
    },
    resolve(id, feedback, actor) {
      if (feedback.trim() === '') return Promise.reject(analyticsErrors.ANALYTICS_ERR_ALERT_REQUEST_INVALID('feedback is required to resolve'));
      return act(id, actor, (v) => (v.state === 'accepted' ? [{ type: 'resolved', actor: actor.name, state: 'resolved', feedback }] : refuse(v, 'resolve')));
    },
    reopen(id, reason, actor) {
      if (reason.trim() === '') return Promise.reject(analyticsErrors.ANALYTICS_ERR_ALERT_REQUEST_INVALID('a reason is required to reopen'));
      return act(id, actor, (v) => {
        if (v.state !== 'resolved' && v.state !== 'closed') refuse(v, 'reopen');
        const other = projection.liveFor(v.key);
        if (other !== undefined && other.id !== v.id) {
          throw analyticsErrors.ANALYTICS_ERR_ALERT_TRANSITION(`alert ${other.id} is already open for ${v.key}`);
        }
        return [
          { type: 'reopened', actor: actor.name, state: 'open', feedback: reason },
          { type: 'dispatched', actor: actor.name, state: 'dispatched', department: v.department || dispatch.route(v).department },
        ];
      });
    },
    async rate(id, request, actor) {
      const { maxCommentChars, remainsPhrases } = config.ratings;
      try {
        checkRatingText(request.comment, maxCommentChars);
        const view = await act(id, actor, (v) => ratingSpecs(v, request, { dispatch, remainsPhrases, liveOther: projection.liveFor(v.key) }));
        metrics.ratings.inc({ channel: request.channel });
        return view;
      } catch (err) {
        metrics.ratingsRefused.inc({ channel: request.channel, code: (err as { code?: string }).code ?? 'ANALYTICS_ERR_INTERNAL' });
        throw err;
      }
    },
    ratingLinks,
    async checkNow() {
      await running();
      await escalateNow();
      await verifyNow();
    },
    async escalateNow() {
      await running();
      await escalateNow();
    },
    async verifyNow() {
      await running();
      await verifyNow();
    },
    useRuleConditions(c) {
      conditions = c;
    },
  };
}
