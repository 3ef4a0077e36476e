import { Gauge, type Registry } from 'prom-client';
import { readEngineMemory, type Warehouse } from '@cityops/warehouse';

/**
 * `cityops_warehouse_engine_memory_bytes{kind}`: the warehouse engine's own account of its memory,
 * read at scrape time. With chDB that memory is this process's: it tells the engine's caches from
 * Node's heap in the process RSS. A failed read (the server down) leaves the gauge empty for that
 * scrape rather than failing the scrape.
 */
export function registerWarehouseMemoryGauge(registry: Registry, warehouse: Pick<Warehouse, 'query'>): Gauge<'kind'> {
  return new Gauge({
    name: 'cityops_warehouse_engine_memory_bytes',
    help: "The warehouse engine's memory by its own account (system.metrics): tracked allocations and each cache, by kind. With the embedded store it is part of this process's RSS.",
    labelNames: ['kind'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const memory = await readEngineMemory(warehouse).catch(() => ({}));
      for (const [kind, bytes] of Object.entries(memory)) this.set({ kind }, bytes);
    },
  });
}
