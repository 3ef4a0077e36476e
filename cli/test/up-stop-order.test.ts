import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { startCityops, type CityopsProcess } from '../../test-peers/cityops-process.ts';

/** Lines stderr holds after the line that starts with `marker`: pino JSON at warn (40) or above, or any other text. */
function warningsAfter(stderr: string, marker: string): string[] {
  const from = stderr.indexOf(marker);
  expect(from, `stderr has "${marker}"`).toBeGreaterThanOrEqual(0);
  return stderr
    .slice(from)
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '')
    .filter((line) => !line.startsWith('{') || (JSON.parse(line) as { level: number }).level >= 40);
}

describe('Ctrl-C on cityops up (issue 19)', () => {
  let dir: string;
  let up: CityopsProcess | undefined;
  afterAll(async () => {
    await up?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  it('stops the devices first, then the services, then the store, with no warning on the way', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-up-stop-'));
    up = await startCityops(
      ['up', '--data', join(dir, 'city'), '--mqtt-port', '0', '--http-port', '0', '--verifier-port', '0', '--analytics-port', '0', '--gateways', '4', '--rate', '200', '--scanners', '2', '--scan-rate', '20', '--json'],
      { timeoutMs: 90_000 },
    );
    const printed: string[] = [];
    let rest = '';
    up.child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      printed.push(...lines);
    });
    // Stopped while busy: gateways publishing, scanners with questions in flight to the verifier.
    await vi.waitFor(
      async () => {
        const verifier = await (await fetch(`${String(up!.ready.verifierUrl)}/metrics`)).text();
        expect(verifier).toMatch(/cityops_verifier_verdicts_total\{[^}]*transport="mqtt"[^}]*\} [1-9]/);
        const ingest = await (await fetch(`${String(up!.ready.httpUrl)}/metrics`)).text();
        expect(ingest).toMatch(/cityops_ingest_readings_total(\{[^}]*\})? [1-9]/);
      },
      { timeout: 60_000, interval: 200 },
    );
    const exited = once(up.child, 'exit');
    up.child.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    expect(code, up.stderr()).toBe(0);

    // Printed as each step finished, so in the order they ran.
    const stopped = printed.flatMap((line) => (line.startsWith('{"stopped"') ? [JSON.parse(line) as { stopped: string; failed?: boolean }] : []));
    expect(stopped.map((s) => s.stopped)).toEqual(['scanners', 'gateways', 'analytics', 'verifier', 'ingest', 'slow-inserts', 'store']);
    expect(stopped.filter((s) => s.failed === true)).toEqual([]);
    expect(warningsAfter(up.stderr(), 'SIGINT: stopping…')).toEqual([]);
  }, 150_000);
});
