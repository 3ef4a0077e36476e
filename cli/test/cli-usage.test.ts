import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { memoryEnv } from '../../test-peers/memory-env.ts';
import { COMMANDS } from '../src/command-table.ts';
import { runProcess, startProcess, type Finished } from './run-process.ts';

// Issue 19: `npx cityops`, `npm link` / `npm install -g` give a `cityops` command; every command
// answers --help with its usage and a bad option with one line and exit code 2, never a stack
// trace. Spawned as a user runs them: through the bin shim, from a directory outside the checkout.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// What npx runs in the checkout: npm links the workspace's bin here.
const LINKED_BIN = join(ROOT, 'node_modules', '.bin', 'cityops');
const NAMES = Object.keys(COMMANDS);

/** The environment of a newcomer's shell: no allocator settings, so the shim applies them. */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of [...Object.keys(memoryEnv()), 'CITYOPS_BIN_RERUN', 'CITYOPS_DEBUG']) delete env[key];
  return env;
}

function expectOneLine(result: Finished, pattern: RegExp): void {
  const lines = result.stderr.split('\n').filter((l) => l !== '');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.code).toBe(2);
}

/** Runs `items` through `run`, two at a time (the machine's cores are shared). */
async function twoAtATime<T, R>(items: readonly T[], run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await run(items[i]!);
    }
  };
  await Promise.all([lane(), lane()]);
  return results;
}

describe('the cityops command (bin shim)', () => {
  let away: string;
  // The settings already set, as scripts/cityops.sh does: one process per run (half the CPU of a
  // newcomer's two on Node 20); the last tests run without them.
  const cityops = (args: readonly string[], env: NodeJS.ProcessEnv = { ...plainEnv(), ...memoryEnv() }) =>
    runProcess(process.execPath, [LINKED_BIN, ...args], { cwd: away, env });

  beforeAll(async () => {
    away = await mkdtemp(join(tmpdir(), 'cityops-usage-'));
  });
  afterAll(async () => {
    await rm(away, { recursive: true, force: true });
  });

  it('is linked into node_modules/.bin by npm ci and lists every command on --help, from any directory', async () => {
    expect(await realpath(LINKED_BIN)).toBe(join(ROOT, 'cli', 'bin', 'cityops.js'));
    for (const args of [['--help'], ['-h'], ['help'], []]) {
      const result = await cityops(args, args.length === 0 ? plainEnv() : undefined);
      expect(result.code, result.stderr).toBe(0);
      for (const name of NAMES) expect(result.stdout).toContain(`cityops ${name}`);
    }
  }, 120_000);

  it('answers --help on every command with its usage on stdout, exit code 0', async () => {
    const results = await twoAtATime(NAMES, (name) => cityops([name, '--help']));
    NAMES.forEach((name, i) => {
      const result = results[i]!;
      expect(result.code, `${name}: ${result.stderr}`).toBe(0);
      expect(result.stdout.startsWith(`cityops ${name}`), `${name}: ${result.stdout.slice(0, 200)}`).toBe(true);
      expect(result.stdout).toContain('--stop-deadline-ms');
      expect(result.stderr).toBe('');
    });
    const viaHelp = await cityops(['help', 'verify']);
    expect(viaHelp.stdout.startsWith('cityops verify')).toBe(true);
  }, 300_000);

  it('answers a bad option on every command with one line on stderr and exit code 2', async () => {
    const results = await twoAtATime(NAMES, (name) => cityops([name, '--no-such-option']));
    NAMES.forEach((name, i) => expectOneLine(results[i]!, new RegExp(`^cityops ${name}: .*no-such-option`)));
  }, 300_000);

  it('answers other misuse with one line and exit code 2: unknown command, hostile names, bad values', async () => {
    const cases: [string[], RegExp][] = [
      [['no-such-command'], /^cityops: unknown command "no-such-command" \(cityops --help lists the commands: up, /],
      [['--no-such-option'], /^cityops: unknown option "--no-such-option"/],
      [['constructor'], /^cityops: unknown command "constructor"/],
      [['__proto__', '--help'], /^cityops: unknown command "__proto__"/],
      [['help', 'no-such-command'], /^cityops: unknown command "no-such-command"/],
      [[`x${'\u{1F600}'.repeat(5000)}`], /^cityops: unknown command "x/],
      [['up', '--stop-deadline-ms', 'soon'], /^cityops up: CLI_ERR_USAGE: .*--stop-deadline-ms: "soon"/],
      [['analytics'], /^cityops analytics: CLI_ERR_USAGE: .*--mqtt is required \(cityops analytics --help shows the usage\)$/],
      [['codes', 'issue', '--kind', 'no-such-kind'], /^cityops codes: CLI_ERR_USAGE: .*--kind must be one of/],
      [['verify', '--trust', join(away, 'missing.json')], /^cityops verify: CLI_ERR_USAGE: .*cannot read --trust/],
      [['token', 'new', '--role'], /^cityops token: .*--role/],
    ];
    const results = await twoAtATime(cases, ([args]) => cityops(args));
    cases.forEach(([args, pattern], i) => {
      const result = results[i]!;
      expect(result.stderr.length, args.join(' ').slice(0, 40)).toBeLessThan(1_000);
      expectOneLine(result, pattern);
    });
  }, 300_000);

  it('runs with the allocator settings of scripts/memory.env and stops in order on SIGTERM to the pid it was started as', async () => {
    const keys = await cityops(['codes', 'keygen', '--out', join(away, 'keys')]);
    expect(keys.code, keys.stderr).toBe(0);
    const verify = startProcess(process.execPath, [LINKED_BIN, 'verify', '--trust', join(away, 'keys', 'trust.json')], { cwd: away, env: plainEnv() });
    verify.child.stdin?.write('not a code\n');
    await vi.waitFor(() => expect(verify.stdout()).toContain('"verdict":"deny"'), { timeout: 60_000, interval: 50 });
    // Node >= 22.15 re-executes in place (same pid); Node 20 runs main.ts in a child of the shim.
    const pid = verify.child.pid!;
    const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter((p) => p !== '').map(Number);
    const mainPid = children.length === 0 ? pid : children[0]!;
    const environ = (await readFile(`/proc/${mainPid}/environ`, 'utf8')).split('\0');
    for (const [key, value] of Object.entries(memoryEnv())) expect(environ).toContain(`${key}=${value}`);
    // The broker's V8 flags are for `cityops ingest` alone.
    const cmdline = (await readFile(`/proc/${mainPid}/cmdline`, 'utf8')).split('\0');
    for (const flag of memoryEnv().CITYOPS_INGEST_NODE_FLAGS!.split(' ')) expect(cmdline).not.toContain(flag);
    verify.child.kill('SIGTERM');
    const result = await verify.finished;
    expect(result.stderr).toContain('SIGTERM: stopping');
    expect(result.stderr).not.toContain('exiting at once');
    expect(result.code).toBe(0);
    if (mainPid !== pid) await expect(readdir(`/proc/${mainPid}`)).rejects.toThrow();
  }, 180_000);

  it('stops once on a Ctrl-C, which signals the whole process group (shim and main.ts alike)', async () => {
    const keys = await cityops(['codes', 'keygen', '--out', join(away, 'keys-int')]);
    expect(keys.code, keys.stderr).toBe(0);
    const verify = startProcess(process.execPath, [LINKED_BIN, 'verify', '--trust', join(away, 'keys-int', 'trust.json')], { cwd: away, env: plainEnv(), group: true });
    verify.child.stdin?.write('not a code\n');
    await vi.waitFor(() => expect(verify.stdout()).toContain('"verdict":"deny"'), { timeout: 60_000, interval: 50 });
    process.kill(-verify.child.pid!, 'SIGINT');
    const result = await verify.finished;
    expect(result.stderr.match(/SIGINT: stopping/g)).toHaveLength(1);
    expect(result.stderr).not.toContain('exiting at once');
    expect(result.code).toBe(0);
  }, 180_000);

  it('gives the same command to npx in the checkout and to npm install -g from the checkout', async () => {
    const npx = await promisify(execFile)('npx', ['--no-install', 'cityops', 'token', '--help'], { cwd: join(ROOT, 'analytics'), env: plainEnv() });
    expect(npx.stdout.startsWith('cityops token new')).toBe(true);
    const prefix = join(away, 'global');
    // A folder installs as a link (npm's install-links defaults to false): nothing is fetched.
    await promisify(execFile)('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', ROOT], { cwd: away, env: plainEnv() });
    const installed = join(prefix, 'bin', 'cityops');
    expect(await realpath(installed)).toBe(join(ROOT, 'cli', 'bin', 'cityops.js'));
    const help = await runProcess(installed, ['device', '--help'], { cwd: away, env: plainEnv() });
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout.startsWith('cityops device')).toBe(true);
    const bad = await runProcess(installed, ['device', '--bogus'], { cwd: away, env: plainEnv() });
    expectOneLine(bad, /^cityops device: .*--bogus/);
  }, 180_000);
});
