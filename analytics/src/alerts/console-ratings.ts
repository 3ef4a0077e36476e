import { compileSchemaCheck, isCityopsError, parseTopic } from '@cityops/protocol';
import type { Warehouse } from '@cityops/warehouse';
import type { Logger } from 'pino';
import { analyticsErrors } from '../errors.ts';
import { RATINGS, type Rating } from './alert-event.ts';
import type { AlertLifecycle } from './alert-lifecycle.ts';
import type { AlertMetrics } from './alert-metrics.ts';

/** `cityops/v1/alert-ratings/{console}`: what a department's console publishes to rate a handled alert. */
export const consoleRatingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['alertId', 'rating'],
  properties: {
    alertId: { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' },
    rating: { type: 'string', enum: RATINGS },
    comment: { type: 'string', maxLength: 4000 },
  },
} as const;

/** Bytes of one rating message: a 4000-character comment of 4-byte characters and the rest fit. */
const MAX_PAYLOAD_BYTES = 17_000;

export interface ConsoleRatingsDeps {
  readonly lifecycle: AlertLifecycle;
  readonly warehouse: Warehouse;
  readonly logger: Logger;
  readonly metrics: AlertMetrics;
}

/**
 * Ratings from departments' consoles over MQTT (issue 23). The broker lets a console publish on its
 * own `alert-ratings` topic only (ingest's topic ACL), so the topic names the console; its
 * departments come from the registry, never the payload. A console rates an alert that is with one
 * of its departments or with a department under one of them in the dispatch tree (the supervising
 * side). The rating is stored as `rater:console`: the console's id is not. MQTT 3.1.1 has no reply
 * to a publish: an accepted rating shows as the `rated` event on the alert topic; a refusal is
 * counted by code and logged at debug. Bounded: at most `maxInFlight` checks at once, more dropped.
 */
export function createConsoleRatings(config: { readonly maxInFlight: number }, deps: ConsoleRatingsDeps) {
  const check = compileSchemaCheck(consoleRatingSchema);
  const { lifecycle, metrics } = deps;
  const inFlight = new Set<Promise<void>>();
  let stopped = false;

  async function departmentsOf(consoleId: string): Promise<readonly string[]> {
    const rows = await deps.warehouse.query<{ departments: string[] }>(
      "SELECT departments FROM devices FINAL WHERE id = {id:String} AND kind = 'console' AND NOT revoked",
      { id: consoleId },
    );
    return rows[0]?.departments ?? [];
  }

  /** The alert's department and every department above it. */
  function chainOf(department: string): Set<string> {
    const chain = new Set<string>();
    for (let d: string | undefined = department; d !== undefined && d !== '' && !chain.has(d); d = lifecycle.dispatch.department(d)?.parent) chain.add(d);
    return chain;
  }

  /** The checks before the lifecycle (which counts what it stores or refuses itself). */
  async function admit(topic: string, payload: Buffer): Promise<{ alertId: string; rating: Rating; comment: string }> {
    const consoleId = parseTopic(topic).device;
    if (payload.length > MAX_PAYLOAD_BYTES) throw analyticsErrors.ANALYTICS_ERR_RATING_INVALID(`more than ${MAX_PAYLOAD_BYTES} bytes`);
    let message: unknown;
    try {
      message = JSON.parse(payload.toString('utf8'));
    } catch {
      throw analyticsErrors.ANALYTICS_ERR_RATING_INVALID('not JSON');
    }
    const problems = check(message);
    if (problems.length > 0) throw analyticsErrors.ANALYTICS_ERR_RATING_INVALID(problems.join('; '));
    const { alertId, rating, comment } = message as { alertId: string; rating: Rating; comment?: string };
    const [departments, view] = await Promise.all([departmentsOf(consoleId), lifecycle.get(alertId)]);
    // Another department's alert is as unknown to this console as one that does not exist.
    const chain = view === undefined ? new Set<string>() : chainOf(view.department);
    if (!departments.some((d) => chain.has(d))) throw analyticsErrors.ANALYTICS_ERR_ALERT_UNKNOWN(alertId);
    return { alertId, rating, comment: comment ?? '' };
  }

  return {
    /** The link's message handler for `cityops/v1/alert-ratings/+`. Never throws. */
    onMessage(topic: string, payload: Buffer): void {
      if (stopped) return;
      if (inFlight.size >= config.maxInFlight) {
        metrics.ratingsRefused.inc({ channel: 'console', code: 'ANALYTICS_ERR_BUSY' });
        return;
      }
      const p = admit(topic, payload).then(
        async ({ alertId, rating, comment }) => {
          await lifecycle.rate(alertId, { rating, comment, channel: 'console' }, { name: 'rater:console' }).catch((err: unknown) => {
            if (!isCityopsError(err) || err.statusCode >= 500) deps.logger.error({ err, topic }, 'console rating failed');
          });
        },
        (err: unknown) => {
          const code = isCityopsError(err) ? err.code : 'ANALYTICS_ERR_INTERNAL';
          metrics.ratingsRefused.inc({ channel: 'console', code });
          if (code === 'ANALYTICS_ERR_INTERNAL') deps.logger.error({ err, topic }, 'console rating failed');
          else deps.logger.debug({ code, topic }, 'console rating refused');
        },
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    },
    /** Waits for the ratings being checked (tests). */
    async idle(): Promise<void> {
      await Promise.all(inFlight);
    },
    /** Idempotent: takes no more messages and waits for those being checked. */
    async stop(): Promise<void> {
      stopped = true;
      await Promise.all(inFlight);
    },
  };
}

export type ConsoleRatings = ReturnType<typeof createConsoleRatings>;
