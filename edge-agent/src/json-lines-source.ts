import { compileSchemaCheck, readingSchema, type Reading } from '@cityops/protocol';
import { pino, type Logger } from 'pino';
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
const NEWLINE = 0x0a;

type Readable = AsyncIterable<Buffer | string> & { destroy?: (error?: Error) => void };

/**
 * Readings from JSON lines (e.g. stdin): `{"sensor","metric","value","ts"?,"alarm"?}` per line.
 * A bad line is counted, logged with AGENT_ERR_SOURCE_LINE and skipped; it never ends the source.
 */
export function createJsonLinesSource(
  readable: Readable,
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

  const isBlank = (line: Buffer) => line.every((b) => b === 0x20 || b === 0x09 || b === 0x0d);

  async function* run(): AsyncGenerator<Reading> {
    try {
      yield* readLines();
    } catch (err) {
      // stop() destroys the stream under a pending read: that ends the source, it is no failure.
      if (!stopped) throw err;
    }
  }

  async function* readLines(): AsyncGenerator<Reading> {
    // Pieces of the line being assembled; their total stays <= maxLineBytes.
    let parts: Buffer[] = [];
    let partBytes = 0;
    let discarding = false; // inside an over-long line (already counted): drop bytes up to its newline

    for await (const chunk of readable) {
      if (stopped) return;
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      let start = 0;
      // UTF-8 never uses 0x0a inside a multi-byte character, so splitting bytes on it is safe.
      for (let nl = buf.indexOf(NEWLINE, start); nl !== -1; nl = buf.indexOf(NEWLINE, start)) {
        const piece = buf.subarray(start, nl);
        start = nl + 1;
        if (discarding) {
          discarding = false;
          continue;
        }
        const fits = partBytes + piece.length <= maxLineBytes;
        const line = !fits ? undefined : parts.length === 0 ? piece : Buffer.concat([...parts, piece]);
        parts = [];
        partBytes = 0;
        if (line === undefined) {
          tooLong();
          continue;
        }
        if (isBlank(line)) continue;
        const reading = parseLine(line);
        if (reading !== undefined) yield reading;
        if (stopped) return;
      }
      const rest = buf.subarray(start);
      if (rest.length === 0 || discarding) continue;
      if (partBytes + rest.length > maxLineBytes) {
        tooLong();
        parts = [];
        partBytes = 0;
        discarding = true;
        continue;
      }
      // Copy: a stream may reuse its chunk buffers.
      parts.push(Buffer.from(rest));
      partBytes += rest.length;
    }
    // A last line without a newline still counts.
    if (partBytes > 0 && !stopped) {
      const line = Buffer.concat(parts);
      if (!isBlank(line)) {
        const reading = parseLine(line);
        if (reading !== undefined) yield reading;
      }
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
