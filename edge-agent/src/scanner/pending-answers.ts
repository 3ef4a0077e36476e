import type { Timers } from '../agent-deps.ts';

/** Why a question got no answer. */
export type NoAnswer = 'timeout' | 'cancelled';

export type Answer<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly why: NoAnswer };

export interface PendingAnswers<T> {
  /** A new correlation id and the promise of its answer; undefined when `max` questions already wait. */
  open(): { readonly id: string; readonly answer: Promise<Answer<T>> } | undefined;
  /** Settles a question; false when none waits under that id (late, duplicate, or someone else's). */
  answer(id: string, value: T): boolean;
  cancel(id: string): void;
  /** Settles every waiting question with `cancelled` (the connection is gone). */
  cancelAll(): void;
  /** Cancels every waiting question and opens no more (the agent stops). */
  close(): void;
  readonly size: number;
}

/**
 * Questions sent over MQTT and awaiting their answer, correlated by an id carried in the payload
 * (MQTT 3.1.1 has no correlation data). Bounded: at most `max` wait; each is settled by its
 * answer, its timeout or a cancel, exactly once. Ids start with a per-instance prefix so that an
 * answer meant for an earlier run of the scanner never matches.
 */
export function createPendingAnswers<T>(config: { readonly prefix: string; readonly max: number; readonly timeoutMs: number }, deps: { readonly timers: Timers }): PendingAnswers<T> {
  const waiting = new Map<string, { settle: (answer: Answer<T>) => void; timer: unknown }>();
  let next = 0;
  let closed = false;

  function settle(id: string, answer: Answer<T>): boolean {
    const entry = waiting.get(id);
    if (entry === undefined) return false;
    waiting.delete(id);
    deps.timers.clearTimeout(entry.timer);
    entry.settle(answer);
    return true;
  }

  function cancelAll(): void {
    for (const id of [...waiting.keys()]) settle(id, { ok: false, why: 'cancelled' });
  }

  return {
    open() {
      if (closed || waiting.size >= config.max) return undefined;
      const id = `${config.prefix}${(next++).toString(36)}`;
      const answer = new Promise<Answer<T>>((resolve) => {
        const timer = deps.timers.setTimeout(() => settle(id, { ok: false, why: 'timeout' }), config.timeoutMs);
        waiting.set(id, { settle: resolve, timer });
      });
      return { id, answer };
    },
    answer: (id, value) => settle(id, { ok: true, value }),
    cancel(id) {
      settle(id, { ok: false, why: 'cancelled' });
    },
    cancelAll,
    close() {
      closed = true;
      cancelAll();
    },
    get size() {
      return waiting.size;
    },
  };
}
