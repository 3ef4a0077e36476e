import type { FromSchema } from 'json-schema-to-ts';
import { compileSchemaCheck, HEALTH_COLOURS } from '@cityops/protocol';
import { verifierErrors } from './errors.ts';
import type { Colour } from './verdict.ts';

/** ISO-8601 or ms since the epoch. */
const since = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', minLength: 10, maxLength: 40 }] } as const;

/**
 * The status feed: a subject's colour may get worse after a code was issued (a contact traced, a
 * positive test). Format:
 *
 *   { "entries": [{ "subject": "<sha256 hex of the subject>", "colour": "yellow", "since": "2026-11-26T08:00:00Z" }] }
 *
 * An entry downgrades health codes issued before `since` to its colour, when that colour is worse;
 * a code issued at or after `since` was issued knowing it. One entry per subject: the latest
 * `since` wins. `since` is ISO-8601 or ms since the epoch.
 *
 * Licences (issue 23) have their own part, by the SHA-256 of the licence number:
 *
 *   { "entries": [...], "licences": [{ "licence": "<sha256 hex>", "status": "suspended", "since": ... }] }
 *
 * `suspended` holds against codes issued before `since` (a code issued later was issued knowing it,
 * as for health codes); `withdrawn` ends the licence: every code of it is denied, whenever issued.
 */
export const statusFeedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['entries'],
  properties: {
    entries: {
      type: 'array',
      maxItems: 10_000_000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['subject', 'colour', 'since'],
        properties: {
          subject: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          colour: { enum: HEALTH_COLOURS },
          since,
        },
      },
    },
    licences: {
      type: 'array',
      maxItems: 10_000_000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['licence', 'status', 'since'],
        properties: {
          licence: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          status: { enum: ['suspended', 'withdrawn'] },
          since,
        },
      },
    },
  },
} as const;

export interface SubjectStatus {
  readonly colour: Colour;
  /** ms since the epoch. */
  readonly since: number;
}

export interface LicenceStatusEntry {
  readonly status: 'suspended' | 'withdrawn';
  /** ms since the epoch. */
  readonly since: number;
}

export interface StatusSnapshot {
  readonly version: number;
  readonly size: number;
  statusOf(subjectHash: string): SubjectStatus | undefined;
  /** By the SHA-256 (hex) of the licence number: the code's codeIdHash. */
  licenceStatusOf(licenceHash: string): LicenceStatusEntry | undefined;
}

/** The status that counts for a licence issued `issued` at `issuedAt`, given the feed's entry. */
export function effectiveLicenceStatus(issued: 'valid' | 'suspended' | 'withdrawn', issuedAt: number, entry: LicenceStatusEntry | undefined): 'valid' | 'suspended' | 'withdrawn' {
  if (issued === 'withdrawn' || entry?.status === 'withdrawn') return 'withdrawn';
  if (entry !== undefined && issuedAt < entry.since) return 'suspended';
  return issued;
}

const RANK: Readonly<Record<Colour, number>> = { green: 0, yellow: 1, red: 2 };

/** The colour that counts for a code of `colour` issued at `issuedAt`, given the subject's status. */
export function effectiveColour(colour: Colour, issuedAt: number, status: SubjectStatus | undefined): Colour {
  if (status === undefined || issuedAt >= status.since) return colour;
  return RANK[status.colour] > RANK[colour] ? status.colour : colour;
}

const checkStatusFeed = compileSchemaCheck(statusFeedSchema);

export function buildStatusSnapshot(
  entries: readonly { subject: string; colour: Colour; since: number }[],
  version: number,
  licenceEntries: readonly { licence: string; status: LicenceStatusEntry['status']; since: number }[] = [],
): StatusSnapshot {
  const map = new Map<string, SubjectStatus>();
  for (const e of entries) {
    const previous = map.get(e.subject);
    if (previous === undefined || e.since >= previous.since) map.set(e.subject, Object.freeze({ colour: e.colour, since: e.since }));
  }
  const licences = new Map<string, LicenceStatusEntry>();
  for (const e of licenceEntries) {
    const previous = licences.get(e.licence);
    if (previous === undefined || e.since >= previous.since) licences.set(e.licence, Object.freeze({ status: e.status, since: e.since }));
  }
  return Object.freeze({
    version,
    size: map.size + licences.size,
    statusOf: (hash: string) => map.get(hash),
    licenceStatusOf: (hash: string) => licences.get(hash),
  });
}

function timeOf(since: number | string, where: string): number {
  const ms = typeof since === 'number' ? since : Date.parse(since);
  if (!Number.isFinite(ms)) throw verifierErrors.VERIFIER_ERR_STATUS_FEED(`${where}/since is not a time`);
  return ms;
}

export function parseStatusFeed(input: unknown, version: number): StatusSnapshot {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw verifierErrors.VERIFIER_ERR_STATUS_FEED(`not JSON: ${(err as Error).message}`, err);
    }
  }
  const problems = checkStatusFeed(value);
  if (problems.length > 0) throw verifierErrors.VERIFIER_ERR_STATUS_FEED(problems.slice(0, 20).join('; '));
  const feed = value as FromSchema<typeof statusFeedSchema>;
  const entries = feed.entries.map((e, i) => ({ subject: e.subject, colour: e.colour, since: timeOf(e.since, `/entries/${i}`) }));
  const licences = (feed.licences ?? []).map((e, i) => ({ licence: e.licence, status: e.status, since: timeOf(e.since, `/licences/${i}`) }));
  return buildStatusSnapshot(entries, version, licences);
}
