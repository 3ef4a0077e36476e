import type { AlertEvent } from './alert-event.ts';
import type { AlertView } from './alert-projection.ts';
import type { RatingLinkOffer } from './rating-link.ts';

/** What is published for every new alert and transition: the event and the alert after it. */
export interface AlertNotification {
  readonly event: AlertEvent;
  readonly alert: AlertSummary;
  /** A resolved or closed handled alert: the reporter's one-time rating link (webhooks only, never MQTT). */
  readonly ratingLink?: RatingLinkOffer;
}

/** An alert without its timeline. */
export type AlertSummary = Omit<AlertView, 'events'>;

export function summarize(view: AlertView): AlertSummary {
  const { events: _events, ...summary } = view;
  return summary;
}

/** Something told about every stored event. Never throws, never blocks a transition. */
export interface AlertNotifier {
  notify(notification: AlertNotification): void;
  /** Stops taking work and waits (bounded) for what is in flight. Idempotent. */
  close(): Promise<void>;
}
