const NEWLINE = 0x0a;

/** A line longer than the bound: it was discarded up to its newline. */
export const LINE_TOO_LONG = Symbol('line too long');

export type LineStream = AsyncIterable<Buffer | string> & { destroy?: (error?: Error) => void };

export const isBlankLine = (line: Buffer): boolean => line.every((b) => b === 0x20 || b === 0x09 || b === 0x0d);

/**
 * Splits a byte stream into lines, never holding more than `maxLineBytes` of one line: a producer
 * that never writes a newline cannot grow memory. An over-long line yields LINE_TOO_LONG once and
 * is dropped up to its newline. A last line without a newline still counts. A yielded line may be
 * a view onto the stream's chunk: use it before asking for the next one.
 */
export async function* readBoundedLines(
  readable: LineStream,
  maxLineBytes: number,
  stopped: () => boolean,
): AsyncGenerator<Buffer | typeof LINE_TOO_LONG> {
  // Pieces of the line being assembled; their total stays <= maxLineBytes.
  let parts: Buffer[] = [];
  let partBytes = 0;
  let discarding = false; // inside an over-long line (already reported): drop bytes up to its newline

  for await (const chunk of readable) {
    if (stopped()) return;
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
      const line = !fits ? LINE_TOO_LONG : parts.length === 0 ? piece : Buffer.concat([...parts, piece]);
      parts = [];
      partBytes = 0;
      yield line;
      if (stopped()) return;
    }
    const rest = buf.subarray(start);
    if (rest.length === 0 || discarding) continue;
    if (partBytes + rest.length > maxLineBytes) {
      parts = [];
      partBytes = 0;
      discarding = true;
      yield LINE_TOO_LONG;
      continue;
    }
    // Copy: a stream may reuse its chunk buffers.
    parts.push(Buffer.from(rest));
    partBytes += rest.length;
  }
  if (partBytes > 0 && !stopped()) yield Buffer.concat(parts);
}
