import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { codeLocation } from '../src/profiling/code-location.ts';
import { parseCpuProfile, summarizeCpuProfile, type CpuProfile } from '../src/profiling/cpu-profile-summary.ts';
import { describeProcess, readProfiles } from '../src/profiling/profile-directory.ts';
import { renderProfiles } from '../src/profiling/profile-markdown.ts';
import { profileReport } from '../src/profiling/profile-report-main.ts';
import { createSourceLineFinder } from '../src/profiling/source-line.ts';

const WORKSPACES = ['protocol', 'ingest', 'verifier', 'bench', 'cli'];
/** Recorded by bench/test/fixtures/profile-workload.mjs (how to regenerate: its header). */
const FIXTURE = fileURLToPath(new URL('./fixtures/profile-fixture', import.meta.url));

const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber });

/** A hand-made profile whose every figure is known: 1 ms steps, root → decode → (pack, parse), plus V8's pseudo-frames. */
function smallProfile(): CpuProfile {
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)', ''), children: [2, 5, 6, 7, 8] },
      { id: 2, callFrame: frame('decode', 'file:///anywhere/ingest/src/decode-batch.ts', 41), children: [3, 4] },
      { id: 3, callFrame: frame('pack', 'file:///x/node_modules/@scope/codec/lib/pack.js', 9) },
      { id: 4, callFrame: frame('parse', '') },
      { id: 5, callFrame: frame('(garbage collector)', '') },
      { id: 6, callFrame: frame('(idle)', '') },
      { id: 7, callFrame: frame('(program)', '') },
      { id: 8, callFrame: frame('importModuleDynamically', 'node:internal/modules/esm/utils', 3), children: [9] },
      { id: 9, callFrame: frame('decode', 'file:///anywhere/ingest/src/decode-batch.ts', 41) },
    ],
    startTime: 1_000_000,
    // Samples at 1, 2, ... 10 ms; the last one runs until endTime (2 ms more).
    endTime: 1_012_000,
    samples: [2, 2, 2, 3, 3, 4, 5, 6, 7, 9],
    timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
  };
}

describe('a CPU profile summarised', () => {
  it('counts each sample until the next, separates idle, GC, (program) and start-up, and rolls up by package', () => {
    const s = summarizeCpuProfile(smallProfile(), { workspaces: WORKSPACES, top: 10 });
    expect(s).toMatchObject({ wallMs: 12, sampledMs: 11, samples: 10, idleMs: 1, waitMs: 0, busyMs: 10, gcMs: 1, gcPercent: 10, programMs: 1, programPercent: 10, startupMs: 2, startupPercent: 20 });
    expect(s.top.slice(0, 3)).toEqual([
      { function: 'decode', location: 'ingest/src/decode-batch.ts:42', kind: 'ours', ms: 3, percent: 30 },
      { function: 'pack', location: 'node_modules/@scope/codec/lib/pack.js:10', kind: 'dependency', ms: 2, percent: 20 },
      // The call under a module load is start-up, whoever it is.
      { function: '(module loading)', location: '', kind: 'startup', ms: 2, percent: 20 },
    ]);
    expect(s.packages.map((p) => [p.pkg, p.ms])).toEqual([
      ['ingest', 3],
      ['node_modules/@scope/codec', 2],
      ['(start-up: module loading)', 2],
      ['(V8 builtins and native)', 1],
      ['(garbage collector)', 1],
      ['(program)', 1],
    ]);
  });

  it('tells ours, a dependency, Node and V8 apart by URL, wherever the checkout was', () => {
    expect(codeLocation('f', 'file:///home/ci/repo/verifier/src/pool/verify-task.ts', WORKSPACES)).toEqual({ kind: 'ours', pkg: 'verifier', file: 'verifier/src/pool/verify-task.ts' });
    expect(codeLocation('f', 'file:///r/node_modules/piscina/node_modules/x/i.js', WORKSPACES)).toMatchObject({ kind: 'dependency', pkg: 'node_modules/x' });
    expect(codeLocation('f', 'file:///r/test-peers/cityops-process.ts', WORKSPACES)).toMatchObject({ kind: 'ours', pkg: 'test-peers' });
    expect(codeLocation('f', 'node:internal/streams/readable', WORKSPACES)).toMatchObject({ kind: 'node', pkg: 'node:internals' });
    expect(codeLocation('atomicsWaitLoop', 'file:///r/node_modules/piscina/dist/worker.js', WORKSPACES).kind).toBe('wait');
    expect(codeLocation('f', 'file:///tmp/xyz/gateway.mjs', WORKSPACES)).toMatchObject({ kind: 'other', pkg: 'other: gateway.mjs' });
    // A folder named like a workspace but not its src/test is not ours.
    expect(codeLocation('f', 'file:///data/ingest/run.js', WORKSPACES).kind).toBe('other');
  });

  it("finds the line of our .ts functions by name, since tsx's transform leaves them on one line", () => {
    const url = pathToFileURL(fileURLToPath(new URL('../src/profiling/source-line.ts', import.meta.url))).href;
    const find = createSourceLineFinder();
    expect(find(url, 'createSourceLineFinder')).toBe(16);
    expect(find(url, 'lines')).toBe(18); // a nested function
    expect(find(url, 'no such function')).toBeUndefined();
    expect(find('file:///nowhere/x.ts', 'f')).toBeUndefined();
    const profile = smallProfile();
    const s = summarizeCpuProfile({ ...profile, nodes: profile.nodes.map((n) => (n.id === 2 ? { ...n, callFrame: frame('decode', n.callFrame.url, 1) } : n)) }, { workspaces: WORKSPACES, findLine: () => 7 });
    expect(s.top[0]).toMatchObject({ function: 'decode', location: 'ingest/src/decode-batch.ts:~7' });
  });

  it('refuses what is not a CPU profile, by name', () => {
    expect(() => parseCpuProfile('{"nodes": [', 'a.cpuprofile')).toThrow(/a\.cpuprofile: not JSON/);
    expect(() => parseCpuProfile('{"nodes": []}', 'b.cpuprofile')).toThrow(/b\.cpuprofile: not a V8 CPU profile/);
    expect(() => parseCpuProfile('null', 'c.cpuprofile')).toThrow(expect.objectContaining({ code: 'BENCH_ERR_PROFILE_INVALID' }));
    expect(() => parseCpuProfile('null', 'c.cpuprofile')).toThrow(/c\.cpuprofile: not a V8 CPU profile/);
    expect(() => parseCpuProfile(JSON.stringify({ ...smallProfile(), timeDeltas: [1] }), 'd.cpuprofile')).toThrow(/10 samples but 1 time deltas/);
    const strings = { ...smallProfile(), timeDeltas: smallProfile().timeDeltas.map(String) };
    expect(() => parseCpuProfile(JSON.stringify(strings), 'e.cpuprofile')).toThrow(/e\.cpuprofile: samples, time deltas and times must be finite numbers/);
    const frameless = { ...smallProfile(), nodes: [{ id: 1 }] };
    expect(() => parseCpuProfile(JSON.stringify(frameless), 'f.cpuprofile')).toThrow(/f\.cpuprofile: a node without/);
  });

  it('ends on a profile whose children loop back, and counts what it can', () => {
    const profile = smallProfile();
    const looped = { ...profile, nodes: profile.nodes.map((n) => (n.id === 9 ? { ...n, children: [8] } : n)) };
    const s = summarizeCpuProfile(parseCpuProfile(JSON.stringify(looped), 'loop.cpuprofile'), { workspaces: WORKSPACES });
    expect(s).toMatchObject({ busyMs: 10, startupMs: 2 }); // 8 → 9 → 8: each walked once
  });

  it('names processes by command and side', () => {
    expect(describeProcess({ pid: 1, argv: ['node', '/r/cli/src/main.ts', 'ingest', '--data', 'd'] })).toEqual({ process: 'cityops ingest', kind: 'under test' });
    expect(describeProcess({ pid: 1, argv: ['node', '/r/cli/src/main.ts', 'simulate'] })).toEqual({ process: 'cityops simulate', kind: 'load generator' });
    expect(describeProcess({ pid: 1, argv: ['node', '/r/bench/src/soak-load-process.ts', '{}'] })).toEqual({ process: 'bench soak-load-process.ts', kind: 'load generator' });
    expect(describeProcess({ pid: 1, argv: ['node'], role: 'verifier: POST /v1/verify' })).toEqual({ process: 'verifier: POST /v1/verify', kind: 'under test' });
    expect(describeProcess(undefined)).toEqual({ process: 'unnamed process', kind: 'unknown' });
  });
});

describe('a recorded profile read back', () => {
  it('finds our function, the dependency, Node internals and GC in the fixture', async () => {
    const [thread, ...others] = await readProfiles(FIXTURE, { workspaces: WORKSPACES });
    expect(others).toEqual([]);
    expect(thread).toMatchObject({ pid: 4242, thread: 0, process: 'node profile-workload.mjs', kind: 'unknown' });
    const s = thread!.summary;
    expect(s.busyMs).toBeGreaterThan(500);
    expect(s.gcMs).toBeGreaterThan(0);
    const hot = s.top.find((f) => f.function === 'ourHotLoop');
    expect(hot).toMatchObject({ location: 'bench/test/fixtures/profile-workload.mjs:9', kind: 'ours' });
    expect(hot!.percent).toBeGreaterThan(5);
    const pkgs = new Map(s.packages.map((p) => [p.pkg, p.percent]));
    for (const pkg of ['bench', 'node_modules/msgpackr', 'node:internals', '(garbage collector)']) expect(pkgs.get(pkg), pkg).toBeGreaterThan(0);
    // Every busy millisecond lands in exactly one package.
    expect(s.packages.reduce((sum, p) => sum + p.ms, 0)).toBeCloseTo(s.busyMs, 0);
  });

  it('renders the overview and each thread as Markdown, and the command line reads a file or a directory', async () => {
    const threads = await readProfiles(FIXTURE, { workspaces: WORKSPACES });
    const md = renderProfiles(threads, { headingLevel: 4, top: 5 }).join('\n');
    expect(md).toMatch(/^\| node profile-workload\.mjs \| 4242 \| main \| unknown \|/m);
    expect(md).toMatch(/^#### node profile-workload\.mjs · pid 4242 · main thread/m);
    expect(md).toMatch(/^\| \d+ \| [\d.]+ \| ourHotLoop \| `bench\/test\/fixtures\/profile-workload\.mjs:9` \|$/m);
    expect(md).toMatch(/^\| node_modules\/msgpackr \| dependencies \| \d+ \| [\d.]+ \|$/m);
    const printed = await profileReport([`${FIXTURE}/CPU.20261206.162837.4242.0.001.cpuprofile`, '--top', '3']);
    expect(printed).toMatch(/^# CPU profiles: .*4242\.0\.001\.cpuprofile$/m);
    expect(printed.match(/^\| \d+ \| [\d.]+ \| /gm)).toHaveLength(3);
    await expect(profileReport([])).rejects.toMatchObject({ code: 'BENCH_ERR_USAGE' });
    await expect(profileReport([FIXTURE, '--top', '0'])).rejects.toMatchObject({ code: 'BENCH_ERR_USAGE' });
    await expect(profileReport(['--bogus'])).rejects.toMatchObject({ code: 'BENCH_ERR_USAGE' });
  });
});
