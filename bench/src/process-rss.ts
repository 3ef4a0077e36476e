import { readFileSync } from 'node:fs';

/**
 * Resident set size of a process in bytes, from `VmRSS` in /proc/<pid>/status (proc(5), Linux): what
 * the kernel holds in RAM for it, V8 heap and native memory (chDB, worker threads) alike. NaN where
 * /proc is absent or the process is gone.
 */
export function processRssBytes(pid: number): number {
  try {
    const kib = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib === undefined ? Number.NaN : Number(kib) * 1024;
  } catch {
    return Number.NaN;
  }
}
