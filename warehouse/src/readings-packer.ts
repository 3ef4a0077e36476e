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

/**
 * Slabs whose batches were all released, kept for the next ones: 4 MiB, about 2 s of a 20,000
 * readings/s broker's batches; beyond it a slab is left to the garbage collector.
 *
 * Why reuse at all: a batch waits for its insert about a second, so its slab outlives two scavenges
 * and is promoted, and V8 counts an ArrayBuffer's memory against the old generation's limit until a
 * mark-compact frees it. After a first mark-compact that limit is only ~8 MiB above the live heap
 * (V8 sizes it from how little the old generation grows), so ~1.8 MiB/s of fresh slabs started a
 * mark-compact every 2.7 s for as long as the broker ran (bench/profiles/2026-12-07-broker-slab-reuse).
 */
const MAX_FREE_SLABS = 64;

export interface ReadingsPacker {
  /** One batch's readings as RowBinary bytes the caller keeps; a RangeError for a value outside its column. */
  pack(batch: StoredBatch): Buffer;
  /**
   * The caller is done with bytes `pack` returned (stored, never to be sent again): once every batch
   * of their slab is released, the slab is reused. Releasing twice, or bytes of another packer, does
   * nothing; bytes never released are garbage collected as any others.
   */
  release(bytes: Buffer): void;
}

/** A slab with batches' windows in it: those not yet released, and whether the writer has moved on. */
interface Slab {
  readonly buffer: Buffer;
  readonly out: Set<Buffer>;
  full: boolean;
}

/**
 * Encodes each batch once, into bytes it owns: no copy out of a shared buffer (the writer's `take()`).
 * A batch that fails to encode leaves nothing behind: the next `reset()` drops its partial bytes.
 */
export function createReadingsPacker(config: { readonly maxInsertRows: number }): ReadingsPacker {
  // Weak: a slab whose batches are dropped unreleased (a stop with the store down) goes with them.
  const slabs = new WeakMap<ArrayBufferLike, Slab>();
  const free: Buffer[] = [];
  let current: Slab | undefined;

  function recycle(slab: Slab): void {
    slabs.delete(slab.buffer.buffer);
    // Only the usual size: a slab doubled for one large batch is left to the garbage collector.
    if (slab.buffer.length === SLAB_BYTES && free.length < MAX_FREE_SLABS) free.push(slab.buffer);
  }

  function allocate(bytes: number): Buffer {
    const buffer = (bytes === SLAB_BYTES ? free.pop() : undefined) ?? Buffer.allocUnsafeSlow(bytes);
    // The writer moves on from the last slab (after it got the new one, so never the same one back).
    const last = current;
    current = { buffer, out: new Set(), full: false };
    slabs.set(buffer.buffer, current);
    if (last !== undefined) {
      last.full = true;
      if (last.out.size === 0) recycle(last);
    }
    return buffer;
  }

  const writer = createRowBinaryWriter({
    initialBytes: SLAB_BYTES,
    maxBytes: Math.min(config.maxInsertRows * MAX_BYTES_PER_ROW, constants.MAX_LENGTH),
    allocate,
  });
  return {
    pack(batch) {
      writer.reset();
      appendBatchRowBinary(writer, batch);
      const bytes = writer.take();
      current!.out.add(bytes);
      return bytes;
    },
    release(bytes) {
      const slab = slabs.get(bytes.buffer);
      // Not out (released before, or of a slab since reused): nothing to do.
      if (slab === undefined || !slab.out.delete(bytes)) return;
      if (slab.out.size === 0 && slab.full) recycle(slab);
    },
  };
}
