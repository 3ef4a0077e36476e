import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LINE_CUT, LINE_TOO_LONG, readBoundedLines, type BoundedLinesOptions } from '../src/bounded-lines.ts';

/** Lines as text (symbols by name) from the given chunks. */
async function lines(chunks: readonly string[], options: BoundedLinesOptions, maxLineBytes = 64): Promise<string[]> {
  const source = Readable.from(chunks.map((chunk) => Buffer.from(chunk, 'latin1')));
  const out: string[] = [];
  for await (const line of readBoundedLines(source, maxLineBytes, () => false, options)) {
    out.push(line === LINE_TOO_LONG ? 'TOO_LONG' : line === LINE_CUT ? 'CUT' : line.toString('latin1'));
  }
  return out;
}

describe('bounded lines with a terminator', () => {
  it('any: CR, LF and CR LF each end one line, also when CR and LF come in different chunks', async () => {
    expect(await lines(['a\rb\nc\r\nd\r', '\ne\r', 'f\n\n'], { terminator: 'any' })).toEqual(['a', 'b', 'c', 'd', 'e', 'f', '']);
    // A CR at a chunk's end followed by data: the next line starts there, nothing is swallowed.
    expect(await lines(['x\r', 'y\r', '\r\n'], { terminator: 'any' })).toEqual(['x', 'y', '']);
  });

  it('cr, lf and crlf split only where told', async () => {
    expect(await lines(['a\rb\nc\r'], { terminator: 'cr' })).toEqual(['a', 'b\nc']);
    expect(await lines(['a\rb\nc\r\n'], { terminator: 'lf' })).toEqual(['a\rb', 'c\r']);
    expect(await lines(['a\rb\r', '\nc\r\n'], { terminator: 'crlf' })).toEqual(['a\rb', 'c']);
  });

  it('drops an over-long line up to its terminator; a stream ending mid-line is cut or a line, as asked', async () => {
    expect(await lines(['ok\r', 'x'.repeat(40), 'x'.repeat(40), 'y'.repeat(100), '\r\nnext\r', 'par'], { terminator: 'any', unterminated: 'cut' })).toEqual([
      'ok',
      'TOO_LONG',
      'next',
      'CUT',
    ]);
    expect(await lines(['last'], {})).toEqual(['last']);
  });
});
