import type { Warehouse } from './types.ts';

/** The bulk inserts of the ingest path (readings, pre-packed readings, dead letters): the ones held. */
const HELD_INSERTS: readonly string[] = ['insertBatches', 'insertPacked', 'insertDeadLetters'];

export interface InsertDelayOptions {
  /**
   * How long each bulk insert (insertBatches, insertPacked, insertDeadLetters) is held before it is passed on, in ms;
   * a function is asked at each call, so the delay can change while the warehouse is in use.
   */
  readonly delayMs: number | (() => number);
}

/**
 * A warehouse made slow on purpose, for drills and benchmarks: each bulk insert of the ingest path
 * (HELD_INSERTS) waits `delayMs` and then goes to `warehouse`; everything else (queries, plain-row inserts,
 * close) passes straight through. With a delay of 0 a call is passed on at once.
 */
export function withInsertDelay(warehouse: Warehouse, options: InsertDelayOptions): Warehouse {
  const delayOf = typeof options.delayMs === 'function' ? options.delayMs : () => options.delayMs as number;
  const held = new Map<PropertyKey, (...args: unknown[]) => Promise<unknown>>();
  for (const name of HELD_INSERTS) {
    const insert: unknown = Reflect.get(warehouse, name);
    if (typeof insert !== 'function') continue;
    held.set(name, async (...args) => {
      const ms = delayOf();
      if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError(`insert delay must be a finite number of ms >= 0, got ${ms}`);
      if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
      return (insert as (...a: unknown[]) => Promise<unknown>).apply(warehouse, args);
    });
  }
  // A proxy rather than a copy: members the interface gains later pass through too, bound to the original.
  return new Proxy(warehouse, {
    get(target, property, receiver) {
      const slow = held.get(property);
      if (slow !== undefined) return slow;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
