import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isCityopsError } from '@cityops/protocol';
import type { Warehouse } from '@cityops/warehouse';
import type { AnalyticsAccess } from '../api-access.ts';
import { analyticsErrors } from '../errors.ts';
import { RATING_STAGES, RATINGS, type Rating } from './alert-event.ts';
import type { AlertLifecycle } from './alert-lifecycle.ts';
import type { AlertMetrics } from './alert-metrics.ts';
import { departmentIndicators, INDICATOR_GROUPINGS, type IndicatorGrouping } from './department-indicators.ts';
import { RATING_TOKEN_PATTERN } from './rating-link.ts';

export interface RatingsApiOptions {
  readonly lifecycle: AlertLifecycle;
  readonly warehouse: Warehouse;
  readonly access?: AnalyticsAccess;
  readonly now: () => number;
  /** Counts links refused before the lifecycle (forged, expired); the lifecycle counts the rest. */
  readonly metrics?: AlertMetrics;
  /** @default 7 days */
  readonly defaultWindowMs?: number;
  /** @default 500000 */
  readonly maxEvents?: number;
}

const TOKEN = { type: 'string', maxLength: 200, pattern: RATING_TOKEN_PATTERN } as const;
const LINK_QUERY = { type: 'object', additionalProperties: false, required: ['token'], properties: { token: TOKEN } } as const;
const LINK_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['token', 'rating'],
  properties: { token: TOKEN, rating: { type: 'string', enum: RATINGS }, comment: { type: 'string', maxLength: 4000 } },
} as const;
const LINK_ANSWER = {
  type: 'object',
  properties: {
    alert: { type: 'object', properties: { id: { type: 'string' }, summary: { type: 'string' }, place: { type: 'string' }, state: { type: 'string' } } },
    stage: { type: 'string', enum: RATING_STAGES },
    expiresAt: { type: 'number' },
    rated: { type: 'boolean' },
  },
} as const;

const MS = { type: 'string', pattern: '^\\d{1,15}$' } as const;
const INDICATORS_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: { from: MS, to: MS, by: { type: 'string', enum: INDICATOR_GROUPINGS, default: 'department' } },
} as const;

const ERROR = { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } as const;
const ERRORS = { 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR, 410: ERROR, 503: ERROR } as const;
const DAY_MS = 86_400_000;
const MAX_WINDOW_MS = 366 * DAY_MS;

/**
 * Ratings (issue 23) outside the alert board's token scope, and the department indicators:
 * - `GET|POST /v1/ratings/link`: a reporter's one-time link (rating-link.ts): the token is the
 *   credential, so these routes take no bearer; a reporter sees what is rated, never the timeline.
 * - `GET /v1/department-indicators?from=&to=&by=department|district`: analyst and above; rating
 *   comments only for operators and admins; no rater identity exists to show.
 */
export function ratingsApi(app: FastifyInstance, options: RatingsApiOptions, done: (err?: Error) => void): void {
  const { lifecycle } = options;
  const access = options.access?.configured === true ? options.access : undefined;

  app.setErrorHandler((err: Error & { validation?: unknown }, _request, reply) => {
    if (err.validation !== undefined) return reply.status(400).send({ code: 'ANALYTICS_ERR_RATING_INVALID', message: err.message });
    if (isCityopsError(err) && err.statusCode < 500) return reply.status(err.statusCode).send({ code: err.code, message: err.message });
    throw err;
  });

  async function claimed(token: string, counted: boolean) {
    let claim;
    try {
      claim = lifecycle.ratingLinks.verify(token);
    } catch (err) {
      if (counted) options.metrics?.ratingsRefused.inc({ channel: 'link', code: (err as { code: string }).code });
      throw err;
    }
    const view = await lifecycle.get(claim.alertId);
    // A valid MAC over an id we never stored cannot happen unless the secret leaked; say nothing more.
    if (view === undefined) throw analyticsErrors.ANALYTICS_ERR_ALERT_UNKNOWN(claim.alertId);
    return { claim, view };
  }

  app.get('/v1/ratings/link', { schema: { querystring: LINK_QUERY, response: { 200: LINK_ANSWER, ...ERRORS } } }, async (request) => {
    const { claim, view } = await claimed((request.query as { token: string }).token, false);
    const rated = view.events.some((e) => e.type === 'rated' && e.actor === 'rater:link' && e.ratingStage === claim.stage);
    return { alert: view, stage: claim.stage, expiresAt: claim.expiresAt, rated };
  });

  app.post('/v1/ratings/link', { schema: { body: LINK_BODY, response: { 200: LINK_ANSWER, ...ERRORS } } }, async (request) => {
    const body = request.body as { token: string; rating: Rating; comment?: string };
    const { claim } = await claimed(body.token, true);
    const view = await lifecycle.rate(claim.alertId, { rating: body.rating, comment: body.comment ?? '', channel: 'link', stage: claim.stage }, { name: 'rater:link' });
    return { alert: view, stage: claim.stage, expiresAt: claim.expiresAt, rated: true };
  });

  const indicatorsGuard = (request: FastifyRequest, _reply: unknown, next: (err?: Error) => void) => {
    try {
      access?.require(request, 'aggregates');
      next();
    } catch (err) {
      next(err as Error);
    }
  };

  app.get('/v1/department-indicators', { onRequest: indicatorsGuard, schema: { querystring: INDICATORS_QUERY } }, async (request) => {
    const q = request.query as { from?: string; to?: string; by: IndicatorGrouping };
    const to = q.to === undefined ? options.now() : Number(q.to);
    const from = q.from === undefined ? to - (options.defaultWindowMs ?? 7 * DAY_MS) : Number(q.from);
    if (!(from < to) || to - from > MAX_WINDOW_MS) throw analyticsErrors.ANALYTICS_ERR_QUERY_INVALID('from must be before to, at most 366 days apart');
    const role = access?.require(request, 'aggregates')?.role;
    const withComments = access === undefined || role === 'operator' || role === 'admin';
    const groups = await departmentIndicators(options.warehouse, { from, to, by: q.by, withComments }, { maxEvents: options.maxEvents ?? 500_000, maxComments: 20 });
    return { from, to, by: q.by, groups };
  });
  done();
}
