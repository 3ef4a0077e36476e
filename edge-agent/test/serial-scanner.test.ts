import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startPtyPair, type PtyPair } from '../../test-peers/socat-pty.ts';
import { systemTimers } from '../src/agent-deps.ts';
import { createSerialLinesSource, parseSerialScannerConfig, type OpenSerial, type ScanInput, type SerialLinesSourceStats } from '../src/index.ts';

// A collection before each look at memory, so that what is counted is what is held, not garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function heldBytes(): number {
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

const silent = pino({ level: 'silent' });
const WAIT = { timeout: 10_000, interval: 5 };

describe('serial scanner configuration', () => {
  it('reports every framing problem together with SCANNER_ERR_CONFIG, and fills defaults', () => {
    const attempt = () =>
      // @ts-expect-error: values a hand-written config file could hold
      parseSerialScannerConfig({ path: '', baudRate: 9601, dataBits: 9, stopBits: 1.5, parity: 'mark', terminator: 'nul', maxLineBytes: 10 });
    expect(attempt).toThrow(expect.objectContaining({ code: 'SCANNER_ERR_CONFIG' }));
    expect(attempt).toThrow(/\/path.*\/baudRate.*\/dataBits.*\/stopBits.*\/parity.*\/terminator.*\/maxLineBytes/s);
    expect(() => parseSerialScannerConfig({ path: '/dev/ttyUSB0', reconnect: { minMs: 500, maxMs: 100 } })).toThrow(/reconnect\/maxMs \(100\) is below minMs \(500\)/);
    const config = parseSerialScannerConfig({ path: '/dev/ttyACM0' });
    expect(config).toMatchObject({ baudRate: 9600, dataBits: 8, stopBits: 1, parity: 'none', rtscts: false, xonxoff: false, terminator: 'any', maxLineBytes: 16_384, readBufferBytes: 16_384, lineFormat: 'raw' });
    expect(Object.isFrozen(config.reconnect)).toBe(true);
  });
});

describe('serial source reopening (an injected device)', () => {
  /** A device that opens, sends `lines` (if any), and goes away at once, every time. */
  function flakyDevice(lines: string): OpenSerial {
    return () =>
      Promise.resolve({
        chunks: Readable.from(lines === '' ? [] : [Buffer.from(lines)]),
        endReason: () => new Error('EIO'),
        close: () => Promise.resolve(),
      });
  }

  async function delaysBeforeReopen(lines: string, opens: number): Promise<number[]> {
    const delays: number[] = [];
    let stopping: Promise<void> | undefined;
    const source = createSerialLinesSource(
      { path: '/dev/ttyACM9', reconnect: { minMs: 100, maxMs: 5000 } },
      {
        logger: silent,
        random: () => 1, // the top of each jitter range: the ceilings themselves
        openSerial: flakyDevice(lines),
        timers: {
          ...systemTimers,
          setTimeout(fn, ms) {
            delays.push(ms);
            if (delays.length >= opens) stopping ??= source.stop();
            return setImmediate(fn);
          },
          clearTimeout: (handle) => clearImmediate(handle as NodeJS.Immediate),
        },
      },
    );
    for await (const _ of source) {
      // codes are not the point here
    }
    await stopping;
    expect(source.stats()).toMatchObject({ opens, disconnects: opens, openFailures: 0 });
    return delays;
  }

  it('logs a noisy line once per interval, with how many bad lines it did not log; reports each', async () => {
    const logged: Record<string, unknown>[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
    let clock = 1_000_000;
    let reported = 0;
    const line = new PassThrough();
    const source = createSerialLinesSource(
      { path: '/dev/ttyUSB7' },
      {
        logger,
        now: () => clock,
        openSerial: () => Promise.resolve({ chunks: line, endReason: () => undefined, close: () => Promise.resolve(void line.end()) }),
        onBadLine: () => reported++,
      },
    );
    const done = (async () => {
      for await (const _ of source) {
        // nothing but noise
      }
    })();
    line.write('\u0001noise\r'.repeat(1000));
    await vi.waitFor(() => expect(source.stats().badLines).toBe(1000), WAIT);
    clock += 10_000;
    line.write('\u0001noise\r'.repeat(1000));
    await vi.waitFor(() => expect(source.stats().badLines).toBe(2000), WAIT);
    await source.stop();
    await done;
    const badLineLogs = logged.filter((l) => l.msg === 'bad input line');
    expect(badLineLogs).toEqual([
      expect.objectContaining({ badLines: 1, notLogged: 0, err: expect.objectContaining({ code: 'SCANNER_ERR_INPUT_LINE' }) as unknown }),
      expect.objectContaining({ badLines: 1001, notLogged: 999 }),
    ]);
    expect(reported).toBe(source.stats().badLines);
  });

  it('backs off further each time a device opens and fails at once; a line read starts again from the bottom', async () => {
    // No line between open and failure: nothing proves the device works, so no reset, no spin.
    expect(await delaysBeforeReopen('', 7)).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
    // A code each time: each outage is a new one, reopened after the shortest wait.
    expect(await delaysBeforeReopen('CHC1:X\r', 4)).toEqual([200, 200, 200, 200]);
  });
});

describe('serial scanner on a socat pseudo-terminal pair', () => {
  let dir: string;
  let pty: PtyPair;
  let source: ReturnType<typeof createSerialLinesSource> | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-serial-'));
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await pty?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts reading; what the source yields and reports lands in the returned arrays. */
  function read(config: Partial<Parameters<typeof createSerialLinesSource>[0]> = {}) {
    const codes: ScanInput[] = [];
    const bad: [number, string][] = [];
    source = createSerialLinesSource(
      { path: pty.device, baudRate: 115_200, reconnect: { minMs: 5, maxMs: 40 }, maxLineBytes: 4096, ...config },
      { logger: silent, onBadLine: (line, reason) => bad.push([line, reason]) },
    );
    const s = source;
    const done = (async () => {
      for await (const code of s) codes.push(code);
    })();
    return { codes, bad, done, stats: (): SerialLinesSourceStats => s.stats() };
  }

  it('reads codes ended by CR, LF or CR LF, split across writes, framed, in JSON; counts an over-long line and garbage', async () => {
    pty = await startPtyPair(dir);
    const run = read({ prefix: '\u0002', suffix: '\u0003', lineFormat: 'raw-or-json' });
    await vi.waitFor(() => expect(run.stats().opens).toBe(1), WAIT);
    await pty.type('CHC1:ONE\rCHC1:TWO\nCHC1:THR');
    await vi.waitFor(() => expect(run.codes).toHaveLength(2), WAIT);
    await pty.type('EE\r\n\r\n');
    await pty.type('\u0002HC1:FRAMED\u0003\r{"qr":"CSC1:SITE","venue":"mall-3"}\r');
    await pty.type(`${'A'.repeat(5000)}\rCHC1:AFTER-LONG\n`);
    await pty.type(Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80, 0x0d, 0x43, 0x48, 0x43, 0x31, 0x3a, 0x45, 0x4e, 0x44, 0x0d])); // garbage, then CHC1:END
    await vi.waitFor(() => expect(run.codes.at(-1)).toEqual({ qr: 'CHC1:END' }), WAIT);
    expect(run.codes).toEqual([
      { qr: 'CHC1:ONE' },
      { qr: 'CHC1:TWO' },
      { qr: 'CHC1:THREE' },
      { qr: 'HC1:FRAMED' },
      { qr: 'CSC1:SITE', venue: 'mall-3' },
      { qr: 'CHC1:AFTER-LONG' },
      { qr: 'CHC1:END' },
    ]);
    expect(run.bad).toEqual([
      [7, 'longer than 4096 bytes'],
      [9, 'not text (control bytes or invalid UTF-8)'],
    ]);
    expect(run.stats()).toEqual({ lines: 10, codes: 7, badLines: 2, opens: 1, reconnects: 0, disconnects: 0, openFailures: 0, connected: true });
    await source!.stop();
    await run.done;
    expect(run.stats().connected).toBe(false);
  });

  it('takes a JSON line from a scanner as the code it holds: a code cannot name its venue', async () => {
    pty = await startPtyPair(dir);
    const run = read();
    await vi.waitFor(() => expect(run.stats().opens).toBe(1), WAIT);
    const crafted = '{"qr":"CHC1:REAL","venue":"lenient-venue"}';
    await pty.type(`${crafted}\r`);
    await vi.waitFor(() => expect(run.codes).toEqual([{ qr: crafted }]), WAIT);
  });

  it('keeps memory bounded against a device that floods bytes without a terminator', async () => {
    pty = await startPtyPair(dir);
    const run = read({ maxLineBytes: 1024 });
    await vi.waitFor(() => expect(run.stats().opens).toBe(1), WAIT);
    const before = heldBytes();
    let peak = 0;
    const flood = Buffer.alloc(1024 * 1024, 0x41);
    for (let i = 0; i < 16; i++) {
      await pty.type(flood); // 16 MiB in all, no terminator
      peak = Math.max(peak, heldBytes() - before);
    }
    await pty.type('\rCHC1:STILL-HERE\r');
    await vi.waitFor(() => expect(run.codes).toEqual([{ qr: 'CHC1:STILL-HERE' }]), WAIT);
    expect(run.bad).toEqual([[1, 'longer than 1024 bytes']]);
    // Held after a collection: the reads in flight and one line's bound, not the 16 MiB line.
    expect(peak).toBeLessThan(4 * 1024 * 1024);

    // Unplugged while bytes stream in: the hung-up line reads 0 bytes, which must end the open (bindings-cpp
    // alone would read again at once, forever, at full CPU), not spin.
    for (let i = 0; i < 4; i++) await pty.type(flood);
    const cpu = process.cpuUsage();
    await pty.unplug();
    await vi.waitFor(() => expect(run.stats()).toMatchObject({ disconnects: 1, connected: false }), WAIT);
    const spent = process.cpuUsage(cpu);
    expect((spent.user + spent.system) / 1000).toBeLessThan(2000);
  });

  it('survives an unplug mid-line: the cut line is dropped, the device is reopened when it comes back', async () => {
    pty = await startPtyPair(dir);
    const run = read();
    await vi.waitFor(() => expect(run.stats().opens).toBe(1), WAIT);
    await pty.type('CHC1:BEFORE\rCHC1:HALF-OF-A');
    await vi.waitFor(() => expect(run.codes).toHaveLength(1), WAIT);
    await pty.unplug();
    await vi.waitFor(() => expect(run.stats()).toMatchObject({ disconnects: 1, connected: false, badLines: 1 }), WAIT);
    expect(run.bad).toEqual([[2, 'cut off: the input ended inside the line']]);
    // While it is away the source keeps trying, and does not end.
    await vi.waitFor(() => expect(run.stats().openFailures).toBeGreaterThanOrEqual(2), WAIT);
    expect(existsSync(pty.device)).toBe(false);

    await pty.plug();
    await vi.waitFor(() => expect(run.stats()).toMatchObject({ opens: 2, connected: true }), WAIT);
    await pty.type('CHC1:AFTER\r\n');
    await vi.waitFor(() => expect(run.codes).toEqual([{ qr: 'CHC1:BEFORE' }, { qr: 'CHC1:AFTER' }]), WAIT);

    // A second outage and return: every one is survived, not just the first.
    await pty.unplug();
    await vi.waitFor(() => expect(run.stats().disconnects).toBe(2), WAIT);
    await pty.plug();
    await vi.waitFor(() => expect(run.stats()).toMatchObject({ opens: 3, reconnects: 2, connected: true }), WAIT);
    await pty.type('CHC1:THIRD\n');
    await vi.waitFor(() => expect(run.codes.at(-1)).toEqual({ qr: 'CHC1:THIRD' }), WAIT);
  });

  it('waits for a device that is not there yet; stop() ends the iteration during an outage and while reading', async () => {
    pty = await startPtyPair(dir, { plugged: false });
    const waiting = read();
    await vi.waitFor(() => expect(waiting.stats().openFailures).toBeGreaterThanOrEqual(1), WAIT);
    await pty.plug();
    // Bytes typed before the agent holds the device end would be lost, as on a real line.
    await vi.waitFor(() => expect(waiting.stats().opens).toBe(1), WAIT);
    await pty.type('CHC1:LATE\r');
    await vi.waitFor(() => expect(waiting.codes).toEqual([{ qr: 'CHC1:LATE' }]), WAIT);
    await source!.stop();
    await waiting.done;
    await source!.stop(); // idempotent

    await pty.unplug();
    const away = read();
    await vi.waitFor(() => expect(away.stats().openFailures).toBeGreaterThanOrEqual(1), WAIT);
    await source!.stop();
    await away.done;
    expect(away.stats()).toMatchObject({ opens: 0, connected: false });
  });
});
