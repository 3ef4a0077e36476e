import { createHash } from 'node:crypto';
import type { FromSchema } from 'json-schema-to-ts';
import { CODE_KINDS, compileSchemaCheck } from '@cityops/protocol';
import type { AuditEvent } from './audit-writer.ts';
import { pseudonym } from './identifier-hashes.ts';
import { REASON_CODES } from './reasons.ts';
import type { Requester } from './requester.ts';
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
 * verdicts. With an `id`, the verifier answers on verify-res `{"id", "accepted", "refused", "duplicates"}`
 * once the events are stored (`{"id", "accepted": 0, "refused": 0, "deferred": true}` when the
 * warehouse did not take them: send them again later).
 *
 * Each event carries the `id` the scanner gave it with the verdict (its boot id and a sequence,
 * kept in its spool), so that a resend is recognised: an event already stored is counted in
 * `duplicates` and not written again. An event without an id gets one made from its content
 * (`h-` and a SHA-256 of scanner, time and fields): two verdicts alike to the millisecond are one.
 */
export const MAX_OFFLINE_EVENTS = 1000;

/** Letters, digits and `.`, `_`, `:`, `-`; at most 64. */
export const OFFLINE_EVENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

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
    /** The scanner's name for this verdict, unique per scanner, the same in every resend. */
    id: { type: 'string', pattern: OFFLINE_EVENT_ID_PATTERN.source },
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
  /** Events not stored: not the schema, or naming another venue than the scanner's. */
  readonly refused: number;
  /** Of `refused`, those naming another venue (VERIFIER_ERR_VENUE_MISMATCH). */
  readonly otherVenue: number;
}

/** The id of an event uploaded without one (scanners before event ids): a digest of what it says. */
export function contentEventId(scanner: string, e: OfflineEvent): string {
  const fields = [scanner, e.at, e.venue ?? '', e.kind ?? '', e.verdict, e.reason, e.issuer ?? '', e.subjectHash ?? ''];
  return `h-${createHash('sha256').update(fields.join('\u0000')).digest('hex').slice(0, 40)}`;
}

/**
 * Reads one upload of the scanner of topic `scanner`, as `requester` (requester.ts): its events are
 * recorded at the registered venue, under the registered scanner. An event may name that venue or
 * none; one naming another is refused (issue 16: never re-attributed). Open mode's anonymous
 * requester: any venue named, recorded for no venue and no scanner.
 */
export function createOfflineUploadReader(pseudonymKey: string | undefined): (scanner: string, requester: Requester, body: unknown) => OfflineUpload | string {
  const checkUpload = compileSchemaCheck(offlineUploadSchema);
  const checkEvent = compileSchemaCheck(offlineEventSchema);
  return (scanner, requester, body) => {
    const problems = checkUpload(body);
    if (problems.length > 0) return problems.join('; ');
    const upload = body as FromSchema<typeof offlineUploadSchema>;
    const audit: AuditEvent[] = [];
    let refused = 0;
    let otherVenue = 0;
    for (const raw of upload.events) {
      if (checkEvent(raw).length > 0) {
        refused++;
        continue;
      }
      const e = raw as OfflineEvent;
      if (requester.venue !== undefined && e.venue !== undefined && e.venue !== requester.venue) {
        refused++;
        otherVenue++;
        continue;
      }
      audit.push({
        at: e.at,
        venue: requester.venue ?? '',
        kind: e.kind ?? '',
        verdict: e.verdict,
        reason: e.reason,
        issuer: e.issuer ?? '',
        pseudonym: pseudonymKey === undefined || e.subjectHash === undefined ? '' : pseudonym(pseudonymKey, e.subjectHash),
        scanner: requester.scanner ?? '',
        transport: 'offline',
        offline: true,
        stale: false,
        eventId: e.id ?? contentEventId(scanner, e),
      });
    }
    return { ...(upload.id === undefined ? {} : { id: upload.id }), audit, refused, otherVenue };
  };
}
