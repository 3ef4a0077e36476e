import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBenchOptions } from '../src/bench-options.ts';
import { parseCpuProfile } from '../src/profiling/cpu-profile-summary.ts';
import { createProfileCapture, PROFILE_DIR_ENV, PROFILE_ROLE_ENV, profileNodeArgs } from '../src/profiling/profile-capture.ts';
import { readProfiles } from '../src/profiling/profile-directory.ts';

describe('profile capture', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('is asked for with --profile, and is off without it', () => {
    const scenarios = [{ name: 'verify', question: 'q', run: () => Promise.reject(new Error('not run')) }];
    expect(parseBenchOptions(['verify', '--profile'], scenarios, '/out').profile).toBe(true);
    expect(parseBenchOptions(['verify'], scenarios, '/out').profile).toBe(false);
  });

  it('profiles a child stopped by SIGTERM (each thread) and the bench itself, names them, and restores the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cityops-profile-capture-'));
    dirs.push(dir);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, NODE_OPTIONS: '--max-old-space-size=512' };
    expect(profileNodeArgs(env)).toEqual([]); // no --profile: nothing added
    const capture = createProfileCapture({ dir }, { env });
    await capture.start();
    expect(env[PROFILE_DIR_ENV]).toBe(dir);
    expect(env.NODE_OPTIONS).toMatch(/^--max-old-space-size=512 --import "file:.*process-sidecar\.js"$/);

    // A child with a worker thread and no SIGTERM handler of its own: the sidecar makes it exit, so --cpu-prof writes.
    const script = `const { Worker } = require('node:worker_threads');
      new Worker('let x = 0; for (let i = 0; i < 3e6; i++) x += Math.sqrt(i); require("node:worker_threads").parentPort.postMessage(x)', { eval: true })
        .once('message', () => console.log('worked'));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, [...profileNodeArgs(env), '-e', script], { env: { ...env, [PROFILE_ROLE_ENV]: 'test child' }, stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    expect(line).toBe('worked');
    child.kill('SIGTERM');
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    expect([code, signal]).toEqual([143, null]);

    await capture.stop();
    await capture.stop(); // idempotent
    expect(env).toEqual({ PATH: process.env.PATH, NODE_OPTIONS: '--max-old-space-size=512' });

    const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
    expect(files).toHaveLength(3); // the child's main thread and worker, the bench's own
    for (const f of files) expect(parseCpuProfile(await readFile(join(dir, f), 'utf8'), f).samples.length).toBeGreaterThan(0);
    const threads = await readProfiles(dir, { workspaces: ['bench'] });
    expect(threads.map((t) => [t.process, t.kind, t.thread === 0 ? 'main' : 'worker'])).toEqual([
      ['test child', 'under test', 'main'],
      ['test child', 'under test', 'worker'],
      ['bench process (load generator, observer)', 'bench', 'main'],
    ]);
    expect(threads[0]!.pid).toBe(child.pid);
    // The whole process's CPU (every thread), written at exit by the sidecar; the bench's own over the capture.
    const childCpu = threads[0]!.processCpuMs!;
    expect(childCpu).toBeGreaterThan(0);
    expect(Object.keys(threads[0]!.threadCpuMs ?? {})).toContain('main thread'); // per thread name, from /proc/self/task
    expect(threads[2]!.processCpuMs).toBeGreaterThan(0);
  }, 60_000);
});
