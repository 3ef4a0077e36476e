import type { Warehouse } from '@cityops/warehouse';
import { analyticsErrors } from '../errors.ts';

/** How the department indicators group: the department on the event, or the district of the alert's place. */
export const INDICATOR_GROUPINGS = ['department', 'district'] as const;
export type IndicatorGrouping = (typeof INDICATOR_GROUPINGS)[number];

/** A rating's comment, for operators only: never who rated (the channel is a channel, not a person). */
export interface RatingComment {
  readonly alertId: string;
  readonly at: number;
  readonly rating: string;
  readonly stage: string;
  readonly channel: string;
  readonly comment: string;
}

export interface DepartmentIndicators {
  readonly group: string;
  readonly ratings: number;
  readonly good: number;
  readonly bad: number;
  /** good / ratings; null without ratings. */
  readonly goodShare: number | null;
  readonly accepted: number;
  /** Mean seconds from a department getting the case (dispatched, escalated) to accepting it. */
  readonly acceptSecondsAvg: number | null;
  readonly resolved: number;
  /** Mean seconds from a department getting the case to resolving it. */
  readonly resolveSecondsAvg: number | null;
  readonly reopened: number;
  /** reopened / resolved in the window; null without resolutions. */
  readonly reopenRate: number | null;
  readonly flagged: number;
  readonly comments?: RatingComment[];
}

interface EventRow {
  alert_id: string;
  at_ms: number | string;
  type: string;
  actor: string;
  department: string;
  place: string;
  feedback: string;
  rating: string;
  rating_stage: string;
}

export interface IndicatorQuery {
  readonly from: number;
  readonly to: number;
  readonly by: IndicatorGrouping;
  readonly withComments: boolean;
}

export interface DepartmentIndicatorLimits {
  /** Events read for one answer; a wider window is refused (narrow it). */
  readonly maxEvents: number;
  /** Newest comments per group. */
  readonly maxComments: number;
}

const TYPES = "('dispatched', 'escalated', 'accepted', 'resolved', 'reopened', 'rated', 'flagged')";

interface Acc {
  ratings: number;
  good: number;
  accepted: number;
  acceptMs: number;
  resolved: number;
  resolveMs: number;
  reopened: number;
  flagged: number;
  comments: RatingComment[];
}

function groupOf(row: EventRow, by: IndicatorGrouping): string {
  if (by === 'department') return row.department === '' ? 'unassigned' : row.department;
  const district = row.place.split('/')[0] ?? '';
  return district === '' ? 'city' : district;
}

const mean = (sum: number, n: number): number | null => (n === 0 ? null : Math.round(sum / n) / 1000);
const share = (part: number, whole: number): number | null => (whole === 0 ? null : part / whole);

/**
 * Department indicators (issue 23, article 12: results used to assess departments), computed from
 * `alert_events` alone over [from, to): each counted event is attributed to the department it was
 * with (or its alert's district). A time to accept or resolve runs from the department's last
 * assignment of the case (dispatched or escalated), which may lie before the window.
 */
export async function departmentIndicators(warehouse: Warehouse, q: IndicatorQuery, limits: DepartmentIndicatorLimits): Promise<DepartmentIndicators[]> {
  // Every event up to `to` of the alerts with an event in the window: assignments before it included.
  // (`at_ms`, not `at`: ClickHouse lets a SELECT alias shadow the column in WHERE.)
  const rows = await warehouse.query<EventRow>(
    `SELECT alert_id, toUnixTimestamp64Milli(at) AS at_ms, type, actor, department, place, feedback, rating, rating_stage
     FROM alert_events
     WHERE type IN ${TYPES} AND at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
       AND alert_id IN (SELECT alert_id FROM alert_events WHERE at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')
                        AND at < fromUnixTimestamp64Milli({to:Int64}, 'UTC'))
     ORDER BY alert_id, seq
     LIMIT 1 BY alert_id, seq
     LIMIT {limit:UInt64}`,
    { from: q.from, to: q.to, limit: limits.maxEvents + 1 },
  );
  if (rows.length > limits.maxEvents) throw analyticsErrors.ANALYTICS_ERR_QUERY_INVALID(`more than ${limits.maxEvents} alert events in the window: narrow it`);
  const groups = new Map<string, Acc>();
  let alert = '';
  let assignedAt: number | undefined;
  for (const row of rows) {
    const at = Number(row.at_ms);
    if (row.alert_id !== alert) {
      alert = row.alert_id;
      assignedAt = undefined;
    }
    if (row.type === 'dispatched' || row.type === 'escalated') {
      assignedAt = at;
      continue;
    }
    if (at < q.from) continue;
    const key = groupOf(row, q.by);
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { ratings: 0, good: 0, accepted: 0, acceptMs: 0, resolved: 0, resolveMs: 0, reopened: 0, flagged: 0, comments: [] }));
    switch (row.type) {
      case 'accepted':
        g.accepted++;
        g.acceptMs += at - (assignedAt ?? at);
        break;
      case 'resolved':
        g.resolved++;
        g.resolveMs += at - (assignedAt ?? at);
        break;
      case 'reopened':
        g.reopened++;
        break;
      case 'flagged':
        g.flagged++;
        break;
      case 'rated':
        g.ratings++;
        if (row.rating === 'good') g.good++;
        if (q.withComments && row.feedback !== '') {
          g.comments.push({ alertId: row.alert_id, at, rating: row.rating, stage: row.rating_stage, channel: row.actor.replace(/^rater:/, ''), comment: row.feedback });
        }
        break;
      default:
        break;
    }
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([group, g]) => ({
      group,
      ratings: g.ratings,
      good: g.good,
      bad: g.ratings - g.good,
      goodShare: share(g.good, g.ratings),
      accepted: g.accepted,
      acceptSecondsAvg: mean(g.acceptMs, g.accepted),
      resolved: g.resolved,
      resolveSecondsAvg: mean(g.resolveMs, g.resolved),
      reopened: g.reopened,
      reopenRate: share(g.reopened, g.resolved),
      flagged: g.flagged,
      ...(q.withComments ? { comments: g.comments.sort((a, b) => b.at - a.at).slice(0, limits.maxComments) } : {}),
    }));
}
