import type { FromSchema } from 'json-schema-to-ts';
import { compileSchemaCheck } from './schema-check.ts';

/**
 * What ingest publishes on `cityops/v1/errors/{device}` about something the device sent and ingest
 * could not take (MQTT 3.1.1 has no negative PUBACK to say it): the error code, a message, the topic,
 * and the batch's key when the payload could be read that far.
 */
export const deviceErrorReportSchema = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', minLength: 1, maxLength: 200 },
    message: { type: 'string', maxLength: 4000 },
    topic: { type: 'string', maxLength: 1000 },
    boot: { type: 'integer', minimum: 0 },
    seq: { type: 'integer', minimum: 0 },
  },
} as const;

export type DeviceErrorReport = FromSchema<typeof deviceErrorReportSchema>;

/** Reads a report; never throws: a report that cannot be read is still an error worth counting. */
export function createDeviceErrorReportParser(): (payload: Buffer) => DeviceErrorReport {
  const check = compileSchemaCheck(deviceErrorReportSchema);
  return (payload) => {
    let value: unknown;
    try {
      value = JSON.parse(payload.toString('utf8'));
    } catch {
      return { code: 'UNREADABLE', message: `error report is not JSON: ${payload.subarray(0, 200).toString('utf8')}` };
    }
    const problems = check(value);
    if (problems.length > 0) return { code: 'UNREADABLE', message: `error report malformed: ${problems.join('; ')}` };
    return value as DeviceErrorReport;
  };
}
