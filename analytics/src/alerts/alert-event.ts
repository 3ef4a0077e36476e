import type { HierarchyLevel } from '@cityops/protocol';
import { formatDateTime64Utc } from '@cityops/warehouse';
import type { AlertKind, AlertSeverity, AlertVerification } from './alert-signal.ts';

/** Where an alert stands after an event. `closed` is final unless an operator reopens it. */
export const ALERT_STATES = ['open', 'dispatched', 'accepted', 'resolved', 'verified', 'closed', 'suppressed'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

export const ALERT_EVENT_TYPES = [
  'opened',
  'dispatched',
  'escalated',
  'accepted',
  'resolved',
  'verified',
  'closed',
  'reopened',
  'suppressed',
  'unsuppressed',
  'cleared',
  'condition_returned',
  // The condition's description changed while it stayed true (a group's or a storm's members).
  'updated',
  // Issue 23: the raiser's evaluation of a handled alert, and a bad one sent to the supervising office.
  'rated',
  'flagged',
] as const;
export type AlertEventType = (typeof ALERT_EVENT_TYPES)[number];

export const RATINGS = ['good', 'bad'] as const;
export type Rating = (typeof RATINGS)[number];
/** The stages of a handled alert that are rated: once when resolved, again when closed. */
export const RATING_STAGES = ['resolved', 'closed'] as const;
export type RatingStage = (typeof RATING_STAGES)[number];

/** What an alert is about: repeated on every event so one alert's events alone rebuild it. */
export interface AlertDescription {
  readonly key: string;
  readonly rule: string;
  readonly kind: AlertKind;
  readonly severity: AlertSeverity;
  readonly place: string;
  readonly level: HierarchyLevel;
  readonly metric?: string | undefined;
  readonly subject?: string | undefined;
  readonly summary: string;
  readonly value?: number | undefined;
  readonly threshold?: number | undefined;
  readonly verification: AlertVerification;
}

/** One transition of one alert, as stored in `alert_events` (migration 7). */
export interface AlertEvent extends AlertDescription {
  readonly alertId: string;
  /** 1, 2, 3, … within the alert. */
  readonly seq: number;
  /** ms since the epoch. */
  readonly at: number;
  readonly type: AlertEventType;
  /** `rule:<name>`, `system`, or the operator's name. */
  readonly actor: string;
  /** State after the event. */
  readonly state: AlertState;
  /** Responsible department after the event; empty before the first dispatch. */
  readonly department: string;
  /** The live condition that explains this one (suppression), empty when none. */
  readonly parentKey: string;
  /** The department's feedback (resolved), the reason (reopened by an operator), a rating's comment. */
  readonly feedback: string;
  /** `rated` events: the rating and the stage it rates (the channel is the actor, `rater:<channel>`). */
  readonly rating?: Rating | undefined;
  readonly ratingStage?: RatingStage | undefined;
  /** `flagged` events: the supervising department the bad rating goes to. */
  readonly flaggedFor?: string | undefined;
}

/** One event of a transition before it is numbered and stamped (the lifecycle's commit does that). */
export interface AlertEventSpec {
  readonly type: AlertEventType;
  readonly actor: string;
  readonly state: AlertState;
  readonly department?: string;
  readonly parentKey?: string;
  readonly feedback?: string;
  readonly rating?: Rating;
  readonly ratingStage?: RatingStage;
  readonly flaggedFor?: string;
}

/** A row of `alert_events` as JSONEachRow reads and writes it. */
export interface AlertEventRow {
  alert_id: string;
  seq: number;
  at: string | number;
  type: string;
  actor: string;
  state: string;
  key: string;
  rule: string;
  kind: string;
  severity: string;
  place: string;
  level: string;
  metric: string;
  subject: string;
  department: string;
  parent_key: string;
  summary: string;
  feedback: string;
  value: number | null;
  threshold: number | null;
  verification: string;
  rating?: string;
  rating_stage?: string;
  flagged_for?: string;
}

export function eventToRow(e: AlertEvent): AlertEventRow {
  return {
    alert_id: e.alertId,
    seq: e.seq,
    at: formatDateTime64Utc(e.at),
    type: e.type,
    actor: e.actor,
    state: e.state,
    key: e.key,
    rule: e.rule,
    kind: e.kind,
    severity: e.severity,
    place: e.place,
    level: e.level,
    metric: e.metric ?? '',
    subject: e.subject ?? '',
    department: e.department,
    parent_key: e.parentKey,
    summary: e.summary,
    feedback: e.feedback,
    value: e.value ?? null,
    threshold: e.threshold ?? null,
    verification: JSON.stringify(e.verification),
    rating: e.rating ?? '',
    rating_stage: e.ratingStage ?? '',
    flagged_for: e.flaggedFor ?? '',
  };
}

/** Reads a row selected with `toUnixTimestamp64Milli(at) AS at`. */
export function rowToEvent(r: AlertEventRow): AlertEvent {
  return {
    alertId: r.alert_id,
    seq: Number(r.seq),
    at: Number(r.at),
    type: r.type as AlertEventType,
    actor: r.actor,
    state: r.state as AlertState,
    key: r.key,
    rule: r.rule,
    kind: r.kind as AlertKind,
    severity: r.severity as AlertSeverity,
    place: r.place,
    level: r.level as HierarchyLevel,
    ...(r.metric === '' ? {} : { metric: r.metric }),
    ...(r.subject === '' ? {} : { subject: r.subject }),
    department: r.department,
    parentKey: r.parent_key,
    summary: r.summary,
    feedback: r.feedback,
    ...(r.value === null ? {} : { value: Number(r.value) }),
    ...(r.threshold === null ? {} : { threshold: Number(r.threshold) }),
    verification: JSON.parse(r.verification) as AlertVerification,
    ...(r.rating === undefined || r.rating === '' ? {} : { rating: r.rating as Rating }),
    ...(r.rating_stage === undefined || r.rating_stage === '' ? {} : { ratingStage: r.rating_stage as RatingStage }),
    ...(r.flagged_for === undefined || r.flagged_for === '' ? {} : { flaggedFor: r.flagged_for }),
  };
}
