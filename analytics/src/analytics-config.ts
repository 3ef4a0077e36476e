import type { FromSchema } from 'json-schema-to-ts';
import { accessTokenProblems, accessTokensSchema, failedLoginLimitsSchema, httpServerLimitsProblems, httpServerLimitsSchema, parseConfig } from '@cityops/protocol';
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
        /**
         * Timeouts, header size and open connections per address and in total (protocol's
         * http-server-limits.ts); dashboard streams count toward the connection caps.
         */
        limits: {
          ...httpServerLimitsSchema,
          properties: {
            ...httpServerLimitsSchema.properties,
            /** Bodies of alert actions (feedback, reason: 4,000 characters) at most; GET routes take none. */
            maxBodyBytes: { type: 'integer', minimum: 1024, maximum: 1048576, default: 65536 },
          },
        },
      },
    },
    /**
     * API tokens with roles (protocol/src/access-tokens.ts): `[{ name, role, tokenSha256,
     * departments? }]`. Empty (development): every route open, alert actions name their actor in
     * `by` (or `alerts.operators`, the older shape, which cannot be combined with tokens).
     */
    auth: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { tokens: accessTokensSchema },
    },
    /**
     * Failed-login lockout per client address (protocol's address-guard.ts): after
     * failedLoginsPerWindow answers of 401 within failedLoginWindowMs, the address gets 429
     * ANALYTICS_ERR_LOCKED_OUT on every route for lockoutMs. Loopback is exempt by default.
     */
    limits: failedLoginLimitsSchema,
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
  const config = parseConfig<AnalyticsConfig>(analyticsConfigSchema, input, analyticsErrors.ANALYTICS_ERR_CONFIG);
  const problems = [...accessTokenProblems(config.auth.tokens, '/auth/tokens'), ...httpServerLimitsProblems(config.http.limits, '/http/limits')];
  if (config.auth.tokens.length > 0 && config.alerts.operators.length > 0) {
    // One model at a time: a plaintext operator token beside hashed role tokens would be a second way in.
    problems.push(
      '/alerts/operators cannot be combined with /auth/tokens: give each operator an auth.tokens entry ' +
        '(role "operator" for departments ["*"], else role "department" with its departments; tokenSha256 = SHA-256 hex of the token)',
    );
  }
  if (problems.length > 0) throw analyticsErrors.ANALYTICS_ERR_CONFIG(problems.join('; '));
  return config;
}
