import { mkdtemp, readdir, rm, stat, appendFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemTimers } from '../src/agent-deps.ts';
import { createJournal, type Journal, type JournalConfig } from '../src/journal/journal.ts';
import type { JournalRecord } from '../src/journal/lane.ts';
import type { Lane } from '../src/journal/record-format.ts';

const logger = pino({ level: 'silent' });
let dir: string;
const open: Journal[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cityops-journal-'));
});
afterEach(async () => {
  for (const j of open.splice(0)) await j.close();
  await rm(dir, { recursive: true, force: true });
});

function journal(overrides: Partial<JournalConfig> = {}, nowMs = 1_764_000_000_000): Journal {
  const j = createJournal(
    {
      dir,
      maxBytes: 1024 * 1024,
      segmentBytes: 4096,
      whenFull: 'drop-oldest-routine',
      fsync: 'off',
      fsyncIntervalMs: 1000,
      readChunkBytes: 1024,
      ...overrides,
    },
    { logger, timers: systemTimers, now: () => nowMs },
  );
  open.push(j);
  return j;
}

const payload = (n: number, size = 100) => Buffer.alloc(size, n % 256);

async function readAll(j: Journal, lane: Lane): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  let pos = j.firstUnacked(lane);
  for (;;) {
    const { records, next } = await j.read(lane, pos, 7);
    if (records.length === 0) return out;
    out.push(...records);
    pos = next;
  }
}

async function segmentFiles(lane: Lane): Promise<string[]> {
  return (await readdir(join(dir, lane))).filter((f) => f.endsWith('.seg'));
}

describe('journal', () => {
  it('appends across segments, replays in order with identical bytes, deletes segments once acknowledged', async () => {
    const j = journal();
    const { boot } = await j.open();
    for (let seq = 0; seq < 100; seq++) await j.append('routine', { boot, seq, readings: 3 }, payload(seq));
    expect((await segmentFiles('routine')).length).toBeGreaterThan(2);
    const records = await readAll(j, 'routine');
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(records.every((r) => r.payload.equals(payload(r.seq)))).toBe(true);
    expect(j.stats().lanes.routine).toMatchObject({ pendingBatches: 100, pendingReadings: 300 });

    // Out of order acks: the acknowledged prefix only grows once the gap closes.
    for (const r of records.slice(1, 50)) j.ack(r);
    expect(j.stats().lanes.routine.pendingBatches).toBe(100);
    j.ack(records[0]!);
    expect(j.stats().lanes.routine.pendingBatches).toBe(50);
    for (const r of records.slice(50)) j.ack(r);
    await j.append('alarm', { boot, seq: 100, readings: 1 }, payload(1)); // runs after the queued reclaim
    expect(j.stats().lanes.routine).toMatchObject({ pendingBatches: 0, segments: 0, bytes: 0 });
    expect(await segmentFiles('routine')).toEqual([]);
  });

  it('replays only unacknowledged batches after a reopen, with a higher boot', async () => {
    const first = journal();
    const { boot } = await first.open();
    for (let seq = 0; seq < 40; seq++) await first.append('routine', { boot, seq, readings: 1 }, payload(seq));
    const records = await readAll(first, 'routine');
    for (const r of records.slice(0, 25)) first.ack(r);
    await first.close();

    const second = journal();
    const reopened = await second.open();
    expect(reopened.boot).toBe(boot + 1);
    expect((await readAll(second, 'routine')).map((r) => r.seq)).toEqual(Array.from({ length: 15 }, (_, i) => 25 + i));
  });

  it('truncates a torn tail record, counts it, and keeps the intact records', async () => {
    const first = journal();
    const { boot } = await first.open();
    for (let seq = 0; seq < 5; seq++) await first.append('alarm', { boot, seq, readings: 1 }, payload(seq));
    await first.close();
    const [file] = await segmentFiles('alarm');
    const path = join(dir, 'alarm', file!);
    const intact = (await stat(path)).size;
    // A crash in the middle of a write: a length prefix promising more bytes than were written.
    await appendFile(path, Buffer.from([0, 0, 0, 200, 1, 2, 3, 4, 5, 6]));

    const second = journal();
    await second.open();
    expect(second.stats()).toMatchObject({ truncations: 1, truncatedBytes: 10 });
    expect((await stat(path)).size).toBe(intact);
    expect((await readAll(second, 'alarm')).map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
  });

  it('detects a flipped byte by CRC and cuts the segment there', async () => {
    const first = journal();
    const { boot } = await first.open();
    for (let seq = 0; seq < 3; seq++) await first.append('routine', { boot, seq, readings: 1 }, payload(seq));
    await first.close();
    const [file] = await segmentFiles('routine');
    const path = join(dir, 'routine', file!);
    const size = (await stat(path)).size;
    const fh = await import('node:fs/promises').then((fs) => fs.open(path, 'r+'));
    await fh.write(Buffer.from([0xff]), 0, 1, size - 5); // inside the last record's payload
    await fh.close();

    const second = journal();
    await second.open();
    expect(second.stats().truncations).toBe(1);
    expect((await readAll(second, 'routine')).map((r) => r.seq)).toEqual([0, 1]);
  });

  it('takes a boot from the clock when the boot file is damaged', async () => {
    const first = journal();
    expect(await first.open()).toEqual({ boot: 1_764_000_000, bootFromClock: true });
    await first.close();
    await writeFile(join(dir, 'boot'), 'garbage');
    const second = journal({}, 1_764_000_100_000);
    expect(await second.open()).toEqual({ boot: 1_764_000_100, bootFromClock: true });
  });
});
