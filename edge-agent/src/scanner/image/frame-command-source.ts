import { spawn, type ChildProcess } from 'node:child_process';
import { pino, type Logger } from 'pino';
import { systemTimers, type Timers } from '../../agent-deps.ts';
import { createBackoff } from '../../backoff.ts';
import type { ScanInput } from '../scanner-agent.ts';
import type { ScanSource } from '../scan-source.ts';
import { parseFrameCommandSourceConfig, type FrameCommandSourceConfigInput } from './frame-source-config.ts';
import { createFramePipeline, type FrameStats } from './frame-pipeline.ts';
import { imageErrors } from './image-errors.ts';
import { createJpegFrameSplitter, type JpegSplitStats } from './jpeg-frame-splitter.ts';
import type { QrImageReader } from './qr-image-reader.ts';

export interface FrameCommandSourceStats extends FrameStats {
  /** Times the command was started. */
  starts: number;
  /** Exits (or failures to start) followed by a restart. */
  restarts: number;
  split: JpegSplitStats;
}

export interface FrameSourceDeps {
  readonly logger?: Logger;
  /** Clock of the presentation gate. */
  readonly now?: () => number;
  readonly timers?: Timers;
  readonly random?: () => number;
  /** The QR decoder (default zxing-wasm). */
  readonly qr?: QrImageReader;
}

/**
 * Camera frames from a command's stdout, e.g.
 * `ffmpeg -f v4l2 -i /dev/video0 -f image2pipe -vcodec mjpeg -`. The newest frame waits in a
 * single slot: a frame arriving while the door is still busy replaces it (counted `dropped`), so a
 * camera never builds a backlog. Each code is checked once per presentation. The command is
 * started again with jittered backoff whenever it exits.
 */
export function createFrameCommandSource(input: FrameCommandSourceConfigInput, deps: FrameSourceDeps = {}): ScanSource<FrameCommandSourceStats> {
  const config = parseFrameCommandSourceConfig(input);
  const logger = deps.logger ?? pino({ name: 'frame-command-source' });
  const timers = deps.timers ?? systemTimers;
  const backoff = createBackoff(config.restart, deps.random ?? Math.random);
  const pipeline = createFramePipeline(config, { logger, ...(deps.now === undefined ? {} : { now: deps.now }), ...(deps.qr === undefined ? {} : { qr: deps.qr }) });
  const splitter = createJpegFrameSplitter({ maxFrameBytes: config.maxFrameBytes });
  const counts = { starts: 0, restarts: 0 };
  let slot: Buffer | undefined;
  let wake: (() => void) | undefined;
  let child: ChildProcess | undefined;
  let restartTimer: unknown;
  let stopped = false;
  let started = false;
  let iterator: AsyncGenerator<ScanInput> | undefined;

  function notify(): void {
    const w = wake;
    wake = undefined;
    w?.();
  }

  function startChild(): void {
    restartTimer = undefined;
    if (stopped) return;
    counts.starts++;
    let framesThisRun = 0;
    const [file, ...args] = config.command;
    const proc = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout.on('data', (chunk: Buffer) => {
      for (const frame of splitter.push(chunk)) {
        framesThisRun++;
        if (framesThisRun === 1) backoff.reset();
        if (slot !== undefined) {
          pipeline.stats.frames++;
          pipeline.stats.dropped++;
        }
        slot = frame;
      }
      if (slot !== undefined) notify();
    });
    // Read and drop (keeping the last line for the log), so a chatty ffmpeg never blocks on a full pipe.
    let lastError = '';
    proc.stderr.on('data', (chunk: Buffer) => {
      const lines = chunk.toString('utf8').trim().split('\n');
      lastError = (lines.at(-1) ?? '').slice(0, 300);
    });
    let ended = false;
    const onEnd = (why: string) => {
      if (ended) return;
      ended = true;
      if (child === proc) child = undefined;
      if (stopped) return;
      counts.restarts++;
      const delay = backoff.next();
      logger.warn({ err: imageErrors.IMAGE_ERR_FRAME_COMMAND(`${why}${lastError === '' ? '' : `: ${lastError}`}`), frames: framesThisRun, restartInMs: delay }, 'frame command ended');
      restartTimer = timers.setTimeout(startChild, delay);
    };
    proc.on('error', (err) => onEnd(err.message));
    proc.on('close', (code, signal) => onEnd(`exited with ${signal ?? `code ${code}`}`));
  }

  async function* run(): AsyncGenerator<ScanInput> {
    while (!stopped) {
      if (slot === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const frame = slot;
      slot = undefined;
      for (const qr of await pipeline.codesOf(frame)) {
        if (stopped) return;
        yield { qr };
      }
    }
  }

  return {
    [Symbol.asyncIterator]() {
      if (!started) {
        started = true;
        startChild();
      }
      iterator ??= run();
      return iterator;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      timers.clearTimeout(restartTimer);
      notify();
      const proc = child;
      if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
      proc.kill('SIGTERM');
      const kill = timers.setTimeout(() => proc.kill('SIGKILL'), config.killAfterMs);
      await exited;
      timers.clearTimeout(kill);
    },
    stats: () => ({ ...pipeline.stats, ...counts, split: splitter.stats() }),
  };
}
