import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { verifyCommand } from '../src/commands/verify.ts';
import { collectJsonLines } from './printed-json.ts';

/** `cityops verify ARGV` with `lines` on its stdin: the JSON lines it printed, in order. */
export async function runVerify(argv: string[], lines: readonly string[] = []): Promise<Record<string, unknown>[]> {
  const out = new PassThrough();
  const printed = collectJsonLines(out);
  await verifyCommand(argv, out, Readable.from(lines.map((l) => `${l}\n`)));
  out.end();
  await once(out, 'end');
  return printed;
}
