import { open } from 'node:fs/promises';
import type { PackedBatch } from './types.ts';

/**
 * How much one vectored write carries. `maxBuffers`: POSIX's IOV_MAX (1024 on Linux; writev(2) fails
 * with EINVAL above it). `maxBytes`: keeps each write a bounded job on libuv's pool, well under
 * Linux's 0x7ffff000-byte cap on one write; a batch larger than this is written in slices.
 */
export interface InsertFileLimits {
  readonly maxBuffers: number;
  readonly maxBytes: number;
}

export const INSERT_FILE_LIMITS: InsertFileLimits = { maxBuffers: 1024, maxBytes: 16 * 1024 * 1024 };

/** The part of a FileHandle a vectored write needs; tests pass one that writes short. */
export interface VectoredFile {
  writev(buffers: readonly Buffer[], position: number): Promise<{ bytesWritten: number }>;
}

/**
 * Writes the buffers back to back from offset 0, with no copy: one writev per group of at most
 * `maxBuffers` buffers and `maxBytes` bytes. A short write (writev(2) may write fewer bytes than
 * asked) carries on where it stopped. Resolves to the bytes written.
 */
export async function writeBuffersTo(file: VectoredFile, buffers: Iterable<Buffer>, limits: InsertFileLimits): Promise<number> {
  let position = 0;
  let group: Buffer[] = [];
  let groupBytes = 0;

  async function flush(): Promise<void> {
    let pending = group;
    let left = groupBytes;
    group = [];
    groupBytes = 0;
    while (left > 0) {
      const { bytesWritten } = await file.writev(pending, position);
      if (bytesWritten <= 0) throw new Error(`writev wrote nothing at offset ${position} with ${left} bytes left`);
      position += bytesWritten;
      left -= bytesWritten;
      if (left > 0) pending = dropWritten(pending, bytesWritten);
    }
  }

  for (const buffer of buffers) {
    for (let start = 0; start < buffer.length; start += limits.maxBytes) {
      const slice = start === 0 && buffer.length <= limits.maxBytes ? buffer : buffer.subarray(start, start + limits.maxBytes);
      if (groupBytes + slice.length > limits.maxBytes) await flush();
      group.push(slice);
      groupBytes += slice.length;
      if (group.length === limits.maxBuffers) await flush();
    }
  }
  await flush();
  return position;
}

/** The buffers after the first `written` bytes: whole ones dropped, a partly written one sliced. */
function dropWritten(buffers: readonly Buffer[], written: number): Buffer[] {
  let skip = written;
  let i = 0;
  while (skip >= buffers[i]!.length) skip -= buffers[i++]!.length;
  const rest = buffers.slice(i);
  rest[0] = rest[0]!.subarray(skip);
  return rest;
}

function* rowBinaryBytes(batches: readonly PackedBatch[]): Generator<Buffer> {
  for (const { data } of batches) if (data.format === 'rowbinary') yield data.bytes; // others refused before (insertReadings)
}

/** Writes the batches' RowBinary bytes, in order, to a new file: each batch's buffer as it is. */
export async function writeInsertFile(path: string, batches: readonly PackedBatch[], limits = INSERT_FILE_LIMITS): Promise<number> {
  const handle = await open(path, 'w');
  try {
    return await writeBuffersTo(handle, rowBinaryBytes(batches), limits);
  } finally {
    await handle.close();
  }
}
