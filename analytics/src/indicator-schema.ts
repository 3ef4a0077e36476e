import type { FromSchema } from 'json-schema-to-ts';
import { HIERARCHY_LEVELS } from '@cityops/protocol';
import { DURATION_PATTERN } from './window-duration.ts';

/** What a readings indicator computes over a window. */
export const READING_AGGREGATIONS = ['avg', 'min', 'max', 'p95', 'rate', 'count', 'share_of_sensors_reporting'] as const;
/** What a verifications indicator computes over a window (events from `verification_events`). */
export const VERIFICATION_AGGREGATIONS = ['count', 'rate', 'share'] as const;
export const INDICATOR_AGGREGATIONS = ['avg', 'min', 'max', 'p95', 'rate', 'count', 'share_of_sensors_reporting', 'share'] as const;
export const INDICATOR_SOURCES = ['readings', 'verifications'] as const;
/** `suppressed`: a verification cell below the privacy minimum; its value and count are withheld. */
export const INDICATOR_STATES = ['normal', 'warning', 'critical', 'no_data', 'suppressed'] as const;

const thresholdSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['warning', 'critical'],
  properties: {
    warning: { type: 'number' },
    critical: { type: 'number' },
  },
} as const;

const matchValuesSchema = {
  type: 'array',
  minItems: 1,
  uniqueItems: true,
  items: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
} as const;

/**
 * One indicator. The checks a schema cannot express (a readings indicator names a metric,
 * thresholds rise towards "bad", every level has thresholds, …) are in indicator-definitions.ts;
 * all problems of a file are reported together.
 */
export const indicatorDefinitionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'title', 'unit', 'aggregation', 'window', 'levels', 'direction', 'thresholds'],
  properties: {
    /** The id in the API path: `/v1/indicators/{name}`. */
    name: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$' },
    title: { type: 'string', minLength: 1, maxLength: 200 },
    description: { type: 'string', maxLength: 2000 },
    /** Unit of the value (`µg/m³`, `bar`, `share`). */
    unit: { type: 'string', maxLength: 32 },
    /** Where the data comes from: telemetry readings, or the verifier's verdicts. */
    source: { type: 'string', enum: INDICATOR_SOURCES, default: 'readings' },
    /** readings only: the metric, as gateways name it (`pm25`). */
    metric: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$' },
    /**
     * verifications only: which events the value counts (`count`, `rate`) or which share of all
     * events it reports (`share`). Fields are ANDed, values within a field ORed.
     */
    match: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { verdict: matchValuesSchema, reason: matchValuesSchema, kind: matchValuesSchema },
    },
    /**
     * avg, min, max, p95 (DDSketch, 1% relative accuracy), count (readings or events), rate (sum of
     * the values per second; events per second for verifications), share_of_sensors_reporting
     * (sensors that reported in the window over the sensors known at the place), share
     * (verifications matching `match` over all verifications).
     */
    aggregation: { type: 'string', enum: INDICATOR_AGGREGATIONS },
    /** The window one value covers: whole minutes, hours or days (`5m`, `1h`, `1d`). */
    window: { type: 'string', pattern: DURATION_PATTERN },
    /** share_of_sensors_reporting: a sensor is known when first seen before the window's end and last seen at most this long before it. */
    knownWithin: { type: 'string', pattern: DURATION_PATTERN, default: '1d' },
    /** Fewer samples (readings, or events) than this in a window: the state is no_data. */
    minSamples: { type: 'integer', minimum: 1, default: 1 },
    /** The levels the indicator is computed at. */
    levels: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: HIERARCHY_LEVELS } },
    /** above: higher values are worse (PM2.5); below: lower values are worse (water pressure). */
    direction: { type: 'string', enum: ['above', 'below'] },
    /** Warning and critical thresholds: `default` for every level, or per level. */
    thresholds: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        default: thresholdSchema,
        city: thresholdSchema,
        district: thresholdSchema,
        subdistrict: thresholdSchema,
        grid: thresholdSchema,
        building: thresholdSchema,
      },
    },
  },
} as const;

/** The definitions file (`analytics/indicators/city-indicators.json`). */
export const indicatorFileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['indicators'],
  properties: {
    $schema: { type: 'string' },
    indicators: { type: 'array', minItems: 1, items: indicatorDefinitionSchema },
  },
} as const;

export type IndicatorDefinition = FromSchema<typeof indicatorDefinitionSchema>;
export type IndicatorFile = FromSchema<typeof indicatorFileSchema>;
export type IndicatorThresholds = FromSchema<typeof thresholdSchema>;
export type IndicatorState = (typeof INDICATOR_STATES)[number];
export type IndicatorAggregation = IndicatorDefinition['aggregation'];
