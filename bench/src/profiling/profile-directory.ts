import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { benchErrors } from '../bench-errors.ts';
import { parseCpuProfile, summarizeCpuProfile, type ProfileSummary, type SummaryOptions } from './cpu-profile-summary.ts';
import { createSourceLineFinder } from './source-line.ts';

/** Which side of the measurement a process was on: a reader wants the load generator's cost apart. */
export type ProcessKind = 'under test' | 'load generator' | 'bench' | 'unknown';

export interface ProfiledThread {
  readonly file: string;
  readonly pid: number;
  /** 0: the main thread; above: a worker thread (piscina's, say). */
  readonly thread: number;
  /** `cityops ingest`, `cityops simulate`, or the role the bench gave it (`verifier: POST /v1/verify`). */
  readonly process: string;
  readonly kind: ProcessKind;
  /** The whole process's CPU (all its threads, native ones too) when it exited; undefined if unknown. */
  readonly processCpuMs?: number;
  /** CPU ms per thread name at exit (/proc/self/task: `node`, `V8 DefaultWorke`, ClickHouse's pools...). */
  readonly threadCpuMs?: Readonly<Record<string, number>>;
  readonly summary: ProfileSummary;
}

/** What process-sidecar.js (or the bench for itself) wrote beside the profiles. */
interface Sidecar {
  readonly pid: number;
  readonly argv: readonly string[];
  readonly role?: string;
}

/** `CPU.20261206.162503.30808.1.002.cpuprofile` → pid 30808, thread 1 (Node's --cpu-prof naming). */
const PROFILE_NAME = /\.(\d+)\.(\d+)\.\d+\.cpuprofile$/;
/** Profiles larger than this are someone else's file, not a bench run's (a 10 s run: a few MB). */
const MAX_PROFILE_BYTES = 512 * 2 ** 20;

/** A process's name and side, from its sidecar: the command it ran, or the role the bench gave it. */
export function describeProcess(sidecar: Sidecar | undefined): { process: string; kind: ProcessKind } {
  if (sidecar === undefined) return { process: 'unnamed process', kind: 'unknown' };
  const script = sidecar.argv[1] ?? '';
  if (sidecar.role !== undefined) return { process: sidecar.role, kind: sidecar.role.startsWith('bench process') ? 'bench' : 'under test' };
  if (/(^|\/)cli\/src\/main\.ts$/.test(script)) {
    const verb = sidecar.argv[2] ?? '';
    return { process: `cityops ${verb}`.trim(), kind: verb === 'simulate' ? 'load generator' : 'under test' };
  }
  // The bench's own children (soak load, hostile attackers) are load generators.
  if (/(^|\/)bench\/src\//.test(script)) return { process: `bench ${basename(script)}`, kind: 'load generator' };
  return { process: script === '' ? 'node -e' : `node ${basename(script)}`, kind: 'unknown' };
}

const KIND_ORDER: readonly ProcessKind[] = ['under test', 'load generator', 'bench', 'unknown'];

/**
 * Every `.cpuprofile` at `path` (a file, or a directory a profiled run wrote), summarised and named
 * by its process's sidecar: under test first, then the load generators, the bench, the rest.
 */
export async function readProfiles(path: string, options: SummaryOptions): Promise<ProfiledThread[]> {
  const isDir = (await stat(path)).isDirectory();
  const dir = isDir ? path : dirname(path);
  const names = isDir ? (await readdir(dir)).filter((n) => n.endsWith('.cpuprofile')) : [basename(path)];
  const threads: ProfiledThread[] = [];
  const summaryOptions = { findLine: createSourceLineFinder(), ...options };
  for (const name of names) {
    const file = join(dir, name);
    const size = (await stat(file)).size;
    if (size > MAX_PROFILE_BYTES) throw benchErrors.BENCH_ERR_PROFILE_INVALID(`${file}: ${Math.round(size / 2 ** 20)} MiB, more than a bench profile (${MAX_PROFILE_BYTES / 2 ** 20} MiB)`);
    const match = PROFILE_NAME.exec(name);
    const pid = match === null ? 0 : Number(match[1]);
    const thread = match === null ? 0 : Number(match[2]);
    let sidecar: Sidecar | undefined;
    try {
      sidecar = JSON.parse(await readFile(join(dir, `${pid}.process.json`), 'utf8')) as Sidecar;
    } catch {
      // A profile from elsewhere (or a process that started before the sidecar): unnamed.
    }
    let processCpuMs: number | undefined;
    let threadCpuMs: Record<string, number> | undefined;
    try {
      const exit = JSON.parse(await readFile(join(dir, `${pid}.exit.json`), 'utf8')) as { cpuMs?: unknown; threads?: unknown };
      if (typeof exit.cpuMs === 'number' && Number.isFinite(exit.cpuMs)) processCpuMs = exit.cpuMs;
      if (exit.threads !== null && typeof exit.threads === 'object') {
        threadCpuMs = Object.fromEntries(Object.entries(exit.threads).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1])));
      }
    } catch {
      // killed before its exit handler ran, or a profile from elsewhere
    }
    const summary = summarizeCpuProfile(parseCpuProfile(await readFile(file, 'utf8'), file), summaryOptions);
    threads.push({ file: name, pid, thread, ...describeProcess(sidecar), ...(processCpuMs === undefined ? {} : { processCpuMs }), ...(threadCpuMs === undefined ? {} : { threadCpuMs }), summary });
  }
  return threads.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || a.process.localeCompare(b.process) || a.pid - b.pid || a.thread - b.thread);
}

/** The repository's own packages (root package.json `workspaces`), plus test-peers: what counts as ours. */
export async function repositoryWorkspaces(): Promise<string[]> {
  const root = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { workspaces?: string[] };
  return [...(root.workspaces ?? []), 'test-peers'];
}
