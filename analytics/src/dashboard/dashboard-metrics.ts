import { Counter, Gauge, type Registry } from 'prom-client';

/** The dashboard's metrics, on the service's registry. */
export function createDashboardMetrics(registry: Registry) {
  return {
    clients: new Gauge({ name: 'cityops_analytics_dashboard_clients', help: 'Dashboard pages connected to the live stream.', registers: [registry] }),
    dropped: new Counter({
      name: 'cityops_analytics_dashboard_clients_dropped_total',
      help: 'Dashboard streams ended, by reason (slow: its backlog passed stream.maxBufferedBytes; closed: the page went away; refused: stream.maxClients reached).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    refreshErrors: new Counter({
      name: 'cityops_analytics_dashboard_refresh_errors_total',
      help: 'Dashboard panels that failed to refresh, by panel (overview, venues, pipeline).',
      labelNames: ['panel'] as const,
      registers: [registry],
    }),
  };
}

export type DashboardMetrics = ReturnType<typeof createDashboardMetrics>;
