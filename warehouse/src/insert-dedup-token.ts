import { createHash } from 'node:crypto';
import type { PackedBatch } from './types.ts';

/**
 * An `insert_deduplication_token` for one insertBatches call, derived from the batches' idempotency
 * keys (device, boot, seq) and sizes. When a caller retries the same batches after an insert whose
 * outcome it did not learn (a timeout, a crash before the checkpoint), ClickHouse recognises the
 * token within the table's `non_replicated_deduplication_window` and writes nothing twice.
 */
export function insertDedupToken(batches: readonly Pick<PackedBatch, 'device' | 'boot' | 'seq' | 'rows'>[]): string {
  const hash = createHash('sha256');
  for (const b of batches) hash.update(`${b.device}\u0000${b.boot}\u0000${b.seq}\u0000${b.rows}\n`);
  return `readings-${hash.digest('hex')}`;
}
