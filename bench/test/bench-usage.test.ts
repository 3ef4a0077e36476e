import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseBenchOptions } from '../src/bench-options.ts';
import type { Scenario } from '../src/scenario.ts';

// Issue 19: `npm run bench -- --help` printed a stack trace. It prints the usage; a misuse prints
// one line and exits with code 2, before any scenario starts.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function npmRunBench(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npm', ['run', '--silent', 'bench', '--', ...args], { cwd: ROOT, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const scenario = (name: string, onlyWhenNamed = false): Scenario => ({
  name,
  question: `What does ${name} measure?`,
  onlyWhenNamed,
  run: () => Promise.reject(new Error('not run here')),
});

describe('npm run bench, its command line', () => {
  it('prints the usage with every scenario on --help, exit code 0', async () => {
    const result = await npmRunBench(['--help']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^npm run bench \[-- <scenario>\.\.\.\]/);
    for (const name of ['codec', 'ingest', 'verify', 'soak', 'hostile']) expect(result.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(result.stderr).toBe('');
  }, 120_000);

  it.each([
    [['--bogus'], /^npm run bench: BENCH_ERR_USAGE: .*Unknown option '--bogus'/],
    [['no-such-scenario'], /^npm run bench: BENCH_ERR_USAGE: .*unknown scenario "no-such-scenario"; known: codec, /],
    [['codec', '--duration', 'soon'], /^npm run bench: BENCH_ERR_USAGE: .*--duration must be seconds from 1 to 86400, got "soon"/],
  ])('answers %j with one line and exit code 2', async (args, pattern) => {
    const result = await npmRunBench(args);
    const lines = result.stderr.split('\n').filter((l) => l !== '');
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(result.code).toBe(2);
  }, 120_000);

  it('checks durations and names before running anything', () => {
    const all = [scenario('a'), scenario('b'), scenario('long', true)];
    expect(parseBenchOptions([], all, '/out').chosen.map((s) => s.name)).toEqual(['a', 'b']);
    expect(parseBenchOptions(['--smoke'], all, '/out').chosen.map((s) => s.name)).toEqual(['a', 'b', 'long']);
    expect(parseBenchOptions(['long', '--duration', '2.5'], all, '/out')).toMatchObject({ durationS: 2.5, out: '/out', help: false });
    expect(parseBenchOptions(['-h'], all, '/out').help).toBe(true);
    for (const bad of [['--duration', '0'], ['--duration', '-5'], ['--duration', 'NaN'], ['--duration', '1e9'], ['--duration', '86401'], ['--duration'], ['x'.repeat(10_000)]]) {
      expect(() => parseBenchOptions(bad, all, '/out'), bad.join(' ').slice(0, 30)).toThrow(expect.objectContaining({ code: 'BENCH_ERR_USAGE' }));
    }
  });
});
