import type { PassThrough } from 'node:stream';

/** Every JSON line a command prints to `out`, as it prints it (other lines are skipped). */
export function collectJsonLines(out: PassThrough): Record<string, unknown>[] {
  const printed: Record<string, unknown>[] = [];
  let rest = '';
  out.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('{')) printed.push(JSON.parse(line) as Record<string, unknown>);
  });
  return printed;
}
