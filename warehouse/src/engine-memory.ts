import type { Warehouse } from './types.ts';

/**
 * The engine's own account of its memory, from `system.metrics` (chDB and the server alike): what
 * its allocator tracks, and each cache's bytes. A metric the engine does not have (an old server
 * has no PrimaryIndexCacheBytes) is absent from the answer rather than zero. `tracked` is a global
 * counter: allocations made before tracking began and freed since can leave it slightly below zero
 * when the engine is nearly idle.
 */
export const ENGINE_MEMORY_METRICS = {
  MemoryTracking: 'tracked',
  MarkCacheBytes: 'mark_cache',
  PrimaryIndexCacheBytes: 'primary_index_cache',
  IndexMarkCacheBytes: 'index_mark_cache',
  UncompressedCacheBytes: 'uncompressed_cache',
  QueryConditionCacheBytes: 'query_condition_cache',
  CompiledExpressionCacheBytes: 'compiled_expression_cache',
} as const;

// Constant names, spelled out: the old server binds no query parameters.
const ENGINE_MEMORY_SQL = `SELECT metric, value FROM system.metrics WHERE metric IN (${Object.keys(ENGINE_MEMORY_METRICS)
  .map((name) => `'${name}'`)
  .join(', ')})`;

export type EngineMemoryKind = (typeof ENGINE_MEMORY_METRICS)[keyof typeof ENGINE_MEMORY_METRICS];

export async function readEngineMemory(warehouse: Pick<Warehouse, 'query'>): Promise<Partial<Record<EngineMemoryKind, number>>> {
  const rows = await warehouse.query<{ metric: keyof typeof ENGINE_MEMORY_METRICS; value: number | string }>(ENGINE_MEMORY_SQL);
  const memory: Partial<Record<EngineMemoryKind, number>> = {};
  for (const { metric, value } of rows) memory[ENGINE_MEMORY_METRICS[metric]] = Number(value);
  return memory;
}
