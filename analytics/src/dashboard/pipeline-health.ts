import { parsePrometheusText, sumOf, type PromSample } from './prometheus-text.ts';

export interface PipelineSources {
  readonly ingest?: string;
  readonly verifier?: string;
}

/** One service's figures; rates are per second between the last two scrapes (null on the first). */
export interface SourceHealth {
  readonly configured: boolean;
  readonly up: boolean;
  readonly error?: string;
  readonly at: number;
  readonly figures: Readonly<Record<string, number | null>>;
}

export interface PipelineHealth {
  readonly ingest: SourceHealth;
  readonly verifier: SourceHealth;
}

export interface PipelineHealthDeps {
  readonly now: () => number;
  readonly fetch?: typeof globalThis.fetch;
}

interface Previous {
  readonly at: number;
  readonly counters: Readonly<Record<string, number | undefined>>;
}

/** What each panel shows: gauges read as they are, counters turned into rates. */
const INGEST = {
  gauges: {
    lagSeconds: ['cityops_ingest_lag_seconds'],
    brokerClients: ['cityops_broker_clients'],
    bufferedRows: ['cityops_ingest_buffered_rows'],
    walBytes: ['cityops_ingest_wal_bytes'],
  },
  counters: {
    readingsPerSecond: 'cityops_ingest_readings_total',
    deadLettersPerSecond: 'cityops_ingest_dead_letters_total',
    warehouseErrorsPerSecond: 'cityops_ingest_warehouse_errors_total',
  },
  totals: { deadLetters: 'cityops_ingest_dead_letters_total' },
} as const;

const VERIFIER = {
  gauges: {
    poolUtilization: ['cityops_verifier_pool_utilization'],
    poolQueueBatches: ['cityops_verifier_pool_queue_batches'],
    poolThreads: ['cityops_verifier_pool_threads'],
    groupMembers: ['cityops_verifier_group_members'],
  },
  counters: {
    verdictsPerSecond: 'cityops_verifier_verdicts_total',
    overloadedPerSecond: 'cityops_verifier_overloaded_total',
    offlineEventsPerSecond: 'cityops_verifier_offline_events_total',
  },
  totals: {},
} as const;

type Shape = { gauges: Record<string, readonly string[]>; counters: Record<string, string>; totals: Record<string, string> };

/**
 * Reads ingest's and the verifier's Prometheus /metrics (they run in other processes in a scaled
 * deployment) and reduces them to the dashboard's figures. One scrape per source at a time, each
 * within `timeoutMs`; a source that fails is shown down, with the error, not retried sooner.
 */
export function createPipelineHealth(sources: PipelineSources, timeoutMs: number, deps: PipelineHealthDeps) {
  const fetchImpl = deps.fetch ?? globalThis.fetch;
  const previous = new Map<string, Previous>();

  async function scrape(name: string, url: string | undefined, shape: Shape): Promise<SourceHealth> {
    const at = deps.now();
    if (url === undefined) return { configured: false, up: false, at, figures: {} };
    let samples: PromSample[];
    try {
      const response = await fetchImpl(new URL('/metrics', url), { signal: AbortSignal.timeout(timeoutMs) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      samples = parsePrometheusText(await response.text());
    } catch (err) {
      previous.delete(name);
      return { configured: true, up: false, error: (err as Error).message, at, figures: {} };
    }
    const figures: Record<string, number | null> = {};
    for (const [key, names] of Object.entries(shape.gauges)) figures[key] = names.map((n) => sumOf(samples, n)).find((v) => v !== undefined) ?? null;
    for (const [key, metric] of Object.entries(shape.totals)) figures[key] = sumOf(samples, metric) ?? 0;
    const counters: Record<string, number | undefined> = {};
    const before = previous.get(name);
    for (const [key, metric] of Object.entries(shape.counters)) {
      const value = sumOf(samples, metric);
      counters[key] = value;
      const old = before?.counters[key];
      const seconds = before === undefined ? 0 : (at - before.at) / 1000;
      // A counter that went down means the service restarted: no rate for this interval.
      figures[key] = old === undefined || value === undefined || seconds <= 0 || value < old ? null : (value - old) / seconds;
    }
    previous.set(name, { at, counters });
    return { configured: true, up: true, at, figures };
  }

  return {
    async read(): Promise<PipelineHealth> {
      const [ingest, verifier] = await Promise.all([scrape('ingest', sources.ingest, INGEST), scrape('verifier', sources.verifier, VERIFIER)]);
      return { ingest, verifier };
    },
  };
}
