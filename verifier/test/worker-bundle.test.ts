import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { bundleVerifyWorker } from '../src/worker-bundle.ts';
import { poolExecArgv, writesCpuProfiles } from '../src/worker-exec-argv.ts';

/** Child processes of this one running esbuild's service. */
function esbuildChildren(): number {
  let n = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--service')) n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

describe('pool thread bundle (issue 20)', () => {
  it('is one JavaScript file with no TypeScript import and no warehouse, removed once by remove()', async () => {
    const bundle = await bundleVerifyWorker();
    try {
      // esbuild's service process is not left running beside the verifier.
      expect(esbuildChildren()).toBe(0);
      const text = readFileSync(bundle.file, 'utf8');
      expect(text).toMatch(/export\s*\{[^}]*verifyBatch/);
      expect(text).not.toMatch(/from\s*["'][^"']+\.ts["']/);
      expect(text).not.toMatch(/chdb|@clickhouse|@cityops\/warehouse/);
    } finally {
      await bundle.remove();
      await bundle.remove();
    }
    expect(existsSync(bundle.file)).toBe(false);
    expect(existsSync(dirname(bundle.file))).toBe(false);
  }, 60_000);

  it('bundles for several pools at once in one process, each its own file', async () => {
    const bundles = await Promise.all([bundleVerifyWorker(), bundleVerifyWorker(), bundleVerifyWorker()]);
    try {
      expect(new Set(bundles.map((b) => b.file)).size).toBe(3);
      for (const b of bundles) expect(readFileSync(b.file, 'utf8')).toMatch(/verifyBatch/);
      expect(esbuildChildren()).toBe(0);
    } finally {
      await Promise.all(bundles.map((b) => b.remove()));
    }
  }, 60_000);

  it("loads cbor-x's and msgpackr's native string extraction in a thread, as without the bundle", async () => {
    // Bundled, their addon loaders looked for the addon beside the bundle in the temp dir, failed,
    // and the decoders fell back to JavaScript without a word.
    const bundle = await bundleVerifyWorker();
    try {
      expect(readFileSync(bundle.file, 'utf8')).not.toMatch(/node-gyp-build/);
      const url = JSON.stringify(pathToFileURL(bundle.file).href);
      const loaded = await new Promise<string>((resolve, reject) => {
        // The addons' files mapped in this process once the thread has imported the bundle.
        const probe = `import(${url}).then(() => { const maps = require('node:fs').readFileSync('/proc/self/maps', 'utf8'); require('node:worker_threads').parentPort.postMessage(['cbor-extract', 'msgpackr-extract'].filter((n) => maps.includes(n)).join(' ')); })`;
        const w = new Worker(probe, { eval: true, workerData: { decoder: {} } });
        w.once('message', (m: string) => {
          resolve(m);
          void w.terminate();
        });
        w.once('error', reject);
      });
      expect(loaded).toBe('cbor-extract msgpackr-extract');
    } finally {
      await bundle.remove();
    }
  }, 60_000);

  it("removes the bundles of processes that are gone (killed before stop), never a live one's", async () => {
    const gonePid = spawnSync(process.execPath, ['-e', '0']).pid;
    const orphan = join(tmpdir(), `cityops-verify-worker-${gonePid}-test`);
    const live = join(tmpdir(), `cityops-verify-worker-${process.pid}-test`);
    mkdirSync(join(orphan, 'x'), { recursive: true });
    mkdirSync(live, { recursive: true });
    const bundle = await bundleVerifyWorker();
    try {
      expect(existsSync(orphan)).toBe(false);
      expect(existsSync(live)).toBe(true);
    } finally {
      await bundle.remove();
      await rm(live, { recursive: true, force: true });
    }
  }, 60_000);

  it('runs threads without tsx loaders and without the flags a thread refuses', async () => {
    expect(poolExecArgv(['--import', 'tsx', '--cpu-prof', '--cpu-prof-dir=/tmp/p'], { tsx: false })).toEqual(['--cpu-prof', '--cpu-prof-dir=/tmp/p']);
    expect(poolExecArgv(['--import=tsx', '--require', 'tsx/cjs', '--loader', 'file:///x/node_modules/tsx/dist/loader.mjs', '--enable-source-maps'], { tsx: false })).toEqual([
      '--enable-source-maps',
    ]);
    // V8's flags and process-wide ones: new Worker throws ERR_WORKER_INVALID_EXEC_ARGV on them.
    const refused = ['--no-memory-reducer', '--max-old-space-size=512', '--stack-trace-limit=50', '--inspect', '--title=x'];
    expect(poolExecArgv(['--import', './other.mjs', ...refused, '--heap-prof'], { tsx: false })).toEqual(['--import', './other.mjs', '--heap-prof']);
    expect(() => new Worker('', { eval: true, execArgv: ['--no-memory-reducer'] })).toThrow(expect.objectContaining({ code: 'ERR_WORKER_INVALID_EXEC_ARGV' }));
    const thread = new Worker('', { eval: true, execArgv: poolExecArgv([...refused, '--enable-source-maps'], { tsx: false }) });
    expect((await once(thread, 'exit'))[0]).toBe(0);
    expect(poolExecArgv(['--no-memory-reducer', '--import', 'tsx', '--cpu-prof'], { tsx: true })).toEqual(['--import', 'tsx', '--cpu-prof']);
    expect(poolExecArgv(['--import'], { tsx: false })).toEqual([]);
    expect(poolExecArgv(['--cpu-prof', '--cpu-prof-dir', '/tmp/p', '--no-memory-reducer'], { tsx: false })).toEqual(['--cpu-prof', '--cpu-prof-dir', '/tmp/p']);
    // Profiled, the threads run the sources (a profile attributes time by file; the bundle is one).
    expect(writesCpuProfiles(['--import', 'tsx', '--cpu-prof', '--cpu-prof-dir=/tmp/p'])).toBe(true);
    expect(writesCpuProfiles(['--cpu-prof-dir=/tmp/p', '--heap-prof'])).toBe(false);
  });
});
