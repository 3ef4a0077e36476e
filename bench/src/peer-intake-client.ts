import { forkIpcChild } from './ipc-child.ts';
import type { PeerIntakeCommand, PeerIntakeConfig, PeerIntakeCounts, PeerIntakeMessage } from './peer-intake-messages.ts';

export interface PeerIntake {
  readonly pid: number;
  /** The store's count() now, and the subscriber's counters. */
  count(timeoutMs?: number): Promise<PeerIntakeCounts>;
  /** Unsubscribes, inserts what is buffered, and counts the store a last time. */
  finish(timeoutMs?: number): Promise<PeerIntakeCounts>;
  /** Kills the process if it is still there (idempotent). */
  close(): Promise<void>;
}

/** Forks the peer intake pipeline (peer-intake-process.ts) and waits until it has subscribed. */
export async function startPeerIntake(config: PeerIntakeConfig, timeoutMs = 60_000): Promise<PeerIntake> {
  const child = await forkIpcChild<PeerIntakeCommand, PeerIntakeMessage>(new URL('./peer-intake-process.ts', import.meta.url), [JSON.stringify(config)], 'peer intake', timeoutMs);
  return {
    pid: child.pid,
    count: async (ms = 30_000) => (await child.request({ type: 'count' }, 'count', ms)).counts,
    finish: async (ms = 120_000) => (await child.request({ type: 'stop' }, 'stopped', ms)).counts,
    close: () => child.close(),
  };
}
