import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileSchemaCheck, deepFreeze, type HierarchyLevel } from '@cityops/protocol';
import { analyticsErrors } from './errors.ts';
import {
  indicatorDefinitionSchema,
  indicatorFileSchema,
  READING_AGGREGATIONS,
  VERIFICATION_AGGREGATIONS,
  type IndicatorDefinition,
  type IndicatorFile,
} from './indicator-schema.ts';
import { durationSeconds } from './window-duration.ts';

/** The city's indicator set shipped with analytics. */
export const CITY_INDICATORS_PATH = fileURLToPath(new URL('../indicators/city-indicators.json', import.meta.url));

/** Longest window and look-back: a value is at most a week of minutes. */
const MAX_DURATION_SECONDS = 7 * 86_400;

const checkFile = compileSchemaCheck(indicatorFileSchema, { useDefaults: true });
const checkDefinition = compileSchemaCheck(indicatorDefinitionSchema);

/** What a schema cannot say about one indicator that passed it. */
function semanticProblems(def: IndicatorDefinition, where: string): string[] {
  const problems: string[] = [];
  if (def.source === 'readings') {
    if (def.metric === undefined) problems.push(`${where} a readings indicator needs a metric`);
    if (def.match !== undefined) problems.push(`${where} match applies to verifications only`);
    if (!(READING_AGGREGATIONS as readonly string[]).includes(def.aggregation)) {
      problems.push(`${where} aggregation ${def.aggregation} is not one of ${READING_AGGREGATIONS.join(', ')} for readings`);
    }
  } else {
    if (def.metric !== undefined) problems.push(`${where} metric applies to readings only`);
    if (!(VERIFICATION_AGGREGATIONS as readonly string[]).includes(def.aggregation)) {
      problems.push(`${where} aggregation ${def.aggregation} is not one of ${VERIFICATION_AGGREGATIONS.join(', ')} for verifications`);
    }
    if (def.aggregation === 'share' && def.match === undefined) problems.push(`${where} share needs match: the events it counts`);
  }
  const window = durationSeconds(def.window);
  if (window > MAX_DURATION_SECONDS) problems.push(`${where}/window ${def.window} is longer than 7 days`);
  if (def.aggregation === 'share_of_sensors_reporting') {
    const known = durationSeconds(def.knownWithin);
    if (known < window) problems.push(`${where}/knownWithin ${def.knownWithin} is shorter than the window ${def.window}`);
    if (known > MAX_DURATION_SECONDS) problems.push(`${where}/knownWithin ${def.knownWithin} is longer than 7 days`);
  }
  const levels: readonly string[] = def.levels;
  for (const [key, t] of Object.entries(def.thresholds)) {
    if (key !== 'default' && !levels.includes(key)) problems.push(`${where}/thresholds/${key} is not one of the indicator's levels`);
    if (t === undefined) continue;
    const ordered = def.direction === 'above' ? t.warning < t.critical : t.warning > t.critical;
    if (!ordered) {
      problems.push(
        `${where}/thresholds/${key} warning ${t.warning} must be ${def.direction === 'above' ? 'below' : 'above'} critical ${t.critical} when ${def.direction} is bad`,
      );
    }
  }
  if (def.thresholds.default === undefined) {
    const missing = def.levels.filter((level) => def.thresholds[level] === undefined);
    if (missing.length > 0) problems.push(`${where}/thresholds has no default and nothing for ${missing.join(', ')}`);
  }
  return problems;
}

/**
 * Validates a definitions document: the schema, then what it cannot say, every problem reported
 * together in one ANALYTICS_ERR_DEFINITIONS_INVALID. Returns the indicators with defaults filled
 * in, frozen.
 */
export function parseIndicatorDefinitions(input: unknown): readonly IndicatorDefinition[] {
  const copy: unknown = structuredClone(input ?? {});
  const problems = checkFile(copy);
  const list = (copy as { indicators?: unknown }).indicators;
  const names = new Map<string, number>();
  if (Array.isArray(list)) {
    list.forEach((item: unknown, i) => {
      const where = `/indicators/${i}`;
      // Indicators that fail the schema were reported above; the rest get the semantic checks.
      if (checkDefinition(item).length > 0) return;
      const def = item as IndicatorDefinition;
      const first = names.get(def.name);
      if (first !== undefined) problems.push(`${where}/name ${def.name} is already used by /indicators/${first}`);
      else names.set(def.name, i);
      problems.push(...semanticProblems(def, where));
    });
  }
  if (problems.length > 0) throw analyticsErrors.ANALYTICS_ERR_DEFINITIONS_INVALID(problems.join('; '));
  return deepFreeze((copy as IndicatorFile).indicators);
}

/** Reads and validates a definitions file; an unreadable file or bad JSON is the same coded error. */
export function loadIndicatorDefinitions(path: string = CITY_INDICATORS_PATH): readonly IndicatorDefinition[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw analyticsErrors.ANALYTICS_ERR_DEFINITIONS_INVALID(`cannot read ${path}`, err);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw analyticsErrors.ANALYTICS_ERR_DEFINITIONS_INVALID(`${path} is not JSON: ${(err as Error).message}`, err);
  }
  return parseIndicatorDefinitions(json);
}

/** The thresholds that apply at a level: its own, else the default. */
export function thresholdsAt(def: IndicatorDefinition, level: HierarchyLevel) {
  return def.thresholds[level] ?? def.thresholds.default;
}
