import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HIERARCHY_LEVELS, type HierarchyLevel } from '@cityops/protocol';
import type { Warehouse } from '@cityops/warehouse';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { alertDepartments, type AnalyticsAccess } from '../api-access.ts';
import type { IndicatorEngine } from '../indicator-engine.ts';
import type { DashboardConfig } from './dashboard-config.ts';
import { createDashboardFeed, type RuleEngineStats } from './dashboard-feed.ts';
import { createDashboardMetrics } from './dashboard-metrics.ts';
import { createOverviewCache } from './overview-cache.ts';
import { createSseHub, type SseMessage } from './sse-hub.ts';
import { loadStaticAssets, type StaticAsset } from './static-assets.ts';

export interface DashboardDeps {
  readonly engine: IndicatorEngine;
  readonly warehouse: Warehouse;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly now: () => number;
  /** The analytics `privacy.minCell`. */
  readonly minCell: number;
  /** Operators are configured: the page asks for a token before accept/resolve. */
  readonly operatorsRequired: boolean;
  /**
   * Role tokens (`auth.tokens`). Configured: the overview and the stream need a token of a role that
   * sees aggregates; alert events reach only viewers who may see that alert. The page and its
   * files, and /v1/dashboard/info, stay open (the page must load to ask for a token).
   */
  readonly access?: AnalyticsAccess;
  readonly fetch?: typeof globalThis.fetch;
  /** The rule engine's connection and counts, shown with pipeline health. */
  readonly ruleStats?: () => RuleEngineStats | undefined;
  /** The page's files; absent: analytics/dashboard/. */
  readonly assetsDir?: string;
}

export interface Dashboard {
  /** The fastify plugin: `/`, its files, /v1/dashboard/overview, /v1/dashboard/info, /v1/dashboard/stream. */
  readonly routes: (app: FastifyInstance, _options: unknown, done: (err?: Error) => void) => void;
  /** An alert event as the lifecycle publishes it (`{ event, alert }` JSON): pushed to every page. */
  alertPublished(payload: string): void;
  start(): void;
  /** Ends every stream (before the HTTP server closes: it waits for open responses). Idempotent. */
  stop(): Promise<void>;
  clients(): number;
}

const OVERVIEW_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    level: { type: 'string', enum: HIERARCHY_LEVELS, default: 'district' },
    place: { type: 'string', maxLength: 200, default: '' },
  },
} as const;

const FILE_PARAMS = {
  type: 'object',
  additionalProperties: false,
  required: ['file'],
  properties: { file: { type: 'string', maxLength: 64 } },
} as const;

/**
 * The operator's screen: a build-free page (ES modules, preact + htm, uPlot, all from this server)
 * and the live stream it listens to. See analytics/README.md, "Dashboard".
 */
export function createDashboard(config: DashboardConfig, deps: DashboardDeps): Dashboard {
  const metrics = createDashboardMetrics(deps.registry);
  const hub = createSseHub(config.stream, {
    onDrop(reason) {
      metrics.dropped.inc({ reason });
      metrics.clients.set(hub.clients());
    },
  });
  // Fresh for a little less than an interval, so that each snapshot computes its own.
  const overviews = createOverviewCache(deps.engine, Math.max(config.intervalMs - 100, 100), 256, deps.now);
  const feed = createDashboardFeed(config, { ...deps, overviews, hub, metrics, logger: deps.logger.child({ component: 'dashboard' }) });
  const assets = loadStaticAssets(deps.assetsDir);
  let stopping: Promise<void> | undefined;

  const access = deps.access?.configured === true ? deps.access : undefined;
  const info = () => ({
    operatorsRequired: deps.operatorsRequired || access !== undefined,
    tokensRequired: access !== undefined,
    intervalMs: config.intervalMs,
    sources: { ingest: config.sources.ingest !== undefined, verifier: config.sources.verifier !== undefined },
  });

  function serve(asset: StaticAsset | undefined, reply: FastifyReply) {
    if (asset === undefined) return reply.status(404).send({ code: 'ANALYTICS_ERR_NOT_FOUND', message: 'No such dashboard file' });
    return reply.header('content-type', asset.type).header('cache-control', 'no-cache').send(asset.body);
  }

  function guard(request: FastifyRequest, _reply: FastifyReply, next: (err?: Error) => void) {
    try {
      access?.require(request, 'aggregates');
      next();
    } catch (err) {
      next(err as Error);
    }
  }

  /** Which alert events a viewer's stream carries: all, its departments' only, or none (analyst). */
  function alertFilter(request: FastifyRequest): ((message: SseMessage) => boolean) | undefined {
    if (access === undefined) return undefined;
    const principal = access.require(request, 'aggregates');
    if (principal?.role === 'analyst') return (m) => m.event !== 'alert';
    const departments = alertDepartments(principal);
    if (departments === undefined) return undefined;
    return (m) => m.event !== 'alert' || departments.includes((m.data as { alert?: { department?: string } }).alert?.department ?? '');
  }

  return {
    routes(app, _options, done) {
      app.get('/', (_request, reply) => serve(assets.own.get('index.html'), reply));
      app.get('/dashboard/:file', { schema: { params: FILE_PARAMS } }, (request, reply) => serve(assets.own.get((request.params as { file: string }).file), reply));
      app.get('/vendor/:file', { schema: { params: FILE_PARAMS } }, (request, reply) => serve(assets.vendor.get((request.params as { file: string }).file), reply));
      app.get('/v1/dashboard/info', () => info());
      app.get('/v1/dashboard/overview', { onRequest: guard, schema: { querystring: OVERVIEW_QUERY } }, async (request) => {
        const q = request.query as { level: HierarchyLevel; place: string };
        return overviews.get(q.level, q.place);
      });
      app.get('/v1/dashboard/stream', { onRequest: guard }, (request, reply) => {
        const accepts = alertFilter(request);
        const snapshot = feed.last();
        const first: SseMessage[] = [{ event: 'hello', data: info() }, ...(snapshot === undefined ? [] : [{ event: 'snapshot', data: snapshot }])];
        reply.hijack();
        if (!hub.add(reply.raw, first, accepts)) {
          metrics.dropped.inc({ reason: 'refused' });
          reply.raw.writeHead(503, { 'content-type': 'application/json', 'retry-after': '5' });
          reply.raw.end(JSON.stringify({ code: 'ANALYTICS_ERR_DASHBOARD_FULL', message: 'Too many dashboard pages are connected (dashboard.stream.maxClients)' }));
          return;
        }
        metrics.clients.set(hub.clients());
        request.log.debug('dashboard stream opened');
        // A page that connects first does not wait a whole interval for its first picture.
        if (snapshot === undefined) void feed.refresh();
      });
      done();
    },
    alertPublished(payload) {
      if (hub.clients() === 0) return;
      hub.broadcast({ event: 'alert', data: JSON.parse(payload) as unknown });
    },
    start: () => feed.start(),
    stop() {
      stopping ??= (async () => {
        hub.close();
        metrics.clients.set(0);
        await feed.stop();
      })();
      return stopping;
    },
    clients: () => hub.clients(),
  };
}
