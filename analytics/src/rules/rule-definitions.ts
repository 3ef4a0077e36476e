import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileSchemaCheck, deepFreeze, type HierarchyLevel } from '@cityops/protocol';
import { analyticsErrors } from '../errors.ts';
import { thresholdsAt } from '../indicator-definitions.ts';
import type { IndicatorDefinition } from '../indicator-schema.ts';
import { durationSeconds } from '../window-duration.ts';
import { ruleDurationMs } from './rule-duration.ts';
import { RULE_SCHEMAS, ruleFileSchema, type RuleDefinition, type ThresholdRule } from './rule-schema.ts';

/** The city's rule set shipped with analytics. */
export const CITY_RULES_PATH = fileURLToPath(new URL('../../alerts/city-rules.json', import.meta.url));

/** Aggregations the streaming evaluator computes over a sliding window. */
const STREAM_AGGREGATIONS = ['avg', 'min', 'max', 'count', 'rate', 'p95'] as const;
export type StreamAggregation = (typeof STREAM_AGGREGATIONS)[number];

/** A threshold rule with what it takes from its indicator, resolved once at load. */
export interface ResolvedThresholdRule {
  readonly rule: ThresholdRule;
  readonly indicator: IndicatorDefinition;
  readonly metric: string;
  readonly aggregation: StreamAggregation;
  readonly windowMs: number;
  readonly forMs: number;
  readonly direction: 'above' | 'below';
  readonly threshold: number;
  readonly minSamples: number;
  readonly level: HierarchyLevel;
}

export interface RuleSet {
  readonly rules: readonly RuleDefinition[];
  readonly thresholds: readonly ResolvedThresholdRule[];
}

const checkFile = compileSchemaCheck(ruleFileSchema, { useDefaults: true });
const checks = Object.fromEntries(
  Object.entries(RULE_SCHEMAS).map(([kind, schema]) => [kind, compileSchemaCheck(schema, { useDefaults: true })]),
) as Record<keyof typeof RULE_SCHEMAS, ReturnType<typeof compileSchemaCheck>>;

function isKind(kind: unknown): kind is keyof typeof RULE_SCHEMAS {
  return typeof kind === 'string' && Object.hasOwn(RULE_SCHEMAS, kind);
}

function resolveThreshold(rule: ThresholdRule, indicators: ReadonlyMap<string, IndicatorDefinition>, where: string, problems: string[]) {
  const def = indicators.get(rule.indicator);
  if (def === undefined) {
    problems.push(`${where}/indicator ${rule.indicator} is not a known indicator`);
    return undefined;
  }
  if (def.source !== 'readings' || def.metric === undefined) {
    problems.push(`${where}/indicator ${rule.indicator} is not a readings indicator (verification spikes are verification_anomaly rules)`);
    return undefined;
  }
  const aggregation = def.aggregation as StreamAggregation;
  if (!(STREAM_AGGREGATIONS as readonly string[]).includes(aggregation)) {
    problems.push(`${where}/indicator ${rule.indicator} aggregates by ${def.aggregation}; live rules take ${STREAM_AGGREGATIONS.join(', ')}`);
    return undefined;
  }
  const level = rule.level;
  if (!(def.levels as readonly string[]).includes(level)) {
    problems.push(`${where}/level ${level} is not one of ${rule.indicator}'s levels (${def.levels.join(', ')})`);
    return undefined;
  }
  const thresholds = thresholdsAt(def, level);
  if (thresholds === undefined) {
    problems.push(`${where} ${rule.indicator} has no thresholds at ${level}`);
    return undefined;
  }
  return {
    rule,
    indicator: def,
    metric: def.metric,
    aggregation,
    windowMs: durationSeconds(def.window) * 1000,
    forMs: ruleDurationMs(rule.for),
    direction: def.direction,
    threshold: thresholds[rule.severity],
    minSamples: def.minSamples,
    level,
  } satisfies ResolvedThresholdRule;
}

/**
 * Validates a rules document against its schema and the indicators it references; every problem
 * of the file is reported together in one ANALYTICS_ERR_DEFINITIONS_INVALID. Returns the rules
 * with defaults filled in, frozen, and the threshold rules resolved against their indicators.
 */
export function parseRuleDefinitions(input: unknown, indicators: readonly IndicatorDefinition[]): RuleSet {
  const copy: unknown = structuredClone(input ?? {});
  const problems = checkFile(copy).map((p) => `rules file ${p}`);
  const list = (copy as { rules?: unknown }).rules;
  const byName = new Map(indicators.map((d) => [d.name, d]));
  const names = new Map<string, number>();
  const rules: RuleDefinition[] = [];
  const thresholds: ResolvedThresholdRule[] = [];
  if (Array.isArray(list)) {
    list.forEach((item: unknown, i) => {
      const where = `/rules/${i}`;
      const kind = (item as { kind?: unknown } | null)?.kind;
      if (!isKind(kind)) {
        problems.push(`${where}/kind must be one of ${Object.keys(RULE_SCHEMAS).join(', ')}`);
        return;
      }
      const own = checks[kind](item);
      if (own.length > 0) {
        problems.push(...own.map((p) => `${where}${p === '/' ? '' : p.startsWith('/ ') ? p.slice(1) : p}`));
        return;
      }
      const rule = item as RuleDefinition;
      const first = names.get(rule.name);
      if (first !== undefined) problems.push(`${where}/name ${rule.name} is already used by /rules/${first}`);
      else names.set(rule.name, i);
      if (rule.kind === 'threshold') {
        const resolved = resolveThreshold(rule, byName, where, problems);
        if (resolved !== undefined) thresholds.push(resolved);
      }
      if (rule.kind === 'rate_of_change' && ruleDurationMs(rule.over) === 0) problems.push(`${where}/over must be longer than 0`);
      if (rule.kind === 'rate_of_change' && ruleDurationMs(rule.window) === 0) problems.push(`${where}/window must be longer than 0`);
      if (rule.kind === 'verification_anomaly') {
        if (ruleDurationMs(rule.window) === 0 || ruleDurationMs(rule.baseline) === 0) problems.push(`${where} window and baseline must be longer than 0`);
        if (ruleDurationMs(rule.every) < 1000) problems.push(`${where}/every ${rule.every} is under 1s: the warehouse is asked too often`);
        // The query reaches back window + baseline: a longer history could never be seen, the rule would learn for ever.
        if (ruleDurationMs(rule.history) > ruleDurationMs(rule.window) + ruleDurationMs(rule.baseline)) {
          problems.push(`${where}/history ${rule.history} is longer than window + baseline (${rule.window} + ${rule.baseline}): the rule could never finish learning`);
        }
      }
      if (rule.kind === 'scanner_flood' || rule.kind === 'device_refusals') {
        if (ruleDurationMs(rule.window) === 0) problems.push(`${where}/window must be longer than 0`);
        if (ruleDurationMs(rule.every) < 1000) problems.push(`${where}/every ${rule.every} is under 1s: the warehouse is asked too often`);
      }
      if ((rule.kind === 'sensor_silent' || rule.kind === 'grid_quiet') && ruleDurationMs(rule.after) === 0) {
        problems.push(`${where}/after must be longer than 0`);
      }
      if (rule.kind === 'pipeline_backlog' && ruleDurationMs(rule.staleAfter) === 0) problems.push(`${where}/staleAfter must be longer than 0`);
      rules.push(rule);
    });
  }
  for (const single of ['gateway_offline', 'grid_quiet', 'pipeline_backlog'] as const) {
    const count = rules.filter((r) => r.kind === single).length;
    // The parent chain has one link per kind: which of two would a silence hang under?
    if (count > 1) problems.push(`at most one ${single} rule (found ${count}): the suppression chain has one link per kind`);
  }
  if (problems.length > 0) throw analyticsErrors.ANALYTICS_ERR_DEFINITIONS_INVALID(`alert rules: ${problems.join('; ')}`);
  return deepFreeze({ rules, thresholds });
}

/** Reads and validates a rules file; an unreadable file or bad JSON is the same coded error. */
export function loadRuleDefinitions(indicators: readonly IndicatorDefinition[], path: string = CITY_RULES_PATH): RuleSet {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw analyticsErrors.ANALYTICS_ERR_DEFINITIONS_INVALID(`cannot read ${path}: ${(err as Error).message}`, err);
  }
  return parseRuleDefinitions(json, indicators);
}
