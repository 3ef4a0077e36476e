import { constants } from 'node:buffer';
import { encodeReadingsRowBinary } from './readings-rowbinary.ts';
import { createRowBinaryWriter } from './rowbinary-encoder.ts';
import type { StoredBatch } from './types.ts';

/** Readings are short (ids ≤ 64 chars, places ≤ 48): 1 KiB a row bounds the buffer generously. */
const MAX_BYTES_PER_ROW = 1024;

export interface ReadingsPacker {
  /** One batch's readings as RowBinary bytes the caller keeps; a RangeError for a value outside its column. */
  pack(batch: StoredBatch): Buffer;
}

/** Encodes one batch at a time; each batch's bytes are copied out, so the buffer stays one batch large. */
export function createReadingsPacker(config: { readonly maxInsertRows: number }): ReadingsPacker {
  const writer = createRowBinaryWriter({ maxBytes: Math.min(config.maxInsertRows * MAX_BYTES_PER_ROW, constants.MAX_LENGTH) });
  return {
    pack: (batch) => Buffer.from(encodeReadingsRowBinary(writer, [batch])),
  };
}
