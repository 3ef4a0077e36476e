import { constants } from 'node:buffer';
import { appendBatchRowBinary } from './readings-rowbinary.ts';
import { createRowBinaryWriter } from './rowbinary-encoder.ts';
import type { StoredBatch } from './types.ts';

/** Readings are short (ids ≤ 64 chars, places ≤ 48): 1 KiB a row bounds the buffer generously. */
const MAX_BYTES_PER_ROW = 1024;

/**
 * Batches are encoded into slabs of this size, each batch's bytes a window the batch keeps: ~7
 * batches of 100 readings (~9 KiB) share one allocation, and a slab's unused tail is under a batch.
 * 64 KiB, not more: with 256 KiB slabs the ingest bench's profile showed the writer's stores 3-4x
 * slower (fresh memory each slab, likely mmap'd: glibc's threshold is 128 KiB), 2,962 ms against 1,575 ms.
 */
const SLAB_BYTES = 64 * 1024;

export interface ReadingsPacker {
  /** One batch's readings as RowBinary bytes the caller keeps; a RangeError for a value outside its column. */
  pack(batch: StoredBatch): Buffer;
}

/**
 * Encodes each batch once, into bytes it owns: no copy out of a shared buffer (the writer's `take()`).
 * A batch that fails to encode leaves nothing behind: the next `reset()` drops its partial bytes.
 */
export function createReadingsPacker(config: { readonly maxInsertRows: number }): ReadingsPacker {
  const writer = createRowBinaryWriter({
    initialBytes: SLAB_BYTES,
    maxBytes: Math.min(config.maxInsertRows * MAX_BYTES_PER_ROW, constants.MAX_LENGTH),
  });
  return {
    pack(batch) {
      writer.reset();
      appendBatchRowBinary(writer, batch);
      return writer.take();
    },
  };
}
