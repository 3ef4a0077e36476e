import type { Reading } from '@cityops/protocol';
import type { Logger } from 'pino';

/** A source the slot can run: an async iterable of readings that `stop()` ends (and `start()` begins, if it has one). */
export interface SlotSource extends AsyncIterable<Reading> {
  start?(): Promise<void> | void;
  stop(): Promise<void>;
  stats?(): object;
}

export interface SourceSlot {
  /**
   * Stops the running source, waits until everything it yielded has been pushed (to the batcher, and
   * so to the journal), then starts `next`. One source at a time: two pollers never share a bus.
   */
  swap(next: SlotSource): Promise<void>;
  /** The running source, if any. */
  current(): SlotSource | undefined;
  /** Resolves when the running source ends by itself (stdin closed) or the slot stops; not on a swap. */
  ended(): Promise<void>;
  /** Stops the running source; a swap after this stops the source it is given instead of running it. */
  stop(): Promise<void>;
}

export interface SourceSlotDeps {
  /** The agent's consume: pushes every reading until the source ends or the agent stops. */
  readonly consume: (source: AsyncIterable<Reading>) => Promise<void>;
  readonly logger: Logger;
}

/** Runs one reading source at a time for the gateway agent and swaps it for another on demand. */
export function createSourceSlot(deps: SourceSlotDeps): SourceSlot {
  let running: { source: SlotSource; done: Promise<void>; replaced: boolean } | undefined;
  let swapping: Promise<void> = Promise.resolve();
  const endWaiters: (() => void)[] = [];
  let stopped = false;

  async function release(): Promise<void> {
    const old = running;
    running = undefined;
    if (old === undefined) return;
    old.replaced = true;
    await old.source.stop().catch((err: unknown) => deps.logger.warn({ err }, 'source did not stop cleanly'));
    await old.done;
  }

  function run(source: SlotSource): void {
    const entry = { source, replaced: false, done: Promise.resolve() };
    entry.done = (async () => {
      try {
        await source.start?.();
        await deps.consume(source);
      } catch (err) {
        deps.logger.error({ err }, 'reading source failed');
      }
      if (!entry.replaced) for (const resolve of endWaiters.splice(0)) resolve();
    })();
    running = entry;
  }

  function serially(step: () => Promise<void>): Promise<void> {
    swapping = swapping.then(step, step);
    return swapping;
  }

  return {
    swap: (next) => serially(async () => {
      await release();
      if (stopped) await next.stop();
      else run(next);
    }),
    current: () => running?.source,
    ended: () => new Promise((resolve) => endWaiters.push(resolve)),
    stop: () => {
      stopped = true;
      return serially(async () => {
        await release();
        for (const resolve of endWaiters.splice(0)) resolve();
      });
    },
  };
}
