import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

export interface MachineInfo {
  readonly gitSha: string;
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly date: string;
}

/** What a result was measured on: figures from different machines are compared only as ratios. */
export function machineInfo(now = new Date()): MachineInfo {
  let gitSha = 'unknown';
  try {
    gitSha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // Not a git checkout (a tarball): the SHA stays unknown.
  }
  const list = cpus();
  return {
    gitSha,
    node: process.version,
    cpu: list[0]?.model ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    date: now.toISOString(),
  };
}
