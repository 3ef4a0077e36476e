import { VENUE_ID_PATTERN } from '@cityops/verifier';
import type { Logger } from 'pino';
import { isBlankLine, LINE_CUT, LINE_TOO_LONG } from '../bounded-lines.ts';
import type { ScanInput } from './scanner-agent.ts';
import { scannerErrors } from './scanner-errors.ts';

export interface QrLineStats {
  /** Lines read, blank ones included. */
  lines: number;
  codes: number;
  badLines: number;
}

export interface QrLineParserOptions {
  readonly maxLineBytes: number;
  /** Framing a hardware scanner adds around each code (e.g. STX and ETX, or the AIM identifier `]Q1`): removed where present. */
  readonly prefix?: string;
  readonly suffix?: string;
  /**
   * Whether a line may be JSON `{"qr","venue"}` (default true, for stdin). A hardware scanner prints
   * what a code holds: there a JSON line was put into a QR code by its bearer, and its venue would pick
   * another venue's policy. Without JSON such a line is the code's text, and verified (and refused) as one.
   */
  readonly json?: boolean;
}

export interface QrLineParserDeps {
  readonly logger: Logger;
  /** For the bad-line log's interval. */
  readonly now?: () => number;
  /** Called in line order, before the next code is yielded: a CLI can answer every line in order. */
  readonly onBadLine?: (line: number, reason: string) => void;
}

/** Bad lines are logged at most once per this (with how many were not): a noisy line must not flood the log. */
export const BAD_LINE_LOG_INTERVAL_MS = 10_000;

export type ReadLine = Buffer | typeof LINE_TOO_LONG | typeof LINE_CUT;

// C0 controls but TAB, DEL, and U+FFFD (what invalid UTF-8 decodes to). Base45 (RFC 9285 §4) and
// JSON text hold none of them: such a line is line noise (a wrong baud rate, a glitch), not a code,
// and is not sent on as one (a deny for noise would look like a forgery at the door's statistics).
// eslint-disable-next-line no-control-regex
const NOT_TEXT = /[\u0000-\u0008\u000a-\u001f\u007f\ufffd]/;

/**
 * One line of a code source: the raw QR text, or JSON `{"qr": "...", "venue": "..."}`. Blank lines
 * are skipped; a bad line (not such JSON, too long, cut off, not text) is counted, logged with
 * SCANNER_ERR_INPUT_LINE and skipped. Shared by the stdin and the serial sources.
 */
export function createQrLineParser(options: QrLineParserOptions, deps: QrLineParserDeps) {
  const { maxLineBytes, prefix = '', suffix = '', json = true } = options;
  const now = deps.now ?? Date.now;
  const stats: QrLineStats = { lines: 0, codes: 0, badLines: 0 };
  let loggedAt = -Infinity;
  let unlogged = 0;

  function bad(reason: string): undefined {
    stats.badLines++;
    const at = now();
    if (at - loggedAt >= BAD_LINE_LOG_INTERVAL_MS) {
      deps.logger.warn({ err: scannerErrors.SCANNER_ERR_INPUT_LINE(`line ${stats.lines}: ${reason}`), badLines: stats.badLines, notLogged: unlogged }, 'bad input line');
      loggedAt = at;
      unlogged = 0;
    } else {
      unlogged++;
    }
    deps.onBadLine?.(stats.lines, reason);
    return undefined;
  }

  function unframe(text: string): string {
    let inner = text;
    if (prefix !== '' && inner.startsWith(prefix)) inner = inner.slice(prefix.length);
    if (suffix !== '' && inner.endsWith(suffix)) inner = inner.slice(0, -suffix.length);
    return inner === text ? text : inner.trim();
  }

  function parseText(text: string): ScanInput | undefined {
    if (NOT_TEXT.test(text)) return bad('not text (control bytes or invalid UTF-8)');
    if (!json || !text.startsWith('{')) {
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

  return {
    /** The code on a line, or undefined for a blank or bad one. Every line counts, so `line` in a report is its number. */
    parse(line: ReadLine): ScanInput | undefined {
      stats.lines++;
      if (line === LINE_TOO_LONG) return bad(`longer than ${maxLineBytes} bytes`);
      if (line === LINE_CUT) return bad('cut off: the input ended inside the line');
      if (isBlankLine(line)) return undefined;
      const text = unframe(line.toString('utf8').trim());
      return text === '' ? undefined : parseText(text);
    },
    stats: (): QrLineStats => ({ ...stats }),
  };
}
