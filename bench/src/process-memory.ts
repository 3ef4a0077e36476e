import { readFileSync } from 'node:fs';

/**
 * Resident set size and its high-water mark of a process, in MiB, from /proc/<pid>/status (Linux):
 * `VmRSS` and `VmHWM` (proc(5)). NaN where /proc is absent or the process is gone.
 */
export function processMemoryMiB(pid: number): { rss: number; hwm: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
  } catch {
    return { rss: Number.NaN, hwm: Number.NaN };
  }
}

/** Samples a process's RSS every `everyMs` until stopped: the largest and the mean seen. */
export function sampleRss(pid: number, everyMs = 200): { stop(): { maxMiB: number; meanMiB: number; samples: number } } {
  const seen: number[] = [];
  const take = () => {
    const { rss } = processMemoryMiB(pid);
    if (Number.isFinite(rss)) seen.push(rss);
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      const sum = seen.reduce((a, b) => a + b, 0);
      return { maxMiB: Math.max(...seen), meanMiB: seen.length === 0 ? Number.NaN : sum / seen.length, samples: seen.length };
    },
  };
}
