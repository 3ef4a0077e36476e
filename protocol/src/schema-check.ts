import { Ajv } from 'ajv';

/** A compiled JSON Schema that returns every problem at once (an empty list when valid). */
export type SchemaCheck = (value: unknown) => string[];

export interface SchemaCheckOptions {
  /** Fill in `default` values from the schema (mutates the value checked). */
  readonly useDefaults?: boolean;
}

export function compileSchemaCheck(schema: object, options: SchemaCheckOptions = {}): SchemaCheck {
  const ajv = new Ajv({ allErrors: true, useDefaults: options.useDefaults ?? false, strict: false });
  const validate = ajv.compile(schema);
  return (value) => {
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => {
      const where = e.instancePath === '' ? '/' : e.instancePath;
      const extra =
        e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : '';
      return `${where} ${e.message ?? 'is invalid'}${extra}`;
    });
  };
}
