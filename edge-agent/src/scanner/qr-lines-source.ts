import { VENUE_ID_PATTERN } from '@cityops/verifier';
import { pino, type Logger } from 'pino';
import { isBlankLine, LINE_TOO_LONG, readBoundedLines, type LineStream } from '../bounded-lines.ts';
import type { ScanInput } from './scanner-agent.ts';
import type { ScanSource } from './scan-source.ts';
import { scannerErrors } from './scanner-errors.ts';

export interface QrLinesSourceOptions {
  /**
   * Longest line accepted (a QR code holds at most 4296 characters). Past it the line is discarded
   * up to the next newline and counted, so a producer without newlines cannot grow memory.
   */
  readonly maxLineBytes?: number;
}

export interface QrLinesSourceStats {
  /** Lines read, blank ones included. */
  lines: number;
  codes: number;
  badLines: number;
}

export const DEFAULT_MAX_QR_LINE_BYTES = 16 * 1024;

/**
 * QR texts from lines (stdin of `cityops scan`): each line is the raw QR text, or JSON
 * `{"qr": "...", "venue": "..."}`. Blank lines are skipped; a bad line (not such JSON, too long)
 * is counted, logged with SCANNER_ERR_INPUT_LINE and skipped, never the end of the source.
 */
export function createQrLinesSource(
  readable: LineStream,
  options: QrLinesSourceOptions = {},
  deps: {
    readonly logger?: Logger;
    /** Called in line order, before the next code is yielded: a CLI can answer every line in order. */
    readonly onBadLine?: (line: number, reason: string) => void;
  } = {},
): ScanSource<QrLinesSourceStats> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_QR_LINE_BYTES;
  if (!Number.isInteger(maxLineBytes) || maxLineBytes < 64) throw scannerErrors.SCANNER_ERR_CONFIG(`maxLineBytes must be an integer >= 64, got ${String(maxLineBytes)}`);
  const logger = deps.logger ?? pino({ name: 'scanner-agent' });
  const stats: QrLinesSourceStats = { lines: 0, codes: 0, badLines: 0 };
  let stopped = false;
  let iterator: AsyncGenerator<ScanInput> | undefined;

  function bad(reason: string): undefined {
    stats.badLines++;
    logger.warn({ err: scannerErrors.SCANNER_ERR_INPUT_LINE(`line ${stats.lines}: ${reason}`) }, 'bad input line');
    deps.onBadLine?.(stats.lines, reason);
    return undefined;
  }

  function parseLine(bytes: Buffer): ScanInput | undefined {
    const text = bytes.toString('utf8').trim();
    if (!text.startsWith('{')) {
      stats.codes++;
      return { qr: text };
    }
    let value: { qr?: unknown; venue?: unknown };
    try {
      value = JSON.parse(text) as typeof value;
    } catch (err) {
      return bad(`not JSON (${(err as Error).message.slice(0, 100)})`);
    }
    if (typeof value.qr !== 'string' || value.qr === '') return bad('"qr" must be a non-empty string');
    if (value.venue !== undefined && (typeof value.venue !== 'string' || !VENUE_ID_PATTERN.test(value.venue))) return bad('"venue" is not a venue id');
    stats.codes++;
    return { qr: value.qr, ...(value.venue === undefined ? {} : { venue: value.venue }) };
  }

  async function* run(): AsyncGenerator<ScanInput> {
    try {
      for await (const line of readBoundedLines(readable, maxLineBytes, () => stopped)) {
        // Every line counts (blank ones too), so that `line` in a report is the line's number.
        stats.lines++;
        if (line === LINE_TOO_LONG) {
          bad(`longer than ${maxLineBytes} bytes`);
        } else if (!isBlankLine(line)) {
          const item = parseLine(line);
          if (item !== undefined) yield item;
        }
        if (stopped) return;
      }
    } catch (err) {
      // stop() destroys the stream under a pending read: that ends the source, it is no failure.
      if (!stopped) throw err;
    }
  }

  return {
    [Symbol.asyncIterator]() {
      iterator ??= run();
      return iterator;
    },
    stop() {
      stopped = true;
      readable.destroy?.();
      return Promise.resolve();
    },
    stats: () => ({ ...stats }),
  };
}
