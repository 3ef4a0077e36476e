import type { FileHandle } from 'node:fs/promises';
import { RECORD_HEADER_BYTES, decodeRecord, type RecordMeta } from './record-format.ts';

export type RecordStep =
  /** `payload` is a view into the reader's buffer: valid until the next call; copy to keep it. */
  | { readonly kind: 'record'; readonly offset: number; readonly size: number; readonly meta: RecordMeta; readonly payload: Buffer }
  | { readonly kind: 'end' }
  /** The bytes at `offset` are not a whole, intact record (torn write, or damage). */
  | { readonly kind: 'corrupt'; readonly offset: number; readonly reason: string };

export interface RecordReader {
  next(): Promise<RecordStep>;
}

/**
 * Walks the records of one segment between two file offsets, reading `chunkBytes` at a time, so
 * that scanning or replaying a large journal holds one chunk in memory, not the journal.
 */
export function createRecordReader(fh: FileHandle, start: number, end: number, chunkBytes: number): RecordReader {
  let buf = Buffer.alloc(Math.max(chunkBytes, RECORD_HEADER_BYTES));
  let bufLen = 0; // valid bytes in buf
  let off = 0; // index in buf of the next record
  let pos = start; // file offset of the next record

  /** Makes at least `need` bytes from `off` available; false when the range ends first. */
  async function fill(need: number): Promise<boolean> {
    if (bufLen - off >= need) return true;
    if (pos + need > end) return false;
    const kept = bufLen - off;
    if (need > buf.length) {
      const bigger = Buffer.alloc(need);
      buf.copy(bigger, 0, off, bufLen);
      buf = bigger;
    } else {
      buf.copy(buf, 0, off, bufLen);
    }
    bufLen = kept;
    off = 0;
    while (bufLen < need) {
      const want = Math.min(buf.length - bufLen, end - (pos + bufLen));
      const { bytesRead } = await fh.read(buf, bufLen, want, pos + bufLen);
      if (bytesRead === 0) return false; // the file is shorter than `end` claims
      bufLen += bytesRead;
    }
    return true;
  }

  return {
    async next() {
      if (pos >= end) return { kind: 'end' };
      let need = RECORD_HEADER_BYTES;
      for (;;) {
        if (!(await fill(need))) return { kind: 'corrupt', offset: pos, reason: `torn record: fewer than ${need} bytes left` };
        const decoded = decodeRecord(buf.subarray(0, bufLen), off);
        if (decoded.kind === 'corrupt') return { kind: 'corrupt', offset: pos, reason: decoded.reason };
        if (decoded.kind === 'short') {
          need = decoded.need;
          continue;
        }
        const step = { kind: 'record', offset: pos, size: decoded.size, meta: decoded.meta, payload: decoded.payload } as const;
        off += decoded.size;
        pos += decoded.size;
        return step;
      }
    },
  };
}
