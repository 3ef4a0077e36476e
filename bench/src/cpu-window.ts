import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { processCpuSeconds, threadCpuSeconds, threadName } from './process-cpu.ts';

export interface CpuWindowResult {
  readonly seconds: number;
  /** CPU seconds each named process used over the window, all its threads together. */
  readonly cpuSeconds: Readonly<Record<string, number>>;
  /** CPU seconds of each named process's busiest thread over the window. */
  readonly busiestThreadCpuSeconds: Readonly<Record<string, number>>;
  /** CPU seconds of each named process's threads over the window, summed by thread name (see threadName). */
  readonly cpuSecondsByThreadName: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** CPU seconds of the bench process itself (user + system). */
  readonly benchCpuSeconds: number;
  /** Cores busy on the whole machine, on average over the window: ours and everybody else's work. */
  readonly machineBusyCores: number;
  readonly cores: number;
}

export interface CpuWindow {
  stop(): CpuWindowResult;
}

/** Busy and total jiffies of all cores since boot, from /proc/stat's `cpu` line (proc(5)); NaN without /proc. */
function machineJiffies(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    // user nice system idle iowait irq softirq steal (guest time is already in user and nice): idle and iowait are not busy.
    const jiffies = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = jiffies.reduce((a, b) => a + b, 0);
    return { busy: total - (jiffies[3] ?? 0) - (jiffies[4] ?? 0), total };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/**
 * Measures from now until `stop()` the CPU time of named processes (and of their busiest thread),
 * of the bench process, and how busy the whole machine was: what a configuration cost, and which
 * resource (one thread, or all the cores) ran out first.
 */
export function startCpuWindow(pids: Readonly<Record<string, number>>): CpuWindow {
  const started = performance.now();
  const machine0 = machineJiffies();
  const bench0 = process.cpuUsage();
  const process0 = new Map(Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid)]));
  const threads0 = new Map(Object.entries(pids).map(([name, pid]) => [name, threadCpuSeconds(pid)]));
  return {
    stop() {
      const seconds = (performance.now() - started) / 1000;
      const machine1 = machineJiffies();
      const bench = process.cpuUsage(bench0);
      const cpuSeconds: Record<string, number> = {};
      const busiestThreadCpuSeconds: Record<string, number> = {};
      const cpuSecondsByThreadName: Record<string, Record<string, number>> = {};
      for (const [name, pid] of Object.entries(pids)) {
        cpuSeconds[name] = processCpuSeconds(pid) - process0.get(name)!;
        const before = threads0.get(name)!;
        let busiest = 0;
        const byName: Record<string, number> = {};
        for (const [tid, s] of threadCpuSeconds(pid)) {
          const used = s - (before.get(tid) ?? 0);
          busiest = Math.max(busiest, used);
          const thread = threadName(pid, tid);
          byName[thread] = (byName[thread] ?? 0) + used;
        }
        busiestThreadCpuSeconds[name] = busiest;
        cpuSecondsByThreadName[name] = byName;
      }
      const cores = availableParallelism();
      return {
        seconds,
        cpuSeconds,
        busiestThreadCpuSeconds,
        cpuSecondsByThreadName,
        benchCpuSeconds: (bench.user + bench.system) / 1e6,
        machineBusyCores: ((machine1.busy - machine0.busy) / (machine1.total - machine0.total)) * cores,
        cores,
      };
    },
  };
}
