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

/**
 * Forks the attacker (hostile-attack-process.ts) at a lower scheduling priority (`nice`, 10 by
 * default): on a machine of few cores it then gets the CPU that the broker and the gateway leave,
 * so it cannot slow the gateway by taking the client side's CPU; only what it does to the broker
 * shows. A weaker attack on a busy machine is the price; its attempts per second are reported.
 */
export async function startAttacker(config: AttackProcessConfig, nice = 10, timeoutMs = 60_000): Promise<Attacker> {
  const child = await forkIpcChild<AttackCommand, AttackMessage>(new URL('./hostile-attack-process.ts', import.meta.url), [JSON.stringify(config)], 'attacker', timeoutMs);
  try {
    setPriority(child.pid, nice);
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
