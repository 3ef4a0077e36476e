import type { ErrorFactory } from './errors.ts';
import { compileSchemaCheck } from './schema-check.ts';

/**
 * Validates a service's configuration against its JSON Schema once, at start: defaults filled in,
 * every problem reported together in one error with the service's code, then deep-frozen.
 */
export function parseConfig<T>(schema: object, input: unknown, error: ErrorFactory): T {
  const copy: unknown = structuredClone(input ?? {});
  const problems = compileSchemaCheck(schema, { useDefaults: true })(copy);
  if (problems.length > 0) throw error(problems.join('; '));
  return deepFreeze(copy) as T;
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
