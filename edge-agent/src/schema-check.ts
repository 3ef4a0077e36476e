import Ajv from 'ajv';

/**
 * Compiles a JSON Schema into a check that returns every problem at once (empty when valid).
 *
 * Why this file exists: `ajv` as resolved from edge-agent/ is the hoisted 6.x (eslint's), since
 * edge-agent/package.json does not declare ajv 8 like protocol/ does. Ajv 6 handles our draft-07
 * schemas; this is the only file that knows which major is loaded.
 */
export type SchemaCheck = (value: unknown) => string[];

export interface SchemaCheckOptions {
  /** Fill in `default` values from the schema (mutates the value checked). */
  readonly useDefaults?: boolean;
}

export function compileSchemaCheck(schema: object, options: SchemaCheckOptions = {}): SchemaCheck {
  const ajv = new Ajv({ allErrors: true, useDefaults: options.useDefaults ?? false, jsonPointers: true });
  const validate = ajv.compile(schema);
  return (value) => {
    if (validate(value) === true) return [];
    return (validate.errors ?? []).map((e) => {
      const where = e.dataPath === '' ? '/' : e.dataPath;
      const extra =
        e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : '';
      return `${where} ${e.message ?? 'is invalid'}${extra}`;
    });
  };
}
