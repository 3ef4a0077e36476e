import { forkIpcChild } from './ipc-child.ts';
import type { LoadCommand, LoadMessage, LoadProcessConfig } from './soak-load-messages.ts';

type Of<T extends LoadMessage['type']> = Extract<LoadMessage, { type: T }>;

export interface SoakLoad {
  readonly pid: number;
  setRate(readingsPerSecond: number): void;
  sample(timeoutMs?: number): Promise<Of<'sample'>>;
  /** Stops publishing, lets PUBACKs in flight arrive, and returns what was acknowledged. */
  finish(timeoutMs?: number): Promise<Of<'ledger'>>;
  /** Kills the process if it is still there (idempotent). */
  close(): Promise<void>;
}

/** Forks the soak's load generator (soak-load-process.ts, through tsx) and waits until its gateways are connected. */
export async function startSoakLoad(config: LoadProcessConfig, timeoutMs = 120_000): Promise<SoakLoad> {
  const child = await forkIpcChild<LoadCommand, LoadMessage>(new URL('./soak-load-process.ts', import.meta.url), [JSON.stringify(config)], 'soak load', timeoutMs);
  return {
    pid: child.pid,
    setRate: (readingsPerSecond) => child.send({ type: 'rate', readingsPerSecond }),
    sample: (ms = 10_000) => child.request({ type: 'sample' }, 'sample', ms),
    finish: (ms = 60_000) => child.request({ type: 'stop' }, 'ledger', ms),
    close: () => child.close(),
  };
}
