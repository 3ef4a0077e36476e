import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeFrame, renderQrVariant, type RgbaFrame } from '../../test-peers/qr-frames.ts';
import type { ScanInput } from '../src/scanner/scanner-agent.ts';
import type { ScanSource } from '../src/scanner/scan-source.ts';
import { createFrameCommandSource } from '../src/scanner/image/frame-command-source.ts';
import { createFrameFolderSource } from '../src/scanner/image/frame-folder-source.ts';
import { createJpegFrameSplitter } from '../src/scanner/image/jpeg-frame-splitter.ts';
import { createPresentationGate } from '../src/scanner/image/presentation-gate.ts';

const silent = pino({ level: 'silent' });
const CODE_A = 'CHC1:FRAME-SOURCE-TEST-CODE-A';
const CODE_B = 'CHC1:FRAME-SOURCE-TEST-CODE-B';
const blank: RgbaFrame = { width: 160, height: 120, data: new Uint8ClampedArray(160 * 120 * 4).fill(190) };

/** Pulls codes from a source into an array as they come, until the source ends or is stopped. */
function drain(source: ScanSource<unknown>): { codes: ScanInput[]; done: Promise<void> } {
  const codes: ScanInput[] = [];
  const done = (async () => {
    for await (const input of source) codes.push(input);
  })();
  return { codes, done };
}

describe('jpeg frame splitter', () => {
  it('splits concatenated JPEGs fed in any chunking, skipping garbage and an EXIF thumbnail inside APP1', async () => {
    const a = await encodeFrame(renderQrVariant(CODE_A, 'noisy', 320, 240), 'jpeg');
    const b = await encodeFrame(blank, 'jpeg');
    const thumbnail = await encodeFrame(blank, 'jpeg', 30);
    // APP1 carrying a whole JPEG (SOI..EOI) as a thumbnail does: a search for FF D9 would cut here.
    const app1 = Buffer.alloc(4);
    app1.writeUInt16BE(0xffe1, 0);
    app1.writeUInt16BE(2 + thumbnail.length, 2);
    const withThumb = Buffer.concat([b.subarray(0, 2), app1, thumbnail, b.subarray(2)]);
    const stream = Buffer.concat([Buffer.from('garbage before'), a, withThumb, Buffer.from([0xff, 0x00, 0x12]), a]);
    for (const chunkSize of [1, 7, 4096, stream.length]) {
      const splitter = createJpegFrameSplitter({ maxFrameBytes: 1024 * 1024 });
      const frames: Buffer[] = [];
      for (let i = 0; i < stream.length; i += chunkSize) frames.push(...splitter.push(stream.subarray(i, i + chunkSize)));
      expect(frames.map((f) => f.length)).toEqual([a.length, withThumb.length, a.length]);
      expect(frames[0]!.equals(a) && frames[1]!.equals(withThumb) && frames[2]!.equals(a)).toBe(true);
      expect(splitter.stats()).toEqual({ frames: 3, oversized: 0, skippedBytes: 'garbage before'.length + 3 });
    }
  });

  it('drops a frame without EOI at maxFrameBytes and finds the next one', async () => {
    const a = await encodeFrame(renderQrVariant(CODE_A, 'clean', 320, 240), 'jpeg');
    const splitter = createJpegFrameSplitter({ maxFrameBytes: 64 * 1024 });
    // SOI, SOS, then entropy data that never ends: 1 MiB of it.
    const endless = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]), Buffer.alloc(1024 * 1024, 0x55)]);
    const frames = [...splitter.push(endless), ...splitter.push(a)];
    expect(frames).toHaveLength(1);
    expect(frames[0]!.equals(a)).toBe(true);
    expect(splitter.stats().oversized).toBe(1);
  });
});

describe('presentation gate', () => {
  it('checks a code held for 3 s once, and again only after it was away longer than the gap', () => {
    let now = 1_000_000;
    const gate = createPresentationGate({ absentGapMs: 2000, maxTracked: 8 }, { now: () => now });
    const checked: string[] = [];
    // Held for 3 s, seen every 100 ms, with B appearing beside it for a moment.
    for (let t = 0; t <= 3000; t += 100) {
      now = 1_000_000 + t;
      checked.push(...gate.admit(t >= 1000 && t <= 1200 ? ['A', 'B', 'A'] : ['A']));
    }
    expect(checked).toEqual(['A', 'B']);
    now += 1500; // away 1.5 s: the same presentation
    expect(gate.admit(['A'])).toEqual([]);
    now += 2500; // away 2.5 s: shown again
    expect(gate.admit(['A', 'B'])).toEqual(['A', 'B']);
    // A: 30 sightings after the first, and once at 1.5 s; B: 2 after its first.
    expect(gate.stats()).toEqual({ presentations: 4, duplicates: 33, evicted: 0 });
  });

  it('remembers at most maxTracked codes, forgetting the least recently seen', () => {
    const gate = createPresentationGate({ absentGapMs: 60_000, maxTracked: 2 }, { now: () => 0 });
    expect(gate.admit(['A', 'B', 'C'])).toEqual(['A', 'B', 'C']);
    expect(gate.admit(['A'])).toEqual(['A']);
    expect(gate.stats().evicted).toBe(2);
  });
});

describe('frame sources', () => {
  let dir: string;
  let frameA: string;
  let frameB: string;
  let frameBlank: string;
  const sources: ScanSource<unknown>[] = [];
  const track = <S extends ScanSource<unknown>>(source: S): S => (sources.push(source), source);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-frames-'));
    frameA = join(dir, 'a.jpg');
    frameB = join(dir, 'b.jpg');
    frameBlank = join(dir, 'blank.jpg');
    await writeFile(frameA, await encodeFrame(renderQrVariant(CODE_A, 'noisy', 640, 480), 'jpeg'));
    await writeFile(frameB, await encodeFrame(renderQrVariant(CODE_B, 'rotated', 640, 480), 'jpeg'));
    await writeFile(frameBlank, await encodeFrame(blank, 'jpeg'));
  });
  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.stop()));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads frames from a command, drops what it cannot keep up with, and checks a held code once', async () => {
    // 40 frames of A at once (a camera faster than the door), a blank one, then B.
    const files = [...Array<string>(40).fill(frameA), frameBlank, frameB];
    const source = track(createFrameCommandSource({ command: ['cat', ...files], restart: { minMs: 600_000, maxMs: 600_000 } }, { logger: silent }));
    const { codes } = drain(source);
    await vi.waitFor(() => expect(source.stats().restarts).toBe(1), { timeout: 10_000 });
    await vi.waitFor(() => expect(codes.map((c) => c.qr)).toContain(CODE_B), { timeout: 10_000 });
    const stats = source.stats();
    expect(codes.map((c) => c.qr)).toEqual([CODE_A, CODE_B]);
    expect(stats.frames).toBe(42);
    expect(stats.dropped).toBeGreaterThan(0);
    expect(stats.decoded + stats.noCode + stats.unreadable + stats.dropped).toBe(42);
    expect(stats.split).toEqual({ frames: 42, oversized: 0, skippedBytes: 0 });
  });

  it('starts the command again with backoff when it exits, and sees the code anew after the gap', async () => {
    let now = 0;
    const source = track(
      createFrameCommandSource(
        { command: ['sh', '-c', `cat "${frameA}"; exit 3`], restart: { minMs: 5, maxMs: 20 }, presentation: { absentGapMs: 2000 } },
        // Each run is 3 s apart on the gate's clock: every run's A is a new presentation.
        { logger: silent, now: () => (now += 3000) },
      ),
    );
    const { codes } = drain(source);
    await vi.waitFor(() => expect(codes.length).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
    expect(new Set(codes.map((c) => c.qr))).toEqual(new Set([CODE_A]));
    expect(source.stats().starts).toBeGreaterThanOrEqual(3);
    expect(source.stats().restarts).toBeGreaterThanOrEqual(2);
  });

  it('stays bounded against a command that floods without EOI, garbage, or does not exist', async () => {
    const before = process.memoryUsage().rss;
    const endless = track(createFrameCommandSource({ command: ['sh', '-c', "printf '\\377\\330\\377\\332\\000\\002'; head -c 30000000 /dev/zero; head -c 3000000 /dev/urandom"], maxFrameBytes: 1024 * 1024, restart: { minMs: 600_000, maxMs: 600_000 } }, { logger: silent }));
    drain(endless);
    // A door beside the flood (same process, same event loop) still reads its frames.
    const folder = await mkdtemp(join(dir, 'beside-'));
    await writeFile(join(folder, 'a.jpg'), await encodeFrame(renderQrVariant(CODE_A, 'clean', 640, 480), 'jpeg'));
    const beside = drain(track(createFrameFolderSource({ dir: folder, rescanMs: 20 }, { logger: silent })));
    await vi.waitFor(() => expect(beside.codes.map((c) => c.qr)).toEqual([CODE_A]), { timeout: 10_000 });
    await vi.waitFor(() => expect(endless.stats().restarts).toBe(1), { timeout: 20_000 });
    expect(endless.stats().split.oversized).toBeGreaterThanOrEqual(1);
    expect(endless.stats().split.skippedBytes).toBeGreaterThan(30_000_000);
    expect(process.memoryUsage().rss - before).toBeLessThan(128 * 1024 * 1024);

    const missing = track(createFrameCommandSource({ command: ['/nonexistent/camera'], restart: { minMs: 5, maxMs: 10 } }, { logger: silent }));
    drain(missing);
    await vi.waitFor(() => expect(missing.stats().restarts).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
    expect(() => createFrameCommandSource({ command: [], restart: { minMs: 10, maxMs: 5 } })).toThrow(/command/);
  });

  it('reads each new image of a watched folder once, skipping dot-files and counting unreadable ones', async () => {
    const folder = await mkdtemp(join(dir, 'inbox-'));
    let now = 0;
    const source = track(createFrameFolderSource({ dir: folder, rescanMs: 20 }, { logger: silent, now: () => now }));
    const { codes } = drain(source);
    await writeFile(join(folder, '.a.jpg.tmp'), await encodeFrame(renderQrVariant(CODE_A, 'clean', 640, 480), 'jpeg'));
    await writeFile(join(folder, '.hidden.png'), 'never read');
    await rename(join(folder, '.a.jpg.tmp'), join(folder, 'a.jpg'));
    await vi.waitFor(() => expect(codes.map((c) => c.qr)).toEqual([CODE_A]));
    await writeFile(join(folder, 'broken.png'), 'not a png');
    await writeFile(join(folder, 'notes.txt'), 'not an image name');
    now += 10_000;
    await writeFile(join(folder, 'b.png'), await encodeFrame(renderQrVariant(CODE_B, 'clean', 640, 480), 'png'));
    await vi.waitFor(() => expect(codes.map((c) => c.qr)).toEqual([CODE_A, CODE_B]));
    // Listed again and again: nothing is read twice.
    const scans = source.stats().scans;
    await vi.waitFor(() => expect(source.stats().scans).toBeGreaterThan(scans + 3));
    expect(source.stats()).toMatchObject({ frames: 3, decoded: 2, unreadable: 1, codes: 2, pending: 0 });
  });
});
