import type { FromSchema } from 'json-schema-to-ts';
import { parseConfig } from '@cityops/protocol';
import { analyticsErrors } from './errors.ts';
import { alertsConfigSchema } from './alerts/alerts-config.ts';
import { dashboardConfigSchema } from './dashboard/dashboard-config.ts';
import { ruleEngineConfigSchema } from './rules/rule-engine-config.ts';

/** The analytics service's configuration: validated once at start, all problems reported together. */
export const analyticsConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8082 },
      },
    },
    /** The indicator definitions file. Absent: the city set shipped in analytics/indicators/. */
    indicatorsFile: { type: 'string', minLength: 1 },
    rollup: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** Run the readings rollup job in this instance (one instance per warehouse should). */
        enabled: { type: 'boolean', default: true },
        /** Pause between runs. Values stay exact meanwhile: what the job has not reached is read raw. */
        intervalMs: { type: 'integer', minimum: 100, maximum: 3600000, default: 5000 },
      },
    },
    query: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** Bound on the windows of one series request. */
        maxWindows: { type: 'integer', minimum: 1, maximum: 100000, default: 1440 },
      },
    },
    privacy: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /**
         * Verification data is shown only as aggregates over at least this many events: a smaller
         * cell (a venue's window with 3 verdicts, 2 forgeries) is suppressed, value and count.
         */
        minCell: { type: 'integer', minimum: 1, maximum: 1000, default: 5 },
      },
    },
    /** The alert lifecycle: dispatch file, checks, operators, webhooks (alerts/alerts-config.ts). */
    alerts: alertsConfigSchema,
    /**
     * Alert rules on the live stream (rules/rule-engine-config.ts): rules file, the MQTT service
     * credentials, tick, bounds. Absent: no rule engine.
     */
    rules: ruleEngineConfigSchema,
    /** The operator dashboard at `/`: refresh interval, the other services' /metrics, stream bounds (dashboard/dashboard-config.ts). */
    dashboard: dashboardConfigSchema,
  },
} as const;

/** The configuration with every default filled in. */
export type AnalyticsConfig = FromSchema<typeof analyticsConfigSchema>;
/** What a caller may pass: defaulted properties optional. */
export type AnalyticsConfigInput = FromSchema<typeof analyticsConfigSchema, { keepDefaultedPropertiesOptional: true }>;

export function parseAnalyticsConfig(input: unknown): AnalyticsConfig {
  return parseConfig<AnalyticsConfig>(analyticsConfigSchema, input, analyticsErrors.ANALYTICS_ERR_CONFIG);
}
