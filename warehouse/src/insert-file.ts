import { writeFile } from 'node:fs/promises';
import type { PackedBatch } from './types.ts';

/** Batches' bytes are written to the insert file in chunks of about this size. */
const CHUNK_BYTES = 1024 * 1024;

function* chunksOf(batches: readonly PackedBatch[]): Generator<Buffer> {
  let group: Buffer[] = [];
  let bytes = 0;
  for (const { data } of batches) {
    if (data.format !== 'rowbinary') continue; // refused before writing (insertReadings)
    group.push(data.bytes);
    bytes += data.bytes.length;
    if (bytes >= CHUNK_BYTES) {
      yield Buffer.concat(group, bytes);
      group = [];
      bytes = 0;
    }
  }
  if (bytes > 0) yield Buffer.concat(group, bytes);
}

/** Writes the batches' RowBinary bytes, in order, to a new file. */
export async function writeInsertFile(file: string, batches: readonly PackedBatch[]): Promise<void> {
  await writeFile(file, chunksOf(batches));
}
