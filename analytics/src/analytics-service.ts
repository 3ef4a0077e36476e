import { createAddressGuard, topics, type TokenAuthenticator } from '@cityops/protocol';
import type { Warehouse } from '@cityops/warehouse';
import { pino, type Logger } from 'pino';
import { parseAnalyticsConfig, type AnalyticsConfigInput } from './analytics-config.ts';
import { createAnalyticsMetrics, type AnalyticsMetrics } from './analytics-metrics.ts';
import { createAlertLifecycle, type AlertLifecycle } from './alerts/alert-lifecycle.ts';
import { createAlertMqttLink } from './alerts/alert-mqtt-link.ts';
import { createConsoleRatings } from './alerts/console-ratings.ts';
import { createDashboard, type Dashboard } from './dashboard/dashboard.ts';
import { createAnalyticsAccess } from './api-access.ts';
import { buildAnalyticsApi } from './http-api.ts';
import { loadIndicatorDefinitions } from './indicator-definitions.ts';
import { createIndicatorEngine, type IndicatorEngine } from './indicator-engine.ts';
import { createRollupJob, type RollupJob } from './rollup-job.ts';
import { createRuleEngine, type RuleEngine } from './rules/rule-engine.ts';

export interface AnalyticsServiceDeps {
  readonly warehouse: Warehouse;
  readonly logger?: Logger;
  readonly now?: () => number;
  readonly metrics?: AnalyticsMetrics;
  /** For the dashboard's scrapes of the other services' /metrics. @default globalThis.fetch */
  readonly fetch?: typeof globalThis.fetch;
  /** The live token set (a TokenStore, revocable at runtime); absent: `auth.tokens`, fixed. */
  readonly tokens?: TokenAuthenticator;
}

export interface AnalyticsAddresses {
  readonly httpUrl: string;
  readonly httpPort: number;
}

export interface AnalyticsService {
  start(): Promise<AnalyticsAddresses>;
  stop(): Promise<void>;
  readonly engine: IndicatorEngine;
  readonly rollup: RollupJob;
  readonly alerts: AlertLifecycle;
  /** Present when the config has a `rules` section (the broker's service credentials). */
  readonly rules: RuleEngine | undefined;
  readonly metrics: AnalyticsMetrics;
  /** The operator's screen at `/`; absent with `dashboard.enabled: false`. */
  readonly dashboard: Dashboard | undefined;
}

/**
 * The indicator engine over the warehouse, the readings rollup job, the alert lifecycle, the alert
 * rules on the live stream (with a `rules` section) and the analyst HTTP API, composed; stopped in
 * reverse order. The definitions files are read and validated here, once.
 */
export function createAnalyticsService(input: AnalyticsConfigInput, deps: AnalyticsServiceDeps): AnalyticsService {
  const config = parseAnalyticsConfig(input);
  const logger = deps.logger ?? pino({ name: 'analytics' });
  const now = deps.now ?? Date.now;
  const metrics = deps.metrics ?? createAnalyticsMetrics();
  const { warehouse } = deps;
  const definitions = loadIndicatorDefinitions(config.indicatorsFile);
  const access = createAnalyticsAccess(deps.tokens ?? config.auth.tokens);
  if (!access.configured) {
    logger.warn(
      config.alerts.operators.length > 0
        ? 'no auth.tokens: indicators, alerts and the dashboard are readable without a token (only alert actions need an operator token)'
        : 'no auth.tokens: every analytics route is open (development)',
    );
  }
  const rollup = createRollupJob({ intervalMs: config.rollup.intervalMs }, { warehouse, logger, now, metrics });
  const engine = createIndicatorEngine(definitions, {
    warehouse,
    now,
    maxWindows: config.query.maxWindows,
    minCell: config.privacy.minCell,
    onRetry: () => metrics.queryRetries.inc(),
    // The job in this instance knows where the rollups end; another instance's job writes it down.
    ...(config.rollup.enabled ? { rolledUpThrough: () => rollup.rolledUpThrough() } : {}),
  });
  // One address holds at most maxConnectionsPerAddress streams: below maxClients, it cannot take
  // every page's stream alone (loopback, exempt, is bounded by maxClients only).
  if (config.dashboard.enabled && config.dashboard.stream.maxClients <= config.http.limits.maxConnectionsPerAddress) {
    logger.warn(
      { maxClients: config.dashboard.stream.maxClients, maxConnectionsPerAddress: config.http.limits.maxConnectionsPerAddress },
      'dashboard.stream.maxClients <= http.limits.maxConnectionsPerAddress: one address can hold every dashboard stream',
    );
  }
  const link = config.rules === undefined ? undefined : createAlertMqttLink(config.rules.mqtt, { logger: logger.child({ component: 'alerts' }) });
  const dashboard = config.dashboard.enabled
    ? createDashboard(config.dashboard, {
        engine,
        warehouse,
        registry: metrics.registry,
        logger,
        now,
        minCell: config.privacy.minCell,
        operatorsRequired: config.alerts.operators.length > 0,
        access,
        // Read at each snapshot, after start: the engine is created below.
        ruleStats: () => rules?.stats(),
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
      })
    : undefined;
  // Every alert event goes to the MQTT link (when there is one) and to the pages on the dashboard.
  const publish =
    link === undefined && dashboard === undefined
      ? undefined
      : (topic: string, payload: string) => {
          dashboard?.alertPublished(payload);
          return link?.publish(topic, payload);
        };
  const alerts = createAlertLifecycle(config.alerts, {
    warehouse,
    engine,
    now,
    logger: logger.child({ component: 'alerts' }),
    metrics: metrics.alerts,
    ...(publish === undefined ? {} : { publish }),
  });
  // Departments' consoles rate handled alerts on their own topics (issue 23), through the same link.
  const consoleRatings = createConsoleRatings(
    { maxInFlight: config.alerts.ratings.consoleMaxInFlight },
    { lifecycle: alerts, warehouse, logger: logger.child({ component: 'ratings' }), metrics: metrics.alerts },
  );
  link?.subscribe(topics.allOf('alert-ratings'), (topic, payload) => consoleRatings.onMessage(topic, payload));
  const rules =
    config.rules === undefined
      ? undefined
      : createRuleEngine(config.rules, { warehouse, sink: alerts, indicators: definitions, logger: logger.child({ component: 'rules' }), metrics, now });
  if (rules !== undefined) alerts.useRuleConditions(rules);
  const http = buildAnalyticsApi({
    engine,
    metrics,
    logger,
    alerts: { lifecycle: alerts, operators: config.alerts.operators },
    ratings: { lifecycle: alerts, warehouse, metrics: metrics.alerts },
    access,
    guard: createAddressGuard(config.limits, { now, onEvict: () => metrics.addressEvictions.inc() }),
    server: { limits: config.http.limits, exemptAddresses: config.limits.exemptAddresses, bodyLimit: config.http.limits.maxBodyBytes },
    now,
    ...(dashboard === undefined ? {} : { dashboard }),
    ready: async () => {
      if (!rollup.healthy()) return false;
      try {
        await warehouse.ping();
        return true;
      } catch {
        return false;
      }
    },
  });
  let stopping: Promise<void> | undefined;

  return {
    engine,
    rollup,
    alerts,
    rules,
    metrics,
    dashboard,
    async start() {
      if (config.rollup.enabled) rollup.start();
      // The lifecycle first: the rule engine raises into it as soon as it is subscribed.
      await alerts.start();
      await link?.start();
      await rules?.start();
      dashboard?.start();
      const address = await http.listen({ host: config.http.host, port: config.http.port });
      const httpPort = Number(new URL(address).port);
      return { httpUrl: `http://${config.http.host}:${httpPort}`, httpPort };
    },
    stop() {
      stopping ??= (async () => {
        // Streams first: the server's close waits for every open response.
        await dashboard?.stop();
        await http.close();
        await rules?.stop();
        await consoleRatings.stop();
        await alerts.stop();
        await link?.stop();
        await rollup.stop();
      })();
      return stopping;
    },
  };
}
