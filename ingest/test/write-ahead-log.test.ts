import { appendFile, cp, mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { WalBatchRecord } from '../src/wal/wal-record.ts';
import { createWriteAheadLog, type WriteAheadLogConfig } from '../src/wal/write-ahead-log.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cityops-wal-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

function config(dir: string, overrides: Partial<WriteAheadLogConfig> = {}): WriteAheadLogConfig {
  return { dir, segmentBytes: 1 << 20, fsync: true, retainSegments: 1, maxRecordBytes: 1 << 20, ...overrides };
}

function record(seq: number): WalBatchRecord {
  return {
    kind: 'batch',
    receivedAt: 1_764_000_000_000 + seq,
    device: 'gw-1',
    place: 'huangpu/nanjing-east/g-1',
    boot: 1,
    seq,
    payload: Buffer.from(`payload-${seq}`),
  };
}

describe('write-ahead log', () => {
  it('replays records after the checkpoint in order, and only those', async () => {
    const dir = await tempDir();
    const wal = createWriteAheadLog(config(dir));
    await wal.open();
    const durable: number[] = [];
    await Promise.all([1, 2, 3].map((s) => wal.append(record(s), () => durable.push(s))));
    expect(durable).toEqual([1, 2, 3]);
    const { sealed, value } = await wal.roll((id) => `sealed ${id}`);
    expect(value).toBe(`sealed ${sealed}`);
    await wal.checkpoint(sealed);
    await Promise.all([4, 5].map((s) => wal.append(record(s), () => durable.push(s))));
    await wal.close();

    const reopened = createWriteAheadLog(config(dir));
    const recovery = await reopened.open();
    expect(recovery.pending.map((r) => (r as WalBatchRecord).seq)).toEqual([4, 5]);
    expect(Buffer.from(recovery.pending[0]!.payload).toString()).toBe('payload-4');
    // The checkpointed segment is retained (retainSegments: 1) for deduplication, without payloads.
    expect(recovery.retained.map((r) => (r as { seq: number }).seq)).toEqual([1, 2, 3]);
    expect(recovery.retained[0]).not.toHaveProperty('payload');
    await reopened.close();
  });

  it('runs onDurable for every record before a later roll seals the segment', async () => {
    const dir = await tempDir();
    const wal = createWriteAheadLog(config(dir));
    await wal.open();
    const buffered: number[] = [];
    const appends = [1, 2, 3, 4].map((s) => wal.append(record(s), () => buffered.push(s)));
    const rolled = wal.roll(() => buffered.splice(0));
    const late = wal.append(record(5), () => buffered.push(5));
    await Promise.all([...appends, late]);
    const sealedPart = (await rolled).value;
    // The seal falls between two groups of appends: what was durable before it is exactly what it
    // hands over, in order, and everything after stays for the next seal.
    expect(sealedPart.length).toBeGreaterThan(0);
    expect([...sealedPart, ...buffered]).toEqual([1, 2, 3, 4, 5]);
    await wal.close();
  });

  it('cuts a torn tail and keeps every whole record before it', async () => {
    const dir = await tempDir();
    const wal = createWriteAheadLog(config(dir));
    await wal.open();
    await Promise.all([1, 2].map((s) => wal.append(record(s), () => undefined)));
    await wal.close();
    const [segment] = (await readdir(dir)).filter((f) => f.endsWith('.wal'));
    const path = join(dir, segment!);
    // A crash mid-append: half a frame header and some bytes of a body.
    await appendFile(path, Buffer.from([0x20, 0, 0, 0, 1, 2, 3, 4, 5, 6]));
    const size = (await stat(path)).size;

    const reopened = createWriteAheadLog(config(dir));
    const recovery = await reopened.open();
    expect(recovery.pending.map((r) => (r as WalBatchRecord).seq)).toEqual([1, 2]);
    expect(recovery.truncatedBytes).toBe(10);
    expect((await stat(path)).size).toBe(size - 10);
    await reopened.close();
  });

  it('reads a zero-filled tail (a preallocated or crash-extended file) as the end of the log, not as damage', async () => {
    const dir = await tempDir();
    const wal = createWriteAheadLog(config(dir));
    await wal.open();
    await Promise.all([1, 2].map((s) => wal.append(record(s), () => undefined)));
    await wal.close();
    const [segment] = (await readdir(dir)).filter((f) => f.endsWith('.wal'));
    const path = join(dir, segment!);
    const size = (await stat(path)).size;
    // Eight zero bytes would pass as an empty frame: the CRC-32 of nothing is 0.
    await appendFile(path, Buffer.alloc(4096));
    const reopened = createWriteAheadLog(config(dir));
    const recovery = await reopened.open();
    expect(recovery.pending.map((r) => (r as WalBatchRecord).seq)).toEqual([1, 2]);
    expect(recovery.truncatedBytes).toBe(0);
    expect((await stat(path)).size).toBe(size);
    await reopened.close();
  });

  it('treats a record with a bad checksum as the end of the valid log', async () => {
    const dir = await tempDir();
    const wal = createWriteAheadLog(config(dir));
    await wal.open();
    await Promise.all([1, 2].map((s) => wal.append(record(s), () => undefined)));
    await wal.close();
    const [segment] = (await readdir(dir)).filter((f) => f.endsWith('.wal'));
    const path = join(dir, segment!);
    const size = (await stat(path)).size;
    await truncate(path, size - 1); // the last record loses its final byte
    const reopened = createWriteAheadLog(config(dir));
    const recovery = await reopened.open();
    expect(recovery.pending.map((r) => (r as WalBatchRecord).seq)).toEqual([1]);
    await reopened.close();
  });

  it('preallocated: writes records over a zero-filled next segment, seals segments to their records, and recovers every one, from a live copy too', async () => {
    const dir = await tempDir();
    const wal = createWriteAheadLog(config(dir, { preallocate: true }));
    await wal.open();
    await Promise.all([1, 2, 3].map((s) => wal.append(record(s), () => undefined)));
    const { sealed } = await wal.roll(() => undefined);
    const segmentPath = (id: number) => join(dir, `segment-${String(id).padStart(10, '0')}.wal`);
    const sealedSize = (await stat(segmentPath(sealed))).size;
    expect(sealedSize).toBeGreaterThan(0);
    expect(sealedSize).toBeLessThan(1024);
    // The segment after it was filled ahead (64 KiB at least) and is written in place.
    expect((await stat(segmentPath(sealed + 1))).size).toBe(65536);
    await Promise.all([4, 5].map((s) => wal.append(record(s), () => undefined)));
    expect((await stat(segmentPath(sealed + 1))).size).toBe(65536);

    // What a crash leaves: the files as they are, the live segment's zeros included.
    const crashed = await tempDir();
    await cp(dir, crashed, { recursive: true });
    const fromCrash = createWriteAheadLog(config(crashed, { preallocate: true }));
    const afterCrash = await fromCrash.open();
    expect(afterCrash.pending.map((r) => (r as WalBatchRecord).seq)).toEqual([1, 2, 3, 4, 5]);
    expect(afterCrash.truncatedBytes).toBe(0);
    await fromCrash.close();

    await wal.close();
    const reopened = createWriteAheadLog(config(dir, { preallocate: true }));
    const recovery = await reopened.open();
    expect(recovery.pending.map((r) => (r as WalBatchRecord).seq)).toEqual([1, 2, 3, 4, 5]);
    expect(recovery.truncatedBytes).toBe(0);
    await reopened.append(record(6), () => undefined);
    await reopened.close();
    const third = createWriteAheadLog(config(dir, { preallocate: true }));
    expect((await third.open()).pending.map((r) => (r as WalBatchRecord).seq)).toEqual([1, 2, 3, 4, 5, 6]);
    await third.close();
  });

  it('rolls to a new segment past segmentBytes and deletes checkpointed segments beyond the retained ones', async () => {
    const dir = await tempDir();
    const wal = createWriteAheadLog(config(dir, { segmentBytes: 65536, retainSegments: 1 }));
    await wal.open();
    const big = (seq: number): WalBatchRecord => ({ ...record(seq), payload: Buffer.alloc(40_000, seq) });
    for (let s = 1; s <= 6; s++) await wal.append(big(s), () => undefined);
    expect((await readdir(dir)).filter((f) => f.endsWith('.wal')).length).toBeGreaterThanOrEqual(3);
    const { sealed } = await wal.roll(() => undefined);
    await wal.checkpoint(sealed);
    const left = (await readdir(dir)).filter((f) => f.endsWith('.wal'));
    // The sealed (retained) segment and the fresh one remain.
    expect(left.length).toBe(2);
    await wal.close();
  });
});
