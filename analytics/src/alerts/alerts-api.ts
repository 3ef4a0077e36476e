import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HIERARCHY_LEVELS, isCityopsError } from '@cityops/protocol';
import { alertDepartments, type AnalyticsAccess } from '../api-access.ts';
import { analyticsErrors } from '../errors.ts';
import { ALERT_EVENT_TYPES, ALERT_STATES, RATING_STAGES, RATINGS, type AlertState, type Rating } from './alert-event.ts';
import type { AlertActor, AlertLifecycle } from './alert-lifecycle.ts';
import { ALERT_KINDS, ALERT_SEVERITIES } from './alert-signal.ts';

export interface AlertOperator {
  readonly token: string;
  readonly name: string;
  readonly departments: readonly string[];
}

export interface AlertsApiOptions {
  readonly lifecycle: AlertLifecycle;
  /** None: development, a POST names its actor in `by`. Ignored when `access` is configured. */
  readonly operators: readonly AlertOperator[];
  /**
   * Role tokens (`auth.tokens`). Configured: reading alerts needs a token too; a department sees and
   * acts on the alerts currently with its departments only, and others' are 404 (not 403: an alert's
   * existence is not disclosed).
   */
  readonly access?: AnalyticsAccess;
}

const ID_PARAMS = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' } },
} as const;

const LIST_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    state: { type: 'string', enum: ALERT_STATES },
    level: { type: 'string', enum: HIERARCHY_LEVELS },
    place: { type: 'string', maxLength: 200 },
    department: { type: 'string', maxLength: 64 },
    rule: { type: 'string', maxLength: 100 },
    kind: { type: 'string', enum: ALERT_KINDS },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  },
} as const;

const BY = { type: 'string', minLength: 1, maxLength: 100 } as const;
const TEXT = { type: 'string', minLength: 1, maxLength: 4000 } as const;

const ACCEPT_BODY = { type: 'object', additionalProperties: false, properties: { by: BY } } as const;
const RESOLVE_BODY = { type: 'object', additionalProperties: false, required: ['feedback'], properties: { feedback: TEXT, by: BY } } as const;
const RATE_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['rating'],
  // The comment's bound in characters is the lifecycle's (ratings.maxCommentChars); this one only caps the bytes parsed.
  // `by` (development, no operators) names who acts, as for the other actions; a rating never stores it.
  properties: { rating: { type: 'string', enum: RATINGS }, comment: { type: 'string', maxLength: 4000 }, by: BY },
} as const;
const REOPEN_BODY = { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: TEXT, by: BY } } as const;

const VERIFICATION = { type: 'object', additionalProperties: true } as const;

/** The alert's description and where it stands (shared by a summary, an event and a view). */
const ALERT_FIELDS = {
  key: { type: 'string' },
  rule: { type: 'string' },
  kind: { type: 'string', enum: ALERT_KINDS },
  severity: { type: 'string', enum: ALERT_SEVERITIES },
  place: { type: 'string' },
  level: { type: 'string', enum: HIERARCHY_LEVELS },
  metric: { type: 'string' },
  subject: { type: 'string' },
  summary: { type: 'string' },
  value: { type: 'number' },
  threshold: { type: 'number' },
  verification: VERIFICATION,
  state: { type: 'string', enum: ALERT_STATES },
  department: { type: 'string' },
  parentKey: { type: 'string' },
} as const;

const ALERT_SUMMARY = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    ...ALERT_FIELDS,
    openedAt: { type: 'number' },
    updatedAt: { type: 'number' },
    seq: { type: 'integer' },
    conditionActive: { type: 'boolean' },
    everDispatched: { type: 'boolean' },
    assignedAt: { type: 'number' },
    resolvedAt: { type: 'number' },
    feedback: { type: 'string' },
    flaggedFor: { type: 'string' },
  },
} as const;

const ALERT_EVENT = {
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    at: { type: 'number' },
    type: { type: 'string', enum: ALERT_EVENT_TYPES },
    actor: { type: 'string' },
    ...ALERT_FIELDS,
    feedback: { type: 'string' },
    rating: { type: 'string', enum: RATINGS },
    ratingStage: { type: 'string', enum: RATING_STAGES },
    flaggedFor: { type: 'string' },
  },
} as const;

const ALERT_VIEW = {
  type: 'object',
  properties: { ...ALERT_SUMMARY.properties, events: { type: 'array', items: ALERT_EVENT } },
} as const;

const ERROR = { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } as const;
const ERRORS = { 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR, 503: ERROR } as const;

interface ListQuery {
  state?: AlertState;
  level?: string;
  place?: string;
  department?: string;
  rule?: string;
  kind?: string;
  limit: number;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * The alerts API (a fastify plugin; buildAnalyticsApi registers it when given a lifecycle):
 * listing and timelines, and the department's accept / resolve / reopen.
 */
export function alertsApi(app: FastifyInstance, options: AlertsApiOptions, done: (err?: Error) => void): void {
  const { lifecycle } = options;
  // Tokens compared as digests in constant time: neither their content nor their length leaks.
  const operators = options.operators.map((o) => ({ ...o, digest: digest(o.token) }));

  app.setErrorHandler((err: Error & { validation?: unknown }, _request, reply) => {
    if (err.validation !== undefined) {
      return reply.status(400).send({ code: 'ANALYTICS_ERR_ALERT_REQUEST_INVALID', message: err.message });
    }
    if (isCityopsError(err) && err.statusCode < 500) return reply.status(err.statusCode).send({ code: err.code, message: err.message });
    throw err; // the service's handler logs it and answers 500/503
  });

  const access = options.access?.configured === true ? options.access : undefined;

  /** Departments the request may see (undefined: all); throws 401/403 for a token that may not read alerts. */
  function scopeOf(request: FastifyRequest): readonly string[] | undefined {
    return access === undefined ? undefined : alertDepartments(access.require(request, 'alerts'));
  }

  // Authentication before validation: a caller without a token learns nothing about parameters.
  if (access !== undefined) {
    app.addHook('onRequest', (request, _reply, next) => {
      try {
        access.require(request, 'alerts');
        next();
      } catch (err) {
        next(err as Error);
      }
    });
  }

  function visible(department: string, scope: readonly string[] | undefined): boolean {
    return scope === undefined || scope.includes(department);
  }

  function actorOf(request: FastifyRequest): AlertActor {
    if (access !== undefined) {
      const principal = access.require(request, 'alerts')!;
      return { name: principal.name, departments: alertDepartments(principal) };
    }
    const by = (request.body as { by?: string } | undefined)?.by;
    if (operators.length === 0) {
      if (by === undefined) throw analyticsErrors.ANALYTICS_ERR_ALERT_REQUEST_INVALID('body/by must name who acts (no operators are configured)');
      return { name: by };
    }
    const header = request.headers.authorization ?? '';
    const match = /^Bearer ([^\s]+)$/.exec(header);
    if (match === null) throw analyticsErrors.ANALYTICS_ERR_UNAUTHENTICATED();
    const given = digest(match[1]!);
    const operator = operators.find((o) => timingSafeEqual(o.digest, given));
    if (operator === undefined) throw analyticsErrors.ANALYTICS_ERR_UNAUTHENTICATED('the token is not an operator\'s');
    return { name: operator.name, departments: operator.departments };
  }

  app.get('/v1/alerts', { schema: { querystring: LIST_QUERY, response: { 200: { type: 'object', properties: { alerts: { type: 'array', items: ALERT_SUMMARY } } }, ...ERRORS } } }, (request) => {
    const q = request.query as ListQuery;
    const scope = scopeOf(request);
    if (scope === undefined) return { alerts: lifecycle.list(q) };
    // A department's view: the alerts with each of its departments, merged newest first.
    const departments = q.department === undefined ? scope : scope.filter((d) => d === q.department);
    // With the alerts a bad rating flagged for one of them (their supervising office's review), once each.
    const byId = new Map(departments.flatMap((d) => [...lifecycle.list({ ...q, department: d }), ...lifecycle.list({ ...q, department: undefined, flaggedFor: d })]).map((a) => [a.id, a]));
    const alerts = [...byId.values()]
      .sort((a, b) => b.openedAt - a.openedAt || (a.id < b.id ? -1 : 1))
      .slice(0, q.limit);
    return { alerts };
  });

  app.get('/v1/alerts/:id', { schema: { params: ID_PARAMS, response: { 200: ALERT_VIEW, ...ERRORS } } }, async (request) => {
    const { id } = request.params as { id: string };
    const scope = scopeOf(request);
    const view = await lifecycle.get(id);
    if (view === undefined || !(visible(view.department, scope) || (view.flaggedFor !== undefined && visible(view.flaggedFor, scope)))) {
      throw analyticsErrors.ANALYTICS_ERR_ALERT_UNKNOWN(id);
    }
    return view;
  });

  const post = (path: string, body: object, act: (id: string, request: FastifyRequest, actor: AlertActor) => Promise<unknown>) =>
    app.post(path, {
      schema: { params: ID_PARAMS, body, response: { 200: ALERT_VIEW, ...ERRORS } },
      // An operator's accept may come without a body; the schema then sees `{}`.
      preValidation: (request, _reply, next) => {
        request.body ??= {};
        next();
      },
    }, async (request: FastifyRequest, reply: FastifyReply) => {
      const actor = actorOf(request);
      const { id } = request.params as { id: string };
      if (access !== undefined && actor.departments !== undefined) {
        // Another department's alert is "unknown" to this one; the lifecycle re-checks under the key's lock.
        const view = await lifecycle.get(id);
        if (view === undefined || !visible(view.department, actor.departments)) throw analyticsErrors.ANALYTICS_ERR_ALERT_UNKNOWN(id);
      }
      return reply.send(await act(id, request, actor));
    });

  post('/v1/alerts/:id/accept', ACCEPT_BODY, (id, _request, actor) => lifecycle.accept(id, actor));
  post('/v1/alerts/:id/resolve', RESOLVE_BODY, (id, request, actor) => lifecycle.resolve(id, (request.body as { feedback: string }).feedback, actor));
  // The duty office's rating from the screen (issue 23): an operator (or admin), never a department
  // rating its own handling; the rater's name is not stored (actor `rater:screen`).
  post('/v1/alerts/:id/rate', RATE_BODY, (id, request, actor) => {
    if (access !== undefined) {
      const role = access.require(request, 'alerts')?.role;
      if (role !== 'operator' && role !== 'admin') throw analyticsErrors.ANALYTICS_ERR_ROLE_FORBIDDEN(`role ${role} may not rate alerts: the duty office rates`);
    } else if (operators.length > 0 && !(actor.departments ?? []).includes('*')) {
      throw analyticsErrors.ANALYTICS_ERR_FORBIDDEN('only a duty-office operator (departments ["*"]) rates alerts');
    }
    const { rating, comment } = request.body as { rating: Rating; comment?: string };
    return lifecycle.rate(id, { rating, comment: comment ?? '', channel: 'screen' }, { name: 'rater:screen' });
  });
  post('/v1/alerts/:id/reopen', REOPEN_BODY, (id, request, actor) => lifecycle.reopen(id, (request.body as { reason: string }).reason, actor));
  done();
}
