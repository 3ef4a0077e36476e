import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBench } from '../src/main.ts';

// `--profile` on a short run of the two scenarios issue 20 starts from, so that the profiling does
// not rot: every process the scenario starts writes its profile (threads too), each is named and
// placed on its side, and the report shows them. What the profiles say is bench's business.
describe('bench smoke run with --profile', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('profiles the services under test, their worker threads, the load generators and the bench', async () => {
    const out = await mkdtemp(join(tmpdir(), 'cityops-bench-profile-smoke-'));
    dirs.push(out);
    const { results, paths } = await runBench(['ingest', 'verify', '--smoke', '--profile', '--out', out]);
    const sides = (scenario: string) => results.find((r) => r.scenario === scenario)?.profiles?.threads.map((t) => `${t.process} (${t.kind}) ${t.thread === 0 ? 'main' : 'worker'}`) ?? [];
    expect(sides('ingest')).toEqual(
      expect.arrayContaining(['cityops ingest (under test) main', 'cityops simulate (load generator) main', 'bench process (load generator, observer) (bench) main']),
    );
    expect(sides('verify')).toEqual(expect.arrayContaining(['verifier (under test) main', 'verifier (under test) worker', 'bench process (load generator, observer) (bench) main']));
    // The pool's workers did the checks: our code runs in a worker thread's profile.
    const verifyThreads = results.find((r) => r.scenario === 'verify')!.profiles!.threads;
    const workerPackages = verifyThreads.filter((t) => t.process === 'verifier' && t.thread > 0).flatMap((t) => t.summary.packages.filter((p) => p.kind === 'ours' && p.ms > 0).map((p) => p.pkg));
    expect(workerPackages).toEqual(expect.arrayContaining(['protocol']));
    // Each process's whole CPU (native threads too) came with it at exit.
    expect(verifyThreads.find((t) => t.process === 'verifier')?.processCpuMs).toBeGreaterThan(0);
    const markdown = await readFile(paths.markdown, 'utf8');
    expect(markdown).toMatch(/### CPU profiles[\s\S]*^\| cityops ingest \| \d+ \| main \| under test \|/m);
    expect(markdown).toMatch(/^#### verifier · pid \d+ · worker \d+ thread \(under test\)$/m);
  }, 300_000); // two scenarios starting cityops and verifier processes, on a shared machine
});
