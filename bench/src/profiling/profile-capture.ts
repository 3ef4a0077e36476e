import { Session } from 'node:inspector/promises';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';


/**
 * The directory a profiled scenario's processes write to. test-peers/cityops-process.ts reads the
 * same variable (every `cityops` process the bench starts); the bench's own spawns add
 * `profileNodeArgs()`; process-sidecar.js names each process there.
 */
export const PROFILE_DIR_ENV = 'CITYOPS_CPU_PROF_DIR';
/** Set in a child's environment to name its role in the profile report (`verifier: POST /v1/verify`). */
export const PROFILE_ROLE_ENV = 'CITYOPS_PROFILE_ROLE';

const SIDECAR = new URL('./process-sidecar.js', import.meta.url).href;
/** V8's default for --cpu-prof (--cpu-prof-interval): the bench's own profile samples alike. */
const SAMPLING_INTERVAL_US = 1000;

/** `--cpu-prof` arguments for a Node child while a profile is being captured, none otherwise (no overhead). */
export function profileNodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dir = env[PROFILE_DIR_ENV];
  return dir === undefined || dir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/** The file name --cpu-prof gives a thread's profile: `CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile`. */
export function profileFileName(pid: number, thread: number, now: Date): string {
  const iso = now.toISOString();
  return `CPU.${iso.slice(0, 10).replace(/-/g, '')}.${iso.slice(11, 19).replace(/:/g, '')}.${pid}.${thread}.000.cpuprofile`;
}

export interface ProfileCaptureConfig {
  /** Where the profiles and the processes' sidecars go (created). */
  readonly dir: string;
}

export interface ProfileCaptureDeps {
  /** The environment children inherit: process.env in the bench (replaced in tests). */
  readonly env: NodeJS.ProcessEnv;
  readonly now?: () => Date;
}

export interface ProfileCapture {
  start(): Promise<void>;
  /** Writes the bench process's own profile and restores the environment (idempotent). */
  stop(): Promise<void>;
}

/**
 * CPU profiles of one scenario: every Node process it starts (services under test and load
 * generators, each thread; `--cpu-prof`, written when the process exits) and the bench process
 * itself (the in-process load generator, e.g. autocannon, and the observer), through the inspector.
 */
export function createProfileCapture(config: ProfileCaptureConfig, deps: ProfileCaptureDeps): ProfileCapture {
  const { env } = deps;
  const now = deps.now ?? (() => new Date());
  let saved: { dir: string | undefined; options: string | undefined } | undefined;
  let session: Session | undefined;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  return {
    async start() {
      if (saved !== undefined) return;
      await mkdir(config.dir, { recursive: true });
      saved = { dir: env[PROFILE_DIR_ENV], options: env.NODE_OPTIONS };
      env[PROFILE_DIR_ENV] = config.dir;
      // NODE_OPTIONS takes --import but not --cpu-prof (Node 20): the sidecar names every Node
      // process started from here on, grandchildren too; --cpu-prof comes with each spawn.
      env.NODE_OPTIONS = `${saved.options ?? ''} --import ${JSON.stringify(SIDECAR)}`.trim();
      const sidecar = { pid: process.pid, ppid: process.ppid, argv: process.argv.slice(0, 4), execArgv: [], role: 'bench process (load generator, observer)', startedAt: now().toISOString() };
      await writeFile(join(config.dir, `${process.pid}.process.json`), `${JSON.stringify(sidecar)}\n`);
      cpuAtStart = process.cpuUsage();
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
      await session.post('Profiler.start');
    },
    async stop() {
      if (saved === undefined) return;
      const restore = saved;
      saved = undefined;
      for (const [key, value] of [[PROFILE_DIR_ENV, restore.dir], ['NODE_OPTIONS', restore.options]] as const) {
        if (value === undefined) delete env[key];
        else env[key] = value;
      }
      const open = session;
      session = undefined;
      if (open === undefined) return;
      try {
        const { profile } = await open.post('Profiler.stop');
        await writeFile(join(config.dir, profileFileName(process.pid, 0, now())), JSON.stringify(profile));
        // As the sidecar does for a child at exit: the bench's CPU over the scenario, every thread.
        const cpu = process.cpuUsage(cpuAtStart);
        await writeFile(join(config.dir, `${process.pid}.exit.json`), `${JSON.stringify({ pid: process.pid, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
      } finally {
        open.disconnect();
      }
    },
  };
}
