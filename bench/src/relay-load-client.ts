import { forkIpcChild } from './ipc-child.ts';
import type { RelayLoadCommand, RelayLoadConfig, RelayLoadMessage, RelayLoadStats } from './relay-load-messages.ts';

export interface RelayLoad {
  readonly pid: number;
  /** Requests per second for the whole fleet from now on (0 pauses); a new PUBACK interval starts. */
  setRate(messagesPerSecond: number): void;
  /** Counters so far, and PUBACK latencies since the last call (or `setRate`). */
  stats(timeoutMs?: number): Promise<RelayLoadStats>;
  /** Pauses and waits until every request in flight is acknowledged (or failed), up to `timeoutMs`. */
  settle(timeoutMs: number): Promise<void>;
  /** Kills the process if it is still there (idempotent). */
  close(): Promise<void>;
}

/** Forks the relay bench's publishers (relay-load-process.ts) and waits until every client is connected. */
export async function startRelayLoad(config: RelayLoadConfig, timeoutMs = 120_000): Promise<RelayLoad> {
  const child = await forkIpcChild<RelayLoadCommand, RelayLoadMessage>(new URL('./relay-load-process.ts', import.meta.url), [JSON.stringify(config)], 'relay load', timeoutMs);
  const stats = async (ms = 10_000) => (await child.request({ type: 'stats' }, 'stats', ms)).stats;
  return {
    pid: child.pid,
    setRate: (messagesPerSecond) => child.send({ type: 'rate', messagesPerSecond }),
    stats,
    async settle(ms) {
      child.send({ type: 'rate', messagesPerSecond: 0 });
      const deadline = performance.now() + ms;
      for (;;) {
        const s = await stats();
        if (s.acked + s.errors >= s.published || performance.now() > deadline) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    close: () => child.close(),
  };
}
