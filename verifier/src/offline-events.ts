import type { FromSchema } from 'json-schema-to-ts';
import { CODE_KINDS, compileSchemaCheck } from '@cityops/protocol';
import type { AuditEvent } from './audit-writer.ts';
import { pseudonym } from './identifier-hashes.ts';
import { REASON_CODES } from './reasons.ts';
import { VENUE_ID_PATTERN } from './venue-policies.ts';

/**
 * Verdicts a scanner gave while it could not reach the verifier, uploaded on
 * `cityops/v1/verify-events/{scanner}` when it is back:
 *
 *   { "id": "upload-7", "events": [{ "at": 1795690000000, "venue": "mall-3", "kind": "health-code",
 *       "verdict": "allow", "reason": "OK", "issuer": "city-health", "subjectHash": "<sha256 hex>" }] }
 *
 * The scanner never uploads the QR text or the subject: only the subject's SHA-256 (what revocation
 * lists hold anyway), from which the verifier derives the same keyed pseudonym as for its own
 * verdicts. With an `id`, the verifier answers on verify-res `{"id", "accepted", "refused"}`.
 */
export const MAX_OFFLINE_EVENTS = 1000;

export const offlineUploadSchema = {
  type: 'object',
  required: ['events'],
  properties: {
    id: { anyOf: [{ type: 'string', minLength: 1, maxLength: 128 }, { type: 'integer' }] },
    events: { type: 'array', maxItems: MAX_OFFLINE_EVENTS, items: { type: 'object' } },
  },
} as const;

export const offlineEventSchema = {
  type: 'object',
  required: ['at', 'verdict', 'reason'],
  properties: {
    at: { type: 'integer', minimum: 0 },
    venue: { type: 'string', pattern: VENUE_ID_PATTERN.source },
    kind: { anyOf: [{ enum: CODE_KINDS }, { type: 'null' }] },
    verdict: { enum: ['allow', 'deny'] },
    reason: { enum: REASON_CODES },
    issuer: { type: 'string', maxLength: 200 },
    subjectHash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
  },
} as const;

type OfflineEvent = FromSchema<typeof offlineEventSchema>;

export interface OfflineUpload {
  readonly id?: string | number;
  readonly audit: AuditEvent[];
  readonly refused: number;
}

export function createOfflineUploadReader(pseudonymKey: string | undefined): (scanner: string, body: unknown) => OfflineUpload | string {
  const checkUpload = compileSchemaCheck(offlineUploadSchema);
  const checkEvent = compileSchemaCheck(offlineEventSchema);
  return (scanner, body) => {
    const problems = checkUpload(body);
    if (problems.length > 0) return problems.join('; ');
    const upload = body as FromSchema<typeof offlineUploadSchema>;
    const audit: AuditEvent[] = [];
    let refused = 0;
    for (const raw of upload.events) {
      if (checkEvent(raw).length > 0) {
        refused++;
        continue;
      }
      const e = raw as OfflineEvent;
      audit.push({
        at: e.at,
        venue: e.venue ?? '',
        kind: e.kind ?? '',
        verdict: e.verdict,
        reason: e.reason,
        issuer: e.issuer ?? '',
        pseudonym: pseudonymKey === undefined || e.subjectHash === undefined ? '' : pseudonym(pseudonymKey, e.subjectHash),
        scanner,
        transport: 'offline',
        offline: true,
        stale: false,
      });
    }
    return { ...(upload.id === undefined ? {} : { id: upload.id }), audit, refused };
  };
}
