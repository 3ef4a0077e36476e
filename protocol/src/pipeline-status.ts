import type { FromSchema } from 'json-schema-to-ts';
import { compileSchemaCheck } from './schema-check.ts';

/**
 * What an ingest instance publishes, retained, every second on `cityops/v1/pipeline/{instance}`:
 * how far the warehouse is behind what it acknowledged. `oldestPendingMs` is the age of the oldest
 * reading accepted (durable in the write-ahead log) but not yet in the warehouse, 0 when none is
 * pending. On a clean stop the instance publishes `online: false` last (a last-will-like message);
 * after a crash the retained message simply goes stale, which readers treat as offline.
 */
export const pipelineStatusSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['instance', 'at', 'backlogRows', 'oldestPendingMs', 'online'],
  properties: {
    instance: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
    /** When the numbers were taken, ms since the epoch (the instance's clock). */
    at: { type: 'integer', minimum: 0 },
    /** Rows accepted and not yet written: admitted, buffered, or in the insert in flight. */
    backlogRows: { type: 'integer', minimum: 0 },
    oldestPendingMs: { type: 'integer', minimum: 0 },
    /** Bytes of write-ahead log on disk. */
    walBytes: { type: 'integer', minimum: 0 },
    online: { type: 'boolean' },
    /** Why the instance went offline (`stopped`). */
    reason: { type: 'string', maxLength: 200 },
  },
} as const;

export type PipelineStatus = FromSchema<typeof pipelineStatusSchema>;

/** Reads a pipeline status message: the status, or the problems that make it unreadable. */
export function createPipelineStatusParser(): (payload: Buffer) => { status?: PipelineStatus; problems: string[] } {
  const check = compileSchemaCheck(pipelineStatusSchema);
  return (payload) => {
    let value: unknown;
    try {
      value = JSON.parse(payload.toString('utf8'));
    } catch {
      return { problems: ['not JSON'] };
    }
    const problems = check(value);
    return problems.length > 0 ? { problems } : { status: value as PipelineStatus, problems };
  };
}
