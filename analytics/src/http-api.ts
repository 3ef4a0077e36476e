import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import {
  HIERARCHY_LEVELS,
  httpAppOptions,
  httpLockoutHooks,
  setUpHttpApp,
  type AddressGuard,
  type HierarchyLevel,
  type HttpAppConfig,
} from '@cityops/protocol';
import { httpServerMetricHooks } from '@cityops/protocol/service-metrics';
import type { Logger } from 'pino';
import type { AnalyticsMetrics } from './analytics-metrics.ts';
import { alertsApi, type AlertsApiOptions } from './alerts/alerts-api.ts';
import { ratingsApi, type RatingsApiOptions } from './alerts/ratings-api.ts';
import type { AnalyticsAccess } from './api-access.ts';
import type { Dashboard } from './dashboard/dashboard.ts';
import { analyticsErrors } from './errors.ts';
import { thresholdsAt } from './indicator-definitions.ts';
import type { IndicatorEngine } from './indicator-engine.ts';

export interface AnalyticsApiDeps {
  readonly engine: IndicatorEngine;
  readonly metrics: AnalyticsMetrics;
  readonly logger: Logger;
  /** Readiness of what the API does not own (warehouse reachable, rollup job healthy). */
  readonly ready: () => Promise<boolean>;
  /** The alert lifecycle and its operators: adds /v1/alerts (alerts/alerts-api.ts). */
  readonly alerts?: AlertsApiOptions;
  /** Rating links and department indicators (alerts/ratings-api.ts); `access` and `now` are added here. */
  readonly ratings?: Omit<RatingsApiOptions, 'access' | 'now'>;
  /** The operator's screen: adds `/`, its files and /v1/dashboard/* (dashboard/dashboard.ts). */
  readonly dashboard?: Dashboard;
  /**
   * Role tokens (api-access.ts). Absent or empty: every route open (development). Probes and
   * /metrics stay open either way (counts only, scraped by Prometheus).
   */
  readonly access?: AnalyticsAccess;
  /** Failed-login lockout per address, on every route: each 401 counts, a locked-out address gets 429. */
  readonly guard?: AddressGuard;
  /**
   * The server's configuration (`http.limits`, `limits.exemptAddresses`, `http.limits.maxBodyBytes`:
   * protocol's http-app-setup.ts); absent: defaults. Dashboard streams count toward its connection caps.
   */
  readonly server?: HttpAppConfig;
  readonly now?: () => number;
}

/** Milliseconds since the epoch, or ISO 8601 with a zone. */
const TIME = { type: 'string', pattern: '^(\\d{1,15}|\\d{4}-\\d{2}-\\d{2}T[0-9:.]+(Z|[+-]\\d{2}:\\d{2}))$' } as const;

const indicatorParamsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$' } },
} as const;

const indicatorQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    level: { type: 'string', enum: HIERARCHY_LEVELS },
    place: { type: 'string', maxLength: 200 },
    at: TIME,
    from: TIME,
    to: TIME,
    // The current, incomplete window as `current` (when the request reaches now); `false` leaves it out.
    partial: { type: 'string', enum: ['true', 'false'] },
  },
} as const;

interface IndicatorQuery {
  level?: HierarchyLevel;
  place?: string;
  at?: string;
  from?: string;
  to?: string;
  partial?: 'true' | 'false';
}

function parseTime(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw analyticsErrors.ANALYTICS_ERR_QUERY_INVALID(`${name} is not a time`);
  return ms;
}

/**
 * The analyst API: indicator definitions, indicator values at a level (one time or a series, with
 * drill-down by place prefix), probes and metrics.
 */
export function buildAnalyticsApi(deps: AnalyticsApiDeps) {
  const { engine, metrics } = deps;
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }, { level: 'warn' }),
    // An unknown query parameter (`levle=grid`) is an error, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    // The server limits; alert actions are the only bodies (GET routes take none).
    ...httpAppOptions(deps.server),
  });
  setUpHttpApp(app, deps.server ?? {}, {
    ...httpServerMetricHooks(metrics.http),
    codes: { invalid: 'ANALYTICS_ERR_QUERY_INVALID', request: 'ANALYTICS_ERR_REQUEST', internal: 'ANALYTICS_ERR_INTERNAL', notFound: 'ANALYTICS_ERR_NOT_FOUND' },
    onServiceError: (code) => metrics.queryErrors.inc({ code }),
    logger: deps.logger,
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });

  if (deps.guard !== undefined) {
    const lockout = httpLockoutHooks(deps.guard, {
      lockedOut: () => analyticsErrors.ANALYTICS_ERR_LOCKED_OUT(),
      logger: deps.logger,
      onRefused: () => metrics.addressRefused.inc(),
      onLockout: () => metrics.addressLockouts.inc(),
    });
    app.addHook('onRequest', lockout.onRequest);
    app.addHook('onResponse', lockout.onResponse);
  }

  const { access } = deps;
  // Authentication runs before validation: a caller without a token learns nothing about parameters.
  const aggregates = {
    onRequest: (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => {
      try {
        access?.require(request, 'aggregates');
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  };

  app.get('/v1/indicators', aggregates, () => ({ indicators: engine.definitions }));

  app.get(
    '/v1/indicators/:name',
    { ...aggregates, schema: { params: indicatorParamsSchema, querystring: indicatorQuerySchema } },
    async (request) => {
      const { name } = request.params as { name: string };
      const q = request.query as IndicatorQuery;
      const def = engine.definition(name);
      if (def === undefined) throw analyticsErrors.ANALYTICS_ERR_INDICATOR_UNKNOWN(JSON.stringify(name));
      const level = q.level ?? def.levels[0]!;
      const t0 = performance.now();
      const result = await engine.evaluate({
        name,
        level,
        place: q.place,
        at: parseTime(q.at, 'at'),
        from: parseTime(q.from, 'from'),
        to: parseTime(q.to, 'to'),
        partial: q.partial !== 'false',
      });
      metrics.querySeconds.observe({ indicator: name, level }, (performance.now() - t0) / 1000);
      return {
        indicator: {
          name: def.name,
          title: def.title,
          unit: def.unit,
          aggregation: def.aggregation,
          window: def.window,
          direction: def.direction,
          thresholds: thresholdsAt(def, level),
        },
        level: result.level,
        place: result.place,
        windows: result.windows,
        ...(result.current === undefined ? {} : { current: result.current }),
      };
    },
  );

  if (deps.alerts !== undefined) void app.register(alertsApi, { ...deps.alerts, ...(access === undefined ? {} : { access }) });
  if (deps.ratings !== undefined) {
    void app.register(ratingsApi, { ...deps.ratings, now: deps.now ?? Date.now, ...(access === undefined ? {} : { access }) });
  }
  if (deps.dashboard !== undefined) void app.register(deps.dashboard.routes);

  app.get('/metrics', async (_request, reply) => {
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = await deps.ready();
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });

  return app;
}
