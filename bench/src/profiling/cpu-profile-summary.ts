import { benchErrors } from '../bench-errors.ts';
import { codeLocation, type CodeKind } from './code-location.ts';
import type { SourceLineFinder } from './source-line.ts';

/** The parts of V8's `.cpuprofile` (Chrome DevTools Protocol `Profiler.Profile`) a summary reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
    readonly children?: readonly number[];
  }[];
  /** Microseconds (monotonic clock). */
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  /** Microseconds before each sample (the first from startTime). */
  readonly timeDeltas: readonly number[];
}

export interface SelfTimeRow {
  readonly function: string;
  /** `ingest/src/dedup.ts:42`, `node_modules/msgpackr/unpack.js:120`, `node:internal/streams/readable:300`; '' for V8's own. */
  readonly location: string;
  readonly kind: CodeKind;
  readonly ms: number;
  /** Of the busy time (all but idle). */
  readonly percent: number;
}

export interface PackageRow {
  readonly pkg: string;
  readonly kind: CodeKind;
  readonly ms: number;
  readonly percent: number;
}

export interface ProfileSummary {
  /** From the profile's first to its last sample. */
  readonly wallMs: number;
  /** Sampled time in all (busy + idle). */
  readonly sampledMs: number;
  readonly samples: number;
  /** Sampled time not idle nor waiting: JavaScript, builtins, GC and (program) (V8 and Node's own native work). */
  readonly busyMs: number;
  readonly idleMs: number;
  /** Blocked in Atomics.wait (piscina's idle workers): sampled as JavaScript, but asleep. */
  readonly waitMs: number;
  /** Loading modules (compiling, resolving, tsx's transforms), whatever the caller: start-up, not steady work. */
  readonly startupMs: number;
  readonly startupPercent: number;
  readonly gcMs: number;
  readonly programMs: number;
  /** Of the busy time. */
  readonly gcPercent: number;
  readonly programPercent: number;
  readonly top: readonly SelfTimeRow[];
  readonly packages: readonly PackageRow[];
}

export interface SummaryOptions {
  /** Rows of the top list (default 20). */
  readonly top?: number;
  /** The repository's own packages: their files count as ours. */
  readonly workspaces: readonly string[];
  /** Finds the line of our .ts functions, which tsx's transform leaves without one (none: `file:1`). */
  readonly findLine?: SourceLineFinder;
}

const round = (x: number) => Math.round(x * 10) / 10;

/** Checks the shape (a profile is a file from outside: a truncated or foreign one is refused by name). */
export function parseCpuProfile(text: string, name: string): CpuProfile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw benchErrors.BENCH_ERR_PROFILE_INVALID(`${name}: not JSON (${(err as Error).message.slice(0, 80)})`, err);
  }
  const p = value as Partial<CpuProfile> | null;
  if (p === null || typeof p !== 'object' || !Array.isArray(p.nodes) || !Array.isArray(p.samples) || !Array.isArray(p.timeDeltas) || typeof p.startTime !== 'number' || typeof p.endTime !== 'number') {
    throw benchErrors.BENCH_ERR_PROFILE_INVALID(`${name}: not a V8 CPU profile (nodes, samples, timeDeltas, startTime, endTime)`);
  }
  if (p.samples.length !== p.timeDeltas.length) throw benchErrors.BENCH_ERR_PROFILE_INVALID(`${name}: ${p.samples.length} samples but ${p.timeDeltas.length} time deltas`);
  // A string among the numbers would concatenate instead of add: every figure checked once here.
  const finite = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (!p.samples.every(finite) || !p.timeDeltas.every(finite) || !finite(p.startTime) || !finite(p.endTime)) throw benchErrors.BENCH_ERR_PROFILE_INVALID(`${name}: samples, time deltas and times must be finite numbers`);
  for (const n of p.nodes as unknown[]) {
    const node = n as Partial<CpuProfile['nodes'][number]> | null;
    const f = node?.callFrame;
    if (!finite(node?.id) || f === undefined || typeof f.functionName !== 'string' || typeof f.url !== 'string' || !finite(f.lineNumber) || (node!.children !== undefined && !(Array.isArray(node!.children) && node!.children.every(finite)))) {
      throw benchErrors.BENCH_ERR_PROFILE_INVALID(`${name}: a node without a numeric id, a call frame (functionName, url, lineNumber) or numeric children`);
    }
  }
  return p as CpuProfile;
}

/** Nodes under a module load (node:internal/modules/...): their time is start-up, not the work measured. */
function moduleLoadingNodes(profile: CpuProfile): Set<number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const ids = new Set(profile.nodes.map((n) => n.id));
  for (const n of profile.nodes) for (const c of n.children ?? []) ids.delete(c);
  const loading = new Set<number>();
  // Iterative depth-first walk from the roots (a deep stack must not overflow ours); each node once,
  // so a file whose children loop back cannot keep it going.
  const stack = [...ids].map((id) => ({ id, under: false }));
  const seen = new Set<number>();
  while (stack.length > 0) {
    const { id, under } = stack.pop()!;
    const node = byId.get(id);
    if (node === undefined || seen.has(id)) continue;
    seen.add(id);
    const { functionName, url } = node.callFrame;
    // The body of one of our modules (or of a script, `-e`'s `[eval]`) runs under the loader too,
    // but it is the program's own work (an entry point's top level); a dependency's body stays start-up.
    const ownModuleBody = functionName === '' && url !== '' && !url.startsWith('node:') && !url.includes('/node_modules/');
    const here = url.startsWith('node:internal/modules/') || (under && !ownModuleBody);
    if (here) loading.add(id);
    for (const c of node.children ?? []) stack.push({ id: c, under: here });
  }
  return loading;
}

/**
 * Self time per function and per package. A sample stands for the time until the next one (as
 * Chrome DevTools counts it; the last sample for the time until endTime); a negative delta (clock
 * skew across a sleep) counts as nothing.
 */
export function summarizeCpuProfile(profile: CpuProfile, options: SummaryOptions): ProfileSummary {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  let lastTime = profile.startTime;
  for (const d of timeDeltas) lastTime += d;
  for (let i = 0; i < samples.length; i++) {
    const us = i + 1 < samples.length ? timeDeltas[i + 1]! : profile.endTime - lastTime;
    if (us > 0) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + us);
  }
  const byFunction = new Map<string, { function: string; location: string; kind: CodeKind; us: number }>();
  const byPackage = new Map<string, { kind: CodeKind; us: number }>();
  const loading = moduleLoadingNodes(profile);
  let sampledUs = 0;
  let idleUs = 0;
  let waitUs = 0;
  let startupUs = 0;
  let gcUs = 0;
  let programUs = 0;
  for (const [id, us] of selfUs) {
    const frame = nodes.get(id)?.callFrame ?? { functionName: '(unknown node)', url: '', lineNumber: -1 };
    const located = codeLocation(frame.functionName, frame.url, options.workspaces);
    sampledUs += us;
    if (located.kind === 'idle' || located.kind === 'wait') {
      if (located.kind === 'idle') idleUs += us;
      else waitUs += us;
      continue;
    }
    const startup = loading.has(id) && located.kind !== 'gc';
    if (startup) startupUs += us;
    const where = startup ? { kind: 'startup' as const, pkg: '(start-up: module loading)', file: '' } : located;
    if (where.kind === 'gc') gcUs += us;
    if (where.kind === 'program') programUs += us;
    // cpuprofile line numbers count from 0; editors and stack traces from 1.
    const found = where.kind === 'ours' && where.file.endsWith('.ts') && frame.lineNumber <= 1 ? options.findLine?.(frame.url, frame.functionName) : undefined;
    const line = found === undefined ? `${frame.lineNumber + 1}` : `~${found}`;
    const location = where.file === '' ? '' : `${where.file}:${line}`;
    const fn = startup ? '(module loading)' : frame.functionName === '' ? '(anonymous)' : frame.functionName;
    const key = `${fn}\u0000${location}`;
    const row = byFunction.get(key) ?? { function: fn, location, kind: where.kind, us: 0 };
    row.us += us;
    byFunction.set(key, row);
    const pkg = byPackage.get(where.pkg) ?? { kind: where.kind, us: 0 };
    pkg.us += us;
    byPackage.set(where.pkg, pkg);
  }
  const busyUs = sampledUs - idleUs - waitUs;
  const percent = (us: number) => (busyUs > 0 ? round((100 * us) / busyUs) : 0);
  return {
    wallMs: round((profile.endTime - profile.startTime) / 1000),
    sampledMs: round(sampledUs / 1000),
    samples: samples.length,
    busyMs: round(busyUs / 1000),
    idleMs: round(idleUs / 1000),
    waitMs: round(waitUs / 1000),
    startupMs: round(startupUs / 1000),
    startupPercent: percent(startupUs),
    gcMs: round(gcUs / 1000),
    programMs: round(programUs / 1000),
    gcPercent: percent(gcUs),
    programPercent: percent(programUs),
    top: [...byFunction.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, options.top ?? 20)
      .map((r) => ({ function: r.function, location: r.location, kind: r.kind, ms: round(r.us / 1000), percent: percent(r.us) })),
    packages: [...byPackage.entries()].sort((a, b) => b[1].us - a[1].us).map(([pkg, r]) => ({ pkg, kind: r.kind, ms: round(r.us / 1000), percent: percent(r.us) })),
  };
}
