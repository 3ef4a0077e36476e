import { pino, type Logger } from 'pino';
import { systemTimers, type Timers } from '../agent-deps.ts';
import { createBackoff } from '../backoff.ts';
import { readBoundedLines } from '../bounded-lines.ts';
import type { Random } from '../seeded-random.ts';
import { createWakeableDelay } from '../wakeable-delay.ts';
import { createQrLineParser, type QrLineStats } from './qr-line-parser.ts';
import type { ScanInput } from './scanner-agent.ts';
import type { ScanSource } from './scan-source.ts';
import { scannerErrors } from './scanner-errors.ts';
import { parseSerialScannerConfig, type SerialScannerConfig, type SerialScannerConfigInput } from './serial-config.ts';
import { openSerialPort, type OpenSerial, type SerialConnection } from './serial-port.ts';

export interface SerialLinesSourceStats extends QrLineStats {
  /** Successful opens of the device: the first, then one per reconnect. */
  opens: number;
  /** Opens after the first: the device came back (or was found again) without a restart. */
  reconnects: number;
  /** Times the open device went away (unplugged, EIO). */
  disconnects: number;
  /** Attempts to open that failed (absent device, no permission, busy). */
  openFailures: number;
  connected: boolean;
}

export interface SerialLinesSourceDeps {
  readonly logger?: Logger;
  /** Jitter of the reopen backoff. */
  readonly random?: Random;
  readonly timers?: Timers;
  readonly now?: () => number;
  /** Called in line order, before the next code is yielded (as for stdin). */
  readonly onBadLine?: (line: number, reason: string) => void;
  /** Opens the device; node-serialport by default. */
  readonly openSerial?: OpenSerial;
}

/**
 * QR codes from a hardware scanner on a serial line, one a line (its raw text; `{"qr","venue"}` only
 * with `lineFormat: 'raw-or-json'`), framed as configured. Unplugging the device never ends the source: it reopens the
 * path with backoff until the device is back or `stop()` is called, logging SCANNER_ERR_SERIAL once
 * per outage. A line the device was in the middle of when it went away is dropped and counted.
 */
export function createSerialLinesSource(input: SerialScannerConfigInput, deps: SerialLinesSourceDeps = {}): ScanSource<SerialLinesSourceStats> & { readonly config: SerialScannerConfig } {
  const config = parseSerialScannerConfig(input);
  const logger = deps.logger ?? pino({ name: 'scanner-serial' });
  const timers = deps.timers ?? systemTimers;
  const now = deps.now ?? Date.now;
  const open = deps.openSerial ?? openSerialPort;
  const backoff = createBackoff(config.reconnect, deps.random ?? Math.random);
  const parser = createQrLineParser({ ...config, json: config.lineFormat === 'raw-or-json' }, { logger, now, ...(deps.onBadLine ? { onBadLine: deps.onBadLine } : {}) });
  const counts = { opens: 0, disconnects: 0, openFailures: 0 };

  let stopped = false;
  let iterator: AsyncGenerator<ScanInput> | undefined;
  let current: SerialConnection | undefined;
  let opening: Promise<SerialConnection | undefined> | undefined;
  let stopping: Promise<void> | undefined;
  // Waits before the next open; stop() cuts it short.
  const pause = createWakeableDelay(timers);
  let outageSince: number | undefined;

  function outage(what: string, cause: unknown): void {
    if (outageSince !== undefined) {
      logger.debug({ path: config.path, err: cause, attempts: backoff.attempts }, 'serial scanner still unavailable');
      return;
    }
    outageSince = now();
    logger.warn({ err: scannerErrors.SCANNER_ERR_SERIAL(`${config.path}: ${what}`, cause) }, 'serial scanner unavailable');
  }

  async function tryOpen(): Promise<SerialConnection | undefined> {
    try {
      const connection = await open(config);
      counts.opens++;
      if (outageSince !== undefined) logger.info({ path: config.path, downMs: now() - outageSince, opens: counts.opens }, 'serial scanner back');
      else logger.info({ path: config.path, baudRate: config.baudRate }, 'serial scanner open');
      outageSince = undefined;
      return connection;
    } catch (err) {
      counts.openFailures++;
      outage('cannot open', err);
      return undefined;
    }
  }

  async function* readFrom(connection: SerialConnection): AsyncGenerator<ScanInput> {
    try {
      const lines = readBoundedLines(connection.chunks, config.maxLineBytes, () => stopped, { terminator: config.terminator, unterminated: 'cut' });
      for await (const line of lines) {
        // Only a line proves the device works: one that opens and fails at once must not reopen at full speed.
        backoff.reset();
        const item = parser.parse(line);
        if (item !== undefined) yield item;
        if (stopped) return;
      }
    } finally {
      current = undefined;
      await connection.close();
    }
  }

  async function* run(): AsyncGenerator<ScanInput> {
    while (!stopped) {
      opening = tryOpen();
      const connection = await opening;
      opening = undefined;
      if (connection === undefined) {
        await pause.wait(backoff.next());
        continue;
      }
      current = connection;
      if (stopped) break;
      yield* readFrom(connection);
      if (stopped) break;
      counts.disconnects++;
      outage('the device went away', connection.endReason());
      await pause.wait(backoff.next());
    }
    await current?.close();
  }

  return {
    config,
    [Symbol.asyncIterator]() {
      iterator ??= run();
      return iterator;
    },
    stop() {
      stopped = true;
      pause.wake();
      stopping ??= (async () => {
        // An open under way finishes first, so that its descriptor is closed too.
        const pending = await opening;
        await Promise.all([pending?.close(), current?.close()]);
      })();
      return stopping;
    },
    stats: () => ({ ...parser.stats(), ...counts, reconnects: Math.max(0, counts.opens - 1), connected: current !== undefined }),
  };
}
