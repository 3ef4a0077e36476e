import type { Logger } from 'pino';
import type { Random } from './seeded-random.ts';

/** Timer functions a test may replace (fake timers work with the defaults too: they look up globals per call). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const systemTimers: Timers = Object.freeze({
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout | undefined),
  setInterval: (fn: () => void, ms: number) => setInterval(fn, ms),
  clearInterval: (handle: unknown) => clearInterval(handle as NodeJS.Timeout | undefined),
});

/** What the gateway agent and its parts take from outside: everything a test wants to control. */
export interface AgentDeps {
  /** Wall clock in ms since the epoch: reading timestamps, status messages. */
  readonly now?: () => number;
  readonly random?: Random;
  readonly timers?: Timers;
  readonly logger?: Logger;
}
