import { topics } from '@cityops/protocol';
import type { Logger } from 'pino';
import type { AlertMetrics } from './alert-metrics.ts';
import type { AlertNotification, AlertNotifier } from './alert-notification.ts';

/**
 * `cityops/v1/alerts/{department}`: a department's console subscribes to its own, a control room to
 * `cityops/v1/alerts/+`. An alert not yet dispatched (suppressed) goes under `unassigned`.
 */
export function alertTopic(department: string): string {
  return topics.alerts(department === '' ? 'unassigned' : department);
}

/** An MQTT client's publish (mqtt.js `publishAsync` bound, QoS 1 advised). */
export type AlertPublish = (topic: string, payload: string) => Promise<unknown> | void;

export interface MqttAlertNotifierDeps {
  readonly publish: AlertPublish;
  readonly logger: Logger;
  readonly metrics: AlertMetrics;
}

export interface MqttAlertQueueConfig {
  /** Publishes awaiting the broker at once; beyond it a new notification is dropped and counted. */
  readonly maxInFlight: number;
}

/**
 * Publishes every alert event as JSON on the alert's topic; a failed publish is logged and counted.
 * Bounded: at most maxInFlight publishes wait for the broker (a slow or gone broker cannot make
 * notifications pile up in memory); the events themselves are in the warehouse.
 */
export function createMqttAlertNotifier(queue: MqttAlertQueueConfig, deps: MqttAlertNotifierDeps): AlertNotifier {
  const inFlight = new Set<Promise<void>>();
  let closed = false;
  return {
    notify(n: AlertNotification) {
      if (closed) return;
      if (inFlight.size >= queue.maxInFlight) {
        deps.metrics.notifyDropped.inc();
        return;
      }
      const p = (async () => {
        try {
          // The reporter's link is the reporter's: a department's console must not rate its own handling with it.
          const { ratingLink: _link, ...shown } = n;
          const payload = JSON.stringify(shown);
          await deps.publish(alertTopic(n.event.department), payload);
          // A flagged case goes to the supervising office's console too.
          if (n.event.flaggedFor !== undefined && n.event.flaggedFor !== n.event.department) await deps.publish(alertTopic(n.event.flaggedFor), payload);
        } catch (err) {
          deps.metrics.notifyFailures.inc();
          deps.logger.warn({ err, alert: n.event.alertId, type: n.event.type }, 'alert event not published on MQTT');
        }
      })();
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    },
    async close() {
      closed = true;
      await Promise.all(inFlight);
    },
  };
}
