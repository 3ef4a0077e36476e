const LF = 0x0a;
const CR = 0x0d;

/** A line longer than the bound: it was discarded up to its terminator. */
export const LINE_TOO_LONG = Symbol('line too long');
/** The stream ended inside a line (a device unplugged mid-code): the piece was dropped. */
export const LINE_CUT = Symbol('line cut');

export type LineStream = AsyncIterable<Buffer | string> & { destroy?: (error?: Error) => void };

/**
 * How lines end. `lf`: LF (a CR before it is left to the caller's trim, as before); `cr`: CR (many
 * serial scanners' default); `crlf`: CR LF, the CR dropped; `any`: CR, LF or CR LF, where an LF right
 * after a CR (also in the next chunk) ends no second, empty line.
 */
export const LINE_TERMINATORS = ['any', 'cr', 'lf', 'crlf'] as const;
export type LineTerminator = (typeof LINE_TERMINATORS)[number];

export interface BoundedLinesOptions {
  readonly terminator?: LineTerminator;
  /** What the end of the stream does to an unterminated last line: `line` yields it (a file's last line), `cut` yields LINE_CUT. */
  readonly unterminated?: 'line' | 'cut';
}

export const isBlankLine = (line: Buffer): boolean => line.every((b) => b === 0x20 || b === 0x09 || b === 0x0d);

/**
 * Finds terminators in one chunk. For `any`, the next CR and the next LF are remembered, so a chunk
 * of many LF lines is not rescanned for a CR it does not hold (that would be quadratic).
 */
function terminatorsIn(buf: Buffer, terminator: LineTerminator): (from: number) => number {
  if (terminator === 'cr') return (from) => buf.indexOf(CR, from);
  if (terminator !== 'any') return (from) => buf.indexOf(LF, from);
  let nextCr = -2;
  let nextLf = -2;
  return (from) => {
    if (nextCr !== -1 && nextCr < from) nextCr = buf.indexOf(CR, from);
    if (nextLf !== -1 && nextLf < from) nextLf = buf.indexOf(LF, from);
    if (nextCr === -1) return nextLf;
    if (nextLf === -1) return nextCr;
    return Math.min(nextCr, nextLf);
  };
}

/**
 * Splits a byte stream into lines, never holding more than `maxLineBytes` of one line: a producer
 * that never writes a terminator cannot grow memory. An over-long line yields LINE_TOO_LONG once and
 * is dropped up to its terminator. A yielded line may be a view onto the stream's chunk: use it
 * before asking for the next one.
 */
export function readBoundedLines(
  readable: LineStream,
  maxLineBytes: number,
  stopped: () => boolean,
  options?: BoundedLinesOptions & { readonly unterminated?: 'line' },
): AsyncGenerator<Buffer | typeof LINE_TOO_LONG>;
export function readBoundedLines(
  readable: LineStream,
  maxLineBytes: number,
  stopped: () => boolean,
  options: BoundedLinesOptions,
): AsyncGenerator<Buffer | typeof LINE_TOO_LONG | typeof LINE_CUT>;
export async function* readBoundedLines(
  readable: LineStream,
  maxLineBytes: number,
  stopped: () => boolean,
  options: BoundedLinesOptions = {},
): AsyncGenerator<Buffer | typeof LINE_TOO_LONG | typeof LINE_CUT> {
  const terminator = options.terminator ?? 'lf';
  // Pieces of the line being assembled; their total stays <= maxLineBytes.
  let parts: Buffer[] = [];
  let partBytes = 0;
  let discarding = false; // inside an over-long line (already reported): drop bytes up to its terminator
  let afterCr = false; // `any`: the last byte seen ended a line with CR, so an LF now belongs to it

  for await (const chunk of readable) {
    if (stopped()) return;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (buf.length === 0) continue;
    const find = terminatorsIn(buf, terminator);
    let start = 0;
    // UTF-8 never uses 0x0a or 0x0d inside a multi-byte character, so splitting bytes on them is safe.
    for (let end = find(start); end !== -1; end = find(start)) {
      const endsWithCr = buf[end] === CR;
      if (afterCr && end === start && !endsWithCr) {
        afterCr = false;
        start = end + 1;
        continue;
      }
      afterCr = terminator === 'any' && endsWithCr;
      let piece = buf.subarray(start, end);
      start = end + 1;
      if (discarding) {
        discarding = false;
        continue;
      }
      if (terminator === 'crlf') {
        if (piece.at(-1) === CR) piece = piece.subarray(0, -1);
        else if (piece.length === 0 && parts.at(-1)?.at(-1) === CR) dropLastByte();
      }
      const fits = partBytes + piece.length <= maxLineBytes;
      const line = !fits ? LINE_TOO_LONG : parts.length === 0 ? piece : Buffer.concat([...parts, piece]);
      parts = [];
      partBytes = 0;
      yield line;
      if (stopped()) return;
    }
    const rest = buf.subarray(start);
    if (rest.length === 0) continue;
    afterCr = false;
    if (discarding) continue;
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
  if (partBytes > 0 && !stopped()) yield options.unterminated === 'cut' ? LINE_CUT : Buffer.concat(parts);

  /** CR LF split across chunks: the CR is the last byte held. */
  function dropLastByte(): void {
    const last = parts.at(-1);
    if (last === undefined) return;
    parts[parts.length - 1] = last.subarray(0, -1);
    partBytes--;
  }
}
