import type { FromSchema } from 'json-schema-to-ts';
import { ALERT_SEVERITIES } from '../alerts/alert-signal.ts';
import { RULE_DURATION_PATTERN } from './rule-duration.ts';

const NAME = { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$' } as const;
const DURATION = { type: 'string', pattern: RULE_DURATION_PATTERN } as const;
const LEVEL = { type: 'string', enum: ['city', 'district', 'subdistrict', 'grid', 'building'] } as const;
const SEVERITY = { type: 'string', enum: ALERT_SEVERITIES } as const;
const MATCH_VALUES = { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' } } as const;

/** Fields every rule has. `verifyWindows`: how many windows the lifecycle checks after a resolution. */
const common = {
  name: NAME,
  title: { type: 'string', minLength: 1, maxLength: 200 },
  description: { type: 'string', maxLength: 2000 },
  verifyWindows: { type: 'integer', minimum: 1, maximum: 100, default: 3 },
} as const;

/** An indicator (analytics/indicators) held beyond its warning or critical threshold for `for`. */
const thresholdRule = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'title', 'kind', 'indicator', 'level', 'severity', 'for'],
  properties: {
    ...common,
    kind: { const: 'threshold' },
    indicator: NAME,
    level: LEVEL,
    /** Which of the indicator's thresholds at the level the value must reach. */
    severity: SEVERITY,
    /** How long the value must stay beyond the threshold (`0s`: at once). */
    for: DURATION,
  },
} as const;

/** A metric's aggregate at a level moving by more than `change` over `over`. */
const rateOfChangeRule = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'title', 'kind', 'metric', 'level', 'change', 'over', 'severity'],
  properties: {
    ...common,
    kind: { const: 'rate_of_change' },
    metric: NAME,
    unit: { type: 'string', maxLength: 32 },
    level: LEVEL,
    aggregation: { type: 'string', enum: ['avg', 'min', 'max'], default: 'avg' },
    /** The window each of the two compared values covers (now, and `over` ago). */
    window: { ...DURATION, default: '1m' },
    direction: { type: 'string', enum: ['rising', 'falling'], default: 'rising' },
    change: { type: 'number', exclusiveMinimum: 0 },
    over: DURATION,
    severity: SEVERITY,
    for: { ...DURATION, default: '0s' },
  },
} as const;

/** A sensor that was reporting has sent nothing for `after`. */
const sensorSilentRule = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'title', 'kind', 'after', 'severity'],
  properties: {
    ...common,
    kind: { const: 'sensor_silent' },
    after: DURATION,
    /** Only sensors of these metrics (all when absent). */
    metrics: { type: 'array', minItems: 1, uniqueItems: true, items: NAME },
    severity: SEVERITY,
  },
} as const;

/** A gateway's status is offline (its last will, or a clean stop) for longer than `grace`. */
const gatewayOfflineRule = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'title', 'kind', 'grace', 'severity'],
  properties: { ...common, kind: { const: 'gateway_offline' }, grace: DURATION, severity: SEVERITY },
} as const;

/** Every known sensor of a grid (at least `minSensors`) silent for `after`. */
const gridQuietRule = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'title', 'kind', 'after', 'severity'],
  properties: {
    ...common,
    kind: { const: 'grid_quiet' },
    after: DURATION,
    minSensors: { type: 'integer', minimum: 1, default: 2 },
    severity: SEVERITY,
  },
} as const;

/** The pipeline behind (oldest pending reading older than maxLagMs for `for`), offline or stale, or our own link down. */
const pipelineBacklogRule = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'title', 'kind', 'maxLagMs', 'staleAfter', 'severity'],
  properties: {
    ...common,
    kind: { const: 'pipeline_backlog' },
    maxLagMs: { type: 'integer', minimum: 1 },
    for: { ...DURATION, default: '0s' },
    /** No status message from an instance for this long: treated as offline. */
    staleAfter: DURATION,
    severity: SEVERITY,
  },
} as const;

/** Deny or forgery spikes at a venue, from `verification_events`. */
const verificationAnomalyRule = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'title', 'kind', 'match', 'window', 'baseline', 'minEvents', 'history', 'minBaselineEvents', 'severity'],
  properties: {
    ...common,
    kind: { const: 'verification_anomaly' },
    /** Which events count: fields ANDed, values ORed. */
    match: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { verdict: MATCH_VALUES, reason: MATCH_VALUES, kind: MATCH_VALUES },
    },
    window: DURATION,
    /** The period before the window the venue's usual rate is taken from. */
    baseline: DURATION,
    minEvents: { type: 'integer', minimum: 1 },
    /**
     * Learning (issue 19), declared by every rule: a venue cannot fire until the warehouse holds
     * this much of its history (its first verification this long ago; at most window + baseline)…
     */
    history: DURATION,
    /** … and this many verifications of any kind in its baseline: an empty baseline is no usual rate. */
    minBaselineEvents: { type: 'integer', minimum: 0, maximum: 100_000_000 },
    /** The window's rate must reach this many times the baseline's rate … */
    factor: { type: 'number', exclusiveMinimum: 0, default: 3 },
    /** … or matching events must be at least this share of the venue's events in the window. */
    share: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
    /** How often the rule queries the warehouse. */
    every: { ...DURATION, default: '5s' },
    severity: SEVERITY,
  },
} as const;

/** A scanner credential the verifier throttled (`credential_flags`): more checks than a door can see. */
const scannerFloodRule = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'title', 'kind', 'window', 'severity'],
  properties: {
    ...common,
    kind: { const: 'scanner_flood' },
    /** The episode lasts while flags come within this (longer than the verifier's rates.flagWindowMs). */
    window: DURATION,
    /** Most credentials read per run (the most flagged first). */
    maxCredentials: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 10_000 },
    /** How often the rule queries the warehouse. */
    every: { ...DURATION, default: '5s' },
    severity: SEVERITY,
  },
} as const;

/** A device whose readings ingest refuses (`dead_letters` by reason): sensors beyond its set and the like. */
const deviceRefusalsRule = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'title', 'kind', 'window', 'severity'],
  properties: {
    ...common,
    kind: { const: 'device_refusals' },
    /** The episode lasts while refusals come within this. */
    window: DURATION,
    /** Dead-letter reasons that count (ingest's codes). */
    reasons: {
      type: 'array',
      minItems: 1,
      maxItems: 32,
      uniqueItems: true,
      items: { type: 'string', pattern: '^[A-Z][A-Z0-9_]{0,99}$' },
      default: ['INGEST_ERR_SENSOR_LIMIT', 'INGEST_ERR_METRIC_LIMIT', 'INGEST_ERR_SENSOR_DECOMMISSIONED'],
    },
    /** Refused batches within `window` before it is news. */
    minRefusals: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1 },
    /** Most devices read per run (the most refused first). */
    maxDevices: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 10_000 },
    /** How often the rule queries the warehouse. */
    every: { ...DURATION, default: '5s' },
    severity: SEVERITY,
  },
} as const;

export const ruleSchema = {
  oneOf: [thresholdRule, rateOfChangeRule, sensorSilentRule, gatewayOfflineRule, gridQuietRule, pipelineBacklogRule, verificationAnomalyRule, scannerFloodRule, deviceRefusalsRule],
} as const;

/** The rules file (`analytics/alerts/city-rules.json`). */
export const ruleFileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['rules'],
  properties: {
    $schema: { type: 'string' },
    rules: { type: 'array', minItems: 1, items: { type: 'object', required: ['name', 'kind'], properties: { name: NAME } } },
  },
} as const;

export const RULE_SCHEMAS = {
  threshold: thresholdRule,
  rate_of_change: rateOfChangeRule,
  sensor_silent: sensorSilentRule,
  gateway_offline: gatewayOfflineRule,
  grid_quiet: gridQuietRule,
  pipeline_backlog: pipelineBacklogRule,
  verification_anomaly: verificationAnomalyRule,
  scanner_flood: scannerFloodRule,
  device_refusals: deviceRefusalsRule,
} as const;

export type ThresholdRule = FromSchema<typeof thresholdRule>;
export type RateOfChangeRule = FromSchema<typeof rateOfChangeRule>;
export type SensorSilentRule = FromSchema<typeof sensorSilentRule>;
export type GatewayOfflineRule = FromSchema<typeof gatewayOfflineRule>;
export type GridQuietRule = FromSchema<typeof gridQuietRule>;
export type PipelineBacklogRule = FromSchema<typeof pipelineBacklogRule>;
export type VerificationAnomalyRule = FromSchema<typeof verificationAnomalyRule>;
export type ScannerFloodRule = FromSchema<typeof scannerFloodRule>;
export type DeviceRefusalsRule = FromSchema<typeof deviceRefusalsRule>;
export type RuleDefinition =
  | ThresholdRule
  | RateOfChangeRule
  | SensorSilentRule
  | GatewayOfflineRule
  | GridQuietRule
  | PipelineBacklogRule
  | VerificationAnomalyRule
  | ScannerFloodRule
  | DeviceRefusalsRule;
export type RuleKind = RuleDefinition['kind'];
