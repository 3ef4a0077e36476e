import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { missingPeers, type DebianPeer } from '../../test-peers/debian-peers.ts';
import { parseBenchOptions } from '../src/bench-options.ts';
import { runBench } from '../src/main.ts';
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

describe('npm run bench, before and after the scenarios', () => {
  const ran: string[] = [];
  const passing = (name: string): Scenario => ({
    name,
    question: `What does ${name} measure?`,
    run: () => {
      ran.push(name);
      return Promise.resolve({ scenario: name, question: `What does ${name} measure?`, figures: { answers: 42 }, targets: [], notes: [] });
    },
  });

  it('refuses to start when a peer a chosen scenario needs is missing, naming the scenario, the program and the package', async () => {
    const out = await mkdtemp(join(tmpdir(), 'cityops-bench-peers-'));
    onTestFinished(() => rm(out, { recursive: true, force: true }));
    const absent: DebianPeer = { name: 'no-such-broker', package: 'no-such-package', path: join(out, 'bin', 'no-such-broker') };
    const needy: Scenario = { ...passing('needy'), peers: [absent, { name: 'node', package: 'nodejs', path: process.execPath }] };
    ran.length = 0;
    const err = await runBench(['--out', out], [passing('first'), needy, { ...passing('second'), peers: [absent] }]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BENCH_ERR_PEER_MISSING' });
    expect((err as Error).message).toContain(`needy, second need no-such-broker (${absent.path}, Debian package no-such-package): run \`npm run setup\``);
    expect(ran).toEqual([]);
    expect(await readdir(out)).toEqual([]);
  });

  it('writes the report of the scenarios that finished when a later one fails', async () => {
    const out = await mkdtemp(join(tmpdir(), 'cityops-bench-partial-'));
    onTestFinished(() => rm(out, { recursive: true, force: true }));
    const failing: Scenario = { ...passing('broken'), run: () => Promise.reject(new Error('the peer went away')) };
    const err = await runBench(['--out', out], [passing('finished'), failing, passing('never')]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BENCH_ERR_SCENARIO_FAILED' });
    expect(((err as Error).cause as Error).message).toBe('the peer went away');
    expect((err as Error).message).toMatch(/broken: the peer went away; the report of the 1 scenario\(s\) before it: .*\.md/);
    const markdown = (await readdir(out)).filter((f) => f.endsWith('.md'));
    expect(markdown).toHaveLength(1);
    const report = await readFile(join(out, markdown[0]!), 'utf8');
    expect(report).toContain('finished');
    expect(report).not.toContain('never');
  });

  it('finds a peer by its program and, where given, its probe', async () => {
    const node: DebianPeer = { name: 'node', package: 'nodejs', path: process.execPath };
    const broken: DebianPeer = { name: 'module', package: 'python3-module', path: process.execPath, probe: ['-e', 'process.exit(3)'] };
    const working: DebianPeer = { name: 'module-ok', package: 'python3-module', path: process.execPath, probe: ['-e', 'process.exit(0)'] };
    const absent: DebianPeer = { name: 'absent', package: 'absent', path: '/nonexistent/absent' };
    expect(await missingPeers([node, broken, working, absent, absent])).toEqual([broken, absent]);
  });
});
