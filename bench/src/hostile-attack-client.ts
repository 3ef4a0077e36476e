import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { forkIpcChild } from './ipc-child.ts';
import type { AttackCommand, AttackMessage, AttackProcessConfig, AttackSpec, AttackStats } from './hostile-attack-messages.ts';

export interface Attacker {
  readonly pid: number;
  /** Starts `spec`; resolves once its first sockets are on their way. */
  start(spec: AttackSpec): Promise<void>;
  /** Stops the running attack and returns what it did. */
  stop(timeoutMs?: number): Promise<AttackStats>;
  /** Kills the process if it is still there (idempotent). */
  close(): Promise<void>;
}

/** Linux's SCHED_IDLE (sched(7)): a task that runs only on a core nothing else wants. */
export const SCHED_IDLE = 5;

/** A process's scheduling policy, from /proc/<pid>/stat (field 41, `policy`). */
export function schedulingPolicy(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields from the third (state) on, after the command name in parentheses (which may hold spaces).
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
}

/**
 * Forks the attacker (hostile-attack-process.ts) at a lower scheduling priority (`nice`, 10 by
 * default), and under SCHED_IDLE (every thread, util-linux's `chrt`): on a machine of few cores it
 * then gets only the CPU that the broker and the gateway leave, so it cannot slow the gateway by
 * taking the client side's CPU; only what it does to the broker shows, as with an attacker on
 * another machine. At nice 10 alone it still took 0.7–0.8 of the 2 cores in the oversized-CONNECT and
 * one-address windows, beside the broker and the gateway. A weaker attack on a busy machine is the
 * price; its attempts per second are reported.
 */
export async function startAttacker(config: AttackProcessConfig, nice = 10, timeoutMs = 60_000): Promise<Attacker> {
  const child = await forkIpcChild<AttackCommand, AttackMessage>(new URL('./hostile-attack-process.ts', import.meta.url), [JSON.stringify(config)], 'attacker', timeoutMs);
  try {
    setPriority(child.pid, nice);
    execFileSync('chrt', ['--idle', '--all-tasks', '--pid', '0', String(child.pid)], { stdio: 'pipe' });
  } catch (err) {
    await child.close();
    throw err;
  }
  return {
    pid: child.pid,
    start: async (spec) => void (await child.request({ type: 'start', spec }, 'started', 10_000)),
    stop: async (ms = 30_000) => (await child.request({ type: 'stop' }, 'stopped', ms)).stats,
    close: () => child.close(),
  };
}
