import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Metrics every service sets up the same way. A subpath of its own (`@cityops/protocol/service-metrics`),
 * not in the package index: edge agents import protocol and must not load prom-client.
 */

/** A service's registry (never the global one) with Node's process metrics under its prefix (`cityops_ingest_`). */
export function createServiceRegistry(prefix: string, registry = new Registry()): Registry {
  collectDefaultMetrics({ register: registry, prefix });
  // promtool: a gauge must not end in _total. prom-client's three are sums of the labelled
  // nodejs_active_{handles,requests,resources} gauges it also exposes, so nothing is lost.
  for (const name of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`${prefix}nodejs_active_${name}_total`);
  return registry;
}

/** The HTTP server limits' metrics (http-server-limits.ts, http-replies.ts) under a service's prefix. */
export function createHttpServerMetrics(registry: Registry, prefix: string) {
  return {
    refusedConnections: new Counter({
      name: `${prefix}http_refused_connections_total`,
      help:
        'HTTP connections closed by http.limits, by reason: address_connections, total_connections (at accept, before a byte is read); ' +
        'headers_timeout, request_timeout, headers_too_large, malformed (answered, then closed); tls_timeout, tls_failed (handshake).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    refusedBodies: new Counter({
      name: `${prefix}http_refused_bodies_total`,
      help: "Requests answered 413, by reason: body_too_large (over the route's limit), body_not_allowed (a body on GET, HEAD or DELETE).",
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    connections: new Gauge({
      name: `${prefix}http_connections`,
      help: 'HTTP connections open now (at most http.limits.maxConnections).',
      registers: [registry],
    }),
  };
}

export type HttpServerMetrics = ReturnType<typeof createHttpServerMetrics>;

/** The callbacks of applyHttpServerLimits and httpReplies that count into these metrics. */
export function httpServerMetricHooks(metrics: HttpServerMetrics) {
  return {
    onRefused: (reason: string) => metrics.refusedConnections.inc({ reason }),
    onOpen: (open: number) => metrics.connections.set(open),
    onBodyRefused: (reason: string) => metrics.refusedBodies.inc({ reason }),
  };
}
