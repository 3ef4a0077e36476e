import type { FromSchema } from 'json-schema-to-ts';
import { compileSchemaCheck, HEALTH_COLOURS } from '@cityops/protocol';
import { verifierErrors } from './errors.ts';
import type { Colour } from './verdict.ts';

/**
 * The status feed: a subject's colour may get worse after a code was issued (a contact traced, a
 * positive test). Format:
 *
 *   { "entries": [{ "subject": "<sha256 hex of the subject>", "colour": "yellow", "since": "2026-11-26T08:00:00Z" }] }
 *
 * An entry downgrades health codes issued before `since` to its colour, when that colour is worse;
 * a code issued at or after `since` was issued knowing it. One entry per subject: the latest
 * `since` wins. `since` is ISO-8601 or ms since the epoch.
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
          since: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', minLength: 10, maxLength: 40 }] },
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

export interface StatusSnapshot {
  readonly version: number;
  readonly size: number;
  statusOf(subjectHash: string): SubjectStatus | undefined;
}

const RANK: Readonly<Record<Colour, number>> = { green: 0, yellow: 1, red: 2 };

/** The colour that counts for a code of `colour` issued at `issuedAt`, given the subject's status. */
export function effectiveColour(colour: Colour, issuedAt: number, status: SubjectStatus | undefined): Colour {
  if (status === undefined || issuedAt >= status.since) return colour;
  return RANK[status.colour] > RANK[colour] ? status.colour : colour;
}

const checkStatusFeed = compileSchemaCheck(statusFeedSchema);

export function buildStatusSnapshot(entries: readonly { subject: string; colour: Colour; since: number }[], version: number): StatusSnapshot {
  const map = new Map<string, SubjectStatus>();
  for (const e of entries) {
    const previous = map.get(e.subject);
    if (previous === undefined || e.since >= previous.since) map.set(e.subject, Object.freeze({ colour: e.colour, since: e.since }));
  }
  return Object.freeze({ version, size: map.size, statusOf: (hash: string) => map.get(hash) });
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
  const raw = (value as FromSchema<typeof statusFeedSchema>).entries;
  const entries = raw.map((e, i) => {
    const since = typeof e.since === 'number' ? e.since : Date.parse(e.since);
    if (!Number.isFinite(since)) throw verifierErrors.VERIFIER_ERR_STATUS_FEED(`/entries/${i}/since is not a time`);
    return { subject: e.subject, colour: e.colour, since };
  });
  return buildStatusSnapshot(entries, version);
}
