import { Ajv } from 'ajv';
import { describeSchemaErrors } from './telemetry-codec.ts';
import type { ErrorFactory } from './errors.ts';

/**
 * Validates a service's configuration against its JSON Schema once, at start: defaults filled in,
 * every problem reported together in one error with the service's code, then deep-frozen.
 */
export function parseConfig<T>(schema: object, input: unknown, error: ErrorFactory): T {
  const validate = new Ajv({ allErrors: true, useDefaults: true, strict: true }).compile(schema);
  const copy: unknown = structuredClone(input ?? {});
  if (!validate(copy)) throw error(describeSchemaErrors(validate.errors, 50));
  return deepFreeze(copy) as T;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
