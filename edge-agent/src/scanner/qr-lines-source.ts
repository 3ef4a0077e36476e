import { pino, type Logger } from 'pino';
import { readBoundedLines, type LineStream } from '../bounded-lines.ts';
import { createQrLineParser, type QrLineStats } from './qr-line-parser.ts';
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

export type QrLinesSourceStats = QrLineStats;

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
  const parser = createQrLineParser({ maxLineBytes }, { logger: deps.logger ?? pino({ name: 'scanner-agent' }), ...(deps.onBadLine ? { onBadLine: deps.onBadLine } : {}) });
  let stopped = false;
  let iterator: AsyncGenerator<ScanInput> | undefined;

  async function* run(): AsyncGenerator<ScanInput> {
    try {
      for await (const line of readBoundedLines(readable, maxLineBytes, () => stopped)) {
        const item = parser.parse(line);
        if (item !== undefined) yield item;
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
    stats: parser.stats,
  };
}
