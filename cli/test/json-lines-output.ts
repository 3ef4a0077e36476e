import type { PassThrough } from 'node:stream';

/** The JSON lines a command writes to `out`, parsed as they come (other lines ignored). */
export function collect(out: PassThrough): Record<string, unknown>[] {
  const printed: Record<string, unknown>[] = [];
  let rest = '';
  out.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('{')) printed.push(JSON.parse(line) as Record<string, unknown>);
  });
  return printed;
}
