import { compileSchemaCheck, readingSchema, type Reading } from '@cityops/protocol';
import { pino, type Logger } from 'pino';
import { isBlankLine, LINE_TOO_LONG, readBoundedLines, type LineStream } from './bounded-lines.ts';
import { agentErrors } from './errors.ts';
import type { ReadingSource } from './reading-source.ts';

/** A line as a producer writes it: a reading whose `ts` may be left out (it then means "now"). */
const lineSchema = { ...readingSchema, required: ['sensor', 'metric', 'value'] } as const;

export interface JsonLinesSourceOptions {
  /**
   * Longest line accepted. A producer that never writes a newline must not make the agent hold an
   * ever-growing line: past this many bytes the line is discarded up to the next newline (counted).
   */
  readonly maxLineBytes?: number;
}

export interface JsonLinesSourceDeps {
  readonly now?: () => number;
  readonly logger?: Logger;
}

export interface JsonLinesSourceStats {
  lines: number;
  readings: number;
  badLines: number;
}

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;

/**
 * Readings from JSON lines (e.g. stdin): `{"sensor","metric","value","ts"?,"alarm"?}` per line.
 * A bad line is counted, logged with AGENT_ERR_SOURCE_LINE and skipped; it never ends the source.
 */
export function createJsonLinesSource(
  readable: LineStream,
  options: JsonLinesSourceOptions = {},
  deps: JsonLinesSourceDeps = {},
): ReadingSource<JsonLinesSourceStats> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  if (!Number.isInteger(maxLineBytes) || maxLineBytes < 64) {
    throw agentErrors.AGENT_ERR_CONFIG(`maxLineBytes must be an integer >= 64, got ${String(maxLineBytes)}`);
  }
  const now = deps.now ?? Date.now;
  const logger = deps.logger ?? pino({ name: 'edge-agent' });
  const check = compileSchemaCheck(lineSchema);
  const stats: JsonLinesSourceStats = { lines: 0, readings: 0, badLines: 0 };
  let stopped = false;
  let iterator: AsyncGenerator<Reading> | undefined;

  function bad(reason: string): undefined {
    stats.badLines++;
    logger.warn({ err: agentErrors.AGENT_ERR_SOURCE_LINE(`line ${stats.lines}: ${reason}`), badLines: stats.badLines }, 'bad input line');
    return undefined;
  }

  function parseLine(bytes: Buffer): Reading | undefined {
    stats.lines++;
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      return bad(`not JSON (${(err as Error).message.slice(0, 100)})`);
    }
    const problems = check(value);
    if (problems.length > 0) return bad(problems.join('; '));
    const line = value as Omit<Reading, 'ts'> & { ts?: number };
    if (!Number.isFinite(line.value)) return bad('/value must be a finite number'); // JSON allows 1e999
    stats.readings++;
    return { ...line, ts: line.ts ?? Math.floor(now()) };
  }

  function tooLong(): undefined {
    stats.lines++;
    return bad(`longer than ${maxLineBytes} bytes`);
  }

  async function* run(): AsyncGenerator<Reading> {
    try {
      for await (const line of readBoundedLines(readable, maxLineBytes, () => stopped)) {
        if (line === LINE_TOO_LONG) {
          tooLong();
          continue;
        }
        if (isBlankLine(line)) continue;
        const reading = parseLine(line);
        if (reading !== undefined) yield reading;
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
      // Ends a pending read; stream async iterators destroy their stream on early exit anyway.
      readable.destroy?.();
      return Promise.resolve();
    },
    stats: () => ({ ...stats }),
  };
}
