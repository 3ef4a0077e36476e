import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { createHttpServerMetrics, createServiceRegistry } from '@cityops/protocol/service-metrics';
import { createAlertMetrics } from './alerts/alert-metrics.ts';

/** The analytics service's metrics, on a registry of its own (never the global one). */
export function createAnalyticsMetrics(registry = new Registry()) {
  createServiceRegistry('cityops_analytics_', registry);
  return {
    registry,
    /** The HTTP API's server limits (http.limits); dashboard streams are connections too. */
    http: createHttpServerMetrics(registry, 'cityops_analytics_'),
    addressRefused: new Counter({
      name: 'cityops_analytics_address_refused_total',
      help: 'Requests refused with 429 because their address is locked out after failed logins.',
      registers: [registry],
    }),
    addressLockouts: new Counter({
      name: 'cityops_analytics_address_lockouts_total',
      help: 'Addresses locked out after too many failed logins (answers of 401).',
      registers: [registry],
    }),
    addressEvictions: new Counter({
      name: 'cityops_analytics_address_evictions_total',
      help: 'Tracked addresses forgotten to keep the lockout within limits.maxAddresses.',
      registers: [registry],
    }),
    querySeconds: new Histogram({
      name: 'cityops_analytics_indicator_query_duration_seconds',
      help: 'Time to evaluate one indicator request (every window and place), by indicator and level.',
      labelNames: ['indicator', 'level'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    queryErrors: new Counter({
      name: 'cityops_analytics_indicator_query_errors_total',
      help: 'Indicator requests refused or failed, by error code.',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    queryRetries: new Counter({
      name: 'cityops_analytics_indicator_query_retries_total',
      help: 'Indicator queries read again because the rollup job committed while they ran.',
      registers: [registry],
    }),
    rollupRuns: new Counter({
      name: 'cityops_analytics_rollup_runs_total',
      help: 'Rollup job runs, by outcome (rolled_up, idle, failed).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    rollupSeconds: new Histogram({
      name: 'cityops_analytics_rollup_run_duration_seconds',
      help: 'Time of one rollup run that had readings to roll up.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    rollupWatermark: new Gauge({
      name: 'cityops_analytics_rollup_watermark_block',
      help: 'Newest readings insert block in the rollups.',
      registers: [registry],
    }),
    // Alert rules on the live stream (src/rules/).
    ruleReadings: new Counter({
      name: 'cityops_analytics_rule_readings_total',
      help: 'Readings from the live stream handed to the alert rules.',
      registers: [registry],
    }),
    ruleEvaluations: new Counter({
      name: 'cityops_analytics_rule_evaluations_total',
      help: 'Rule evaluations, by source (reading: a place after a batch or tick; silence: a sensor, gateway, grid or pipeline on a tick; verification: a venue from the warehouse).',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    ruleConditionsActive: new Gauge({
      name: 'cityops_analytics_rule_conditions_active',
      help: 'Alert conditions true now, by rule kind.',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    ruleConditionsSuppressed: new Gauge({
      name: 'cityops_analytics_rule_conditions_suppressed',
      help: 'Active conditions explained by an active condition above them (raised with a parentKey).',
      registers: [registry],
    }),
    ruleStateEntries: new Gauge({
      name: 'cityops_analytics_rule_state_entries',
      help: "The rule engine's state, by kind (sensors, groups, gateways, grids, pipelines, series, conditions, storms, pending_alerts), each bounded by its config.",
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    ruleStreamLagSeconds: new Gauge({
      name: 'cityops_analytics_rule_stream_lag_seconds',
      help: "The engine's clock minus the newest reading time seen on the live stream.",
      registers: [registry],
    }),
    ruleDrops: new Counter({
      name: 'cityops_analytics_rule_drops_total',
      help: 'Readings or subjects the rules did not take, by reason (decode, unknown_device, late, places, sensors, device_sensors: beyond a gateway bounds.maxSensorsPerDevice, gateways, grids, pipelines, conditions, sink_busy: a raise or clear held for the next tick because maxPendingAlerts are waiting, stopped: raises and clears not yet sent when the engine stopped).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    /** The alert lifecycle's (alerts by state, transitions, webhooks, time to visible). */
    alerts: createAlertMetrics(registry),
  };
}

export type AnalyticsMetrics = ReturnType<typeof createAnalyticsMetrics>;
