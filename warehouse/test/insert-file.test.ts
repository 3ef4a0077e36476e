import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSERT_FILE_LIMITS, writeBuffersTo, writeInsertFile, type InsertFileLimits, type VectoredFile } from '../src/insert-file.ts';
import type { PackedBatch } from '../src/types.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-insert-file-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Distinct bytes per buffer, so a buffer written twice, dropped or out of order shows in the file. */
function bytesOf(i: number, length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, j) => (i * 31 + j) & 0xff));
}

function packed(i: number, bytes: Buffer): PackedBatch {
  return { device: `gw-${i}`, boot: 1, seq: i, rows: 1, data: { format: 'rowbinary', bytes } };
}

/** A real file handle whose writev calls are recorded, to check each group against the limits. */
async function recordingFile(path: string) {
  const handle = await open(path, 'w');
  const calls: { buffers: number; bytes: number }[] = [];
  const file: VectoredFile = {
    writev(buffers, position) {
      calls.push({ buffers: buffers.length, bytes: buffers.reduce((n, b) => n + b.length, 0) });
      return handle.writev(buffers, position);
    },
  };
  return { file, calls, close: () => handle.close() };
}

describe('insert file', () => {
  it('writes every batch in order, with no group above IOV_MAX buffers or its byte bound', async () => {
    const limits: InsertFileLimits = { maxBuffers: INSERT_FILE_LIMITS.maxBuffers, maxBytes: 64 * 1024 };
    // 3,000 batches (three groups' worth of buffers), empty ones among them, and one batch larger than a group.
    const buffers = Array.from({ length: 3000 }, (_, i) => (i % 7 === 0 ? Buffer.alloc(0) : bytesOf(i, 1 + (i % 40))));
    buffers[1500] = bytesOf(1500, 200 * 1024 + 3);
    const path = join(dir, 'groups.rowbinary');
    const { file, calls, close } = await recordingFile(path);
    try {
      expect(await writeBuffersTo(file, buffers, limits)).toBe(buffers.reduce((n, b) => n + b.length, 0));
    } finally {
      await close();
    }
    expect(await readFile(path)).toEqual(Buffer.concat(buffers));
    expect(Math.max(...calls.map((c) => c.buffers))).toBe(limits.maxBuffers);
    expect(Math.max(...calls.map((c) => c.bytes))).toBe(limits.maxBytes);
    expect(calls.every((c) => c.buffers > 0 && c.bytes > 0)).toBe(true);
  });

  it('carries on after short writes, from where each one stopped', async () => {
    const target = Buffer.alloc(10_000);
    let calls = 0;
    // Writes at most 333 bytes a call, as writev(2) may on a full disk or a signal.
    const short: VectoredFile = {
      writev(buffers, position) {
        calls++;
        let n = 0;
        for (const b of buffers) {
          const take = Math.min(b.length, 333 - n);
          b.copy(target, position + n, 0, take);
          n += take;
          if (n === 333) break;
        }
        return Promise.resolve({ bytesWritten: n });
      },
    };
    const buffers = Array.from({ length: 50 }, (_, i) => bytesOf(i, 10 + i * 5));
    const total = buffers.reduce((n, b) => n + b.length, 0);
    expect(await writeBuffersTo(short, buffers, { maxBuffers: 16, maxBytes: 4096 })).toBe(total);
    expect(target.subarray(0, total)).toEqual(Buffer.concat(buffers));
    // Groups of 16 buffers hold 760, 2,040, 3,320 and 505 bytes: 3 + 7 + 10 + 2 writes of ≤ 333 bytes.
    expect(calls).toBe(22);
  });

  it('fails instead of spinning when a write makes no progress', async () => {
    const stuck: VectoredFile = { writev: () => Promise.resolve({ bytesWritten: 0 }) };
    await expect(writeBuffersTo(stuck, [bytesOf(1, 10)], INSERT_FILE_LIMITS)).rejects.toThrow(/wrote nothing at offset 0/);
  });

  it('writes an empty file for empty batches, and skips a non-rowbinary batch (refused before by the backend)', async () => {
    const path = join(dir, 'mixed.rowbinary');
    const json: PackedBatch = { device: 'gw-j', boot: 1, seq: 9, rows: 1, data: { format: 'json', rows: [{ a: 1 }] } };
    expect(await writeInsertFile(path, [packed(0, Buffer.alloc(0))])).toBe(0);
    expect(await readFile(path)).toHaveLength(0);
    expect(await writeInsertFile(path, [packed(1, bytesOf(1, 5)), json, packed(2, bytesOf(2, 7))])).toBe(12);
    expect(await readFile(path)).toEqual(Buffer.concat([bytesOf(1, 5), bytesOf(2, 7)]));
  });
});
