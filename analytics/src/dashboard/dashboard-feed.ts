import type { Warehouse } from '@cityops/warehouse';
import type { Logger } from 'pino';
import type { AnomalyLearning } from '../rules/verification-anomaly.ts';
import type { CityOverview } from './city-overview.ts';
import type { DashboardConfig } from './dashboard-config.ts';
import type { DashboardMetrics } from './dashboard-metrics.ts';
import { createPipelineHealth, type PipelineHealth } from './pipeline-health.ts';
import type { SseHub } from './sse-hub.ts';
import { readVenueChecks, type VenueChecks } from './venue-checks.ts';

/** What the page shows besides alerts, in one message; a panel that failed carries its error. */
export interface DashboardSnapshot {
  readonly at: number;
  readonly overview: CityOverview | { readonly error: string };
  readonly venues: VenueChecks | { readonly error: string };
  readonly pipeline: PipelineHealth;
  /** The rule engine on the live stream, when this instance runs one. */
  readonly rules?: RuleEngineStats;
}

export interface RuleEngineStats {
  readonly connected: boolean;
  readonly sensors: number;
  readonly places: number;
  readonly conditions: number;
  readonly devices: number;
  /** Verification anomaly rules and whether they have learned enough to fire (issue 19). */
  readonly anomalies?: readonly AnomalyLearning[];
}

export interface DashboardFeedDeps {
  /** Overviews, computed at most once per interval whoever asks. */
  readonly overviews: { get(level: 'district', place: string): Promise<CityOverview> };
  readonly warehouse: Warehouse;
  readonly hub: SseHub;
  readonly logger: Logger;
  readonly metrics: DashboardMetrics;
  readonly now: () => number;
  readonly minCell: number;
  readonly fetch?: typeof globalThis.fetch;
  readonly ruleStats?: () => RuleEngineStats | undefined;
}

/** Minutes of the verification rollup the venue panel reads. */
const VENUE_MINUTES = 5;

/**
 * Computes a snapshot every `intervalMs` while at least one page is connected and broadcasts it as
 * `snapshot`. A refresh never overlaps the previous one: a slow warehouse stretches the interval.
 */
export function createDashboardFeed(config: DashboardConfig, deps: DashboardFeedDeps) {
  const pipeline = createPipelineHealth(config.sources, config.scrapeTimeoutMs, { now: deps.now, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
  let last: DashboardSnapshot | undefined;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  function failed(panel: string, err: unknown) {
    deps.metrics.refreshErrors.inc({ panel });
    deps.logger.warn({ err, panel }, 'dashboard panel not refreshed');
    return { error: (err as Error).message };
  }

  async function compute(): Promise<DashboardSnapshot> {
    const at = deps.now();
    const [overview, venues, health] = await Promise.all([
      deps.overviews.get('district', '').catch((err: unknown) => failed('overview', err)),
      readVenueChecks(deps.warehouse, { minutes: VENUE_MINUTES, minCell: deps.minCell, silentMs: config.scannerSilentMs }, at).catch((err: unknown) => failed('venues', err)),
      pipeline.read(),
    ]);
    const rules = deps.ruleStats?.();
    return { at, overview, venues, pipeline: health, ...(rules === undefined ? {} : { rules }) };
  }

  function refresh(): Promise<void> {
    running ??= (async () => {
      try {
        last = await compute();
        deps.hub.broadcast({ event: 'snapshot', data: last });
      } catch (err) {
        failed('snapshot', err);
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  return {
    /** The newest snapshot, for a page that just connected. */
    last: () => last,
    refresh,
    start() {
      timer ??= setInterval(() => {
        if (deps.hub.clients() > 0) void refresh();
      }, config.intervalMs);
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}
