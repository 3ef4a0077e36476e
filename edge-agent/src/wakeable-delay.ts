import type { Timers } from './agent-deps.ts';

/** A delay that stop() can cut short: a source's loop waits in it, one wait at a time. */
export interface WakeableDelay {
  /** Resolves after `ms`, or at once when wake() is called meanwhile. */
  wait(ms: number): Promise<void>;
  /** Ends the wait under way now, its timer cleared; nothing when none is. */
  wake(): void;
}

export function createWakeableDelay(timers: Timers): WakeableDelay {
  let pending: { readonly handle: unknown; readonly resolve: () => void } | undefined;
  return {
    wait(ms) {
      return new Promise((resolve) => {
        const handle = timers.setTimeout(() => {
          pending = undefined;
          resolve();
        }, ms);
        pending = { handle, resolve };
      });
    },
    wake() {
      const current = pending;
      pending = undefined;
      if (current === undefined) return;
      timers.clearTimeout(current.handle);
      current.resolve();
    },
  };
}
