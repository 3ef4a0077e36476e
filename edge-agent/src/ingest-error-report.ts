import type { FromSchema } from 'json-schema-to-ts';
import { compileSchemaCheck } from './schema-check.ts';

/**
 * What ingest publishes on `cityops/v1/errors/{device}` about a batch it could not take.
 * (This contract belongs in protocol/ beside the telemetry schema; it lives here until it moves.)
 */
export const ingestErrorReportSchema = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', minLength: 1, maxLength: 200 },
    message: { type: 'string', maxLength: 4000 },
    boot: { type: 'integer', minimum: 0 },
    seq: { type: 'integer', minimum: 0 },
  },
} as const;

export type IngestErrorReport = FromSchema<typeof ingestErrorReportSchema>;

const check = compileSchemaCheck(ingestErrorReportSchema);

/** Never throws: a report we cannot read is still an error worth counting. */
export function parseIngestErrorReport(payload: Buffer): IngestErrorReport {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return { code: 'UNREADABLE', message: `error report is not JSON: ${payload.subarray(0, 200).toString('utf8')}` };
  }
  const problems = check(value);
  if (problems.length > 0) return { code: 'UNREADABLE', message: `error report malformed: ${problems.join('; ')}` };
  return value as IngestErrorReport;
}
