import type { CodeKind } from './code-location.ts';
import type { ProfiledThread } from './profile-directory.ts';

export interface ProfileMarkdownOptions {
  /** Markdown heading level of each thread's section (`####` in a scenario's report). */
  readonly headingLevel: number;
  /** Functions listed per thread (the summary may hold more). */
  readonly top: number;
  /** Threads busy less than this get a line in the overview only (default 50 ms). */
  readonly minBusyMs?: number;
}

const KIND_LABEL: Readonly<Record<CodeKind, string>> = {
  ours: 'ours',
  dependency: 'dependencies',
  node: 'Node internals',
  v8: 'V8 builtins and native',
  gc: 'GC',
  program: '(program)',
  idle: 'idle',
  wait: 'waiting',
  startup: 'start-up',
  other: 'other',
};

const s = (ms: number) => (ms / 1000).toFixed(2);
const cell = (text: string) => text.replace(/\|/g, '\\|');
const threadName = (t: ProfiledThread) => (t.thread === 0 ? 'main' : `worker ${t.thread}`);

/** Busy time per kind of code, the largest first: `ours 41.2 % · dependencies 20.3 % · ...`. */
export function kindRollup(t: ProfiledThread): string {
  const byKind = new Map<CodeKind, number>();
  for (const p of t.summary.packages) byKind.set(p.kind, (byKind.get(p.kind) ?? 0) + p.percent);
  return [...byKind.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([kind, percent]) => `${KIND_LABEL[kind]} ${percent.toFixed(1)} %`)
    .join(' · ');
}

/**
 * The profiles of a run as Markdown: an overview of every process and thread (CPU, GC and
 * (program) shares, its heaviest package and function), then per busy thread its top functions by
 * self time and the rollup by package (ours, node_modules/<pkg>, Node internals, V8).
 */
export function renderProfiles(threads: readonly ProfiledThread[], options: ProfileMarkdownOptions): string[] {
  const h = '#'.repeat(options.headingLevel);
  const minBusyMs = options.minBusyMs ?? 50;
  const lines = [
    '| process | pid | thread | side | wall s | busy CPU s | start-up % | GC % | (program) % | heaviest package | heaviest function |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const t of threads) {
    const steady = (kind: CodeKind) => kind !== 'gc' && kind !== 'program' && kind !== 'startup';
    const pkg = t.summary.packages.find((p) => steady(p.kind));
    const fn = t.summary.top.find((f) => steady(f.kind));
    lines.push(
      `| ${cell(t.process)} | ${t.pid} | ${threadName(t)} | ${t.kind} | ${s(t.summary.wallMs)} | ${s(t.summary.busyMs)} | ${t.summary.startupPercent.toFixed(1)} | ${t.summary.gcPercent.toFixed(1)} | ${t.summary.programPercent.toFixed(1)} | ` +
        `${pkg === undefined ? '' : `${cell(pkg.pkg)} ${pkg.percent.toFixed(1)} %`} | ${fn === undefined ? '' : `${cell(fn.function)} ${fn.percent.toFixed(1)} %`} |`,
    );
  }
  const processes = [...new Map(threads.filter((t) => t.processCpuMs !== undefined).map((t) => [t.pid, t])).values()];
  if (processes.length > 0) {
    lines.push('', '| process | pid | side | process CPU s (all threads) | profiled threads busy s | in no profile s | CPU by thread name (s) |', '|---|---|---|---|---|---|---|');
    for (const p of processes) {
      const busy = threads.filter((t) => t.pid === p.pid).reduce((sum, t) => sum + t.summary.busyMs, 0);
      const names = Object.entries(p.threadCpuMs ?? {})
        .filter(([, ms]) => ms >= 50)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 6)
        .map(([name, ms]) => `${cell(name)} ${s(ms)}`)
        .join(', ');
      lines.push(`| ${cell(p.process)} | ${p.pid} | ${p.kind} | ${s(p.processCpuMs!)} | ${s(busy)} | ${s(Math.max(0, p.processCpuMs! - busy))} | ${names} |`);
    }
    lines.push(
      '',
      "In no profile: native threads (chDB's engine, libuv's pool, V8's GC helpers and compiler) and the profiler's own cost; the bench's figure is its CPU over the scenario. " +
        'Sampled busy time is wall time: on a loaded machine it includes time a thread waited for a core, so it can exceed the CPU.',
    );
  }
  lines.push(
    '',
    'Shares are of the busy time (sampled time but idle and Atomics.wait); self time: in the function itself, not its callees. ' +
      'Start-up: module loading (compile, resolve, transform), wherever called; worker 1 of a tsx process is its loader-hooks thread.',
  );
  for (const t of threads) {
    if (t.summary.busyMs < minBusyMs) continue;
    const m = t.summary;
    lines.push(
      '',
      `${h} ${t.process} · pid ${t.pid} · ${threadName(t)} thread (${t.kind})`,
      '',
      `${s(m.busyMs)} s busy of ${s(m.wallMs)} s (${m.samples} samples; idle ${s(m.idleMs)} s, waiting ${s(m.waitMs)} s); start-up ${s(m.startupMs)} s = ${m.startupPercent.toFixed(1)} %, GC ${s(m.gcMs)} s = ${m.gcPercent.toFixed(1)} %, (program) ${s(m.programMs)} s = ${m.programPercent.toFixed(1)} %.`,
      `By kind: ${kindRollup(t)}. \`${t.file}\``,
      '',
      '| self ms | % | function | where |',
      '|---|---|---|---|',
      ...m.top.slice(0, options.top).map((f) => `| ${f.ms.toFixed(0)} | ${f.percent.toFixed(1)} | ${cell(f.function)} | ${f.location === '' ? (f.kind === 'v8' ? 'V8 builtin or native' : '') : `\`${cell(f.location)}\``} |`),
      '',
      '| package | kind | ms | % |',
      '|---|---|---|---|',
      ...m.packages.filter((p) => p.percent >= 0.5 || p.kind === 'gc').map((p) => `| ${cell(p.pkg)} | ${KIND_LABEL[p.kind]} | ${p.ms.toFixed(0)} | ${p.percent.toFixed(1)} |`),
    );
  }
  return lines;
}
