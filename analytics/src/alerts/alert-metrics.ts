import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The alert lifecycle's metrics, on the service's registry. */
export function createAlertMetrics(registry: Registry) {
  return {
    alertsByState: new Gauge({
      name: 'cityops_analytics_alerts',
      help: 'Alerts kept in memory, by state.',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    transitions: new Counter({
      name: 'cityops_analytics_alert_transitions_total',
      help: 'Alert events stored, by type (opened, dispatched, escalated, …).',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    visibleSeconds: new Histogram({
      name: 'cityops_analytics_alert_visible_seconds',
      help: "Time from the data that raised an alert (observedAt, else the rule's time) to its first event being stored and shown.",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'cityops_analytics_alert_webhook_deliveries_total',
      help: 'Webhook deliveries, by outcome (delivered, failed: given up after every attempt).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    webhookAttemptFailures: new Counter({
      name: 'cityops_analytics_alert_webhook_attempt_failures_total',
      help: 'Webhook attempts that failed (status not 2xx, timeout, network).',
      registers: [registry],
    }),
    webhookDropped: new Counter({
      name: 'cityops_analytics_alert_webhook_dropped_total',
      help: 'Webhook deliveries dropped because the queue was full (oldest first).',
      registers: [registry],
    }),
    refused: new Counter({
      name: 'cityops_analytics_alerts_refused_total',
      help: 'New alerts refused because alerts.maxAlerts alerts were live (not closed).',
      registers: [registry],
    }),
    notifyDropped: new Counter({
      name: 'cityops_analytics_alert_notify_dropped_total',
      help: 'MQTT alert notifications dropped because alerts.mqttQueue.maxInFlight publishes were awaiting the broker.',
      registers: [registry],
    }),
    notifyFailures: new Counter({
      name: 'cityops_analytics_alert_notify_failures_total',
      help: 'MQTT publishes of alert events that failed.',
      registers: [registry],
    }),
    ratings: new Counter({
      name: 'cityops_analytics_alert_ratings_total',
      help: 'Ratings of handled alerts stored, by channel (screen, link, console).',
      labelNames: ['channel'] as const,
      registers: [registry],
    }),
    ratingsRefused: new Counter({
      name: 'cityops_analytics_alert_ratings_refused_total',
      help: 'Ratings refused, by channel and error code (invalid, unknown alert, duplicate, link used or expired, busy).',
      labelNames: ['channel', 'code'] as const,
      registers: [registry],
    }),
  };
}

export type AlertMetrics = ReturnType<typeof createAlertMetrics>;
