import { metricOrZero, scrape } from './prometheus-text.ts';

/**
 * Waits until ingest (its /metrics at `httpUrl`) holds at most `steadyRows` not yet in the warehouse
 * and its lag is under 2 s, or `timeoutMs` passed: a load's backlog drained, or everything
 * acknowledged written before the warehouse is read. Returns the seconds it took.
 */
export async function untilDrained(httpUrl: string, steadyRows: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const text = await scrape(`${httpUrl}/metrics`);
    if (metricOrZero(text, 'cityops_ingest_buffered_rows') <= steadyRows && metricOrZero(text, 'cityops_ingest_lag_seconds') < 2) break;
    if (performance.now() - started > timeoutMs) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return (performance.now() - started) / 1000;
}
