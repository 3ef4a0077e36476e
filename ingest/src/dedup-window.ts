/**
 * Recently accepted idempotency keys `(device, boot, seq)`, bounded: the oldest key is forgotten
 * when the window is full. Replays come from batches that were made durable but whose PUBACK was
 * lost, so they are recent; the window needs to span minutes, not history.
 */
export interface DedupWindow {
  /** True when the key was not seen and is now remembered. */
  remember(device: string, boot: number, seq: number): boolean;
  has(device: string, boot: number, seq: number): boolean;
  forget(device: string, boot: number, seq: number): void;
  size(): number;
}

/** A batch's idempotency key (device, boot, seq) as one string: the window's, and the pipeline's sets and maps. */
export const batchKey = (device: string, boot: number, seq: number): string => `${device}\u0000${boot}\u0000${seq}`;

/**
 * The keys in a ring of `capacity` slots (the oldest is the one the next key overwrites) beside a
 * Map from key to slot. The window used to find its oldest key as a Set's first entry
 * (`keys.values().next()`): V8 leaves a deleted entry as a hole until the table is rebuilt, so at
 * capacity that first step walked over every key deleted since: 82 µs a batch at the default
 * 200,000 keys, where the ring takes 1.3–2 µs (`npx tsx ingest/test/measure-dedup-window.ts`). Both
 * still pause now and then while V8 rebuilds the Map's table (11–14 of 400,000 over 2 ms, up to ~50 ms).
 */
export function createDedupWindow(capacity: number): DedupWindow {
  const slots = new Map<string, number>();
  const ring: Array<string | undefined> = new Array<string | undefined>(capacity).fill(undefined);
  let next = 0;
  return {
    remember(device, boot, seq) {
      const k = batchKey(device, boot, seq);
      if (slots.has(k)) return false;
      const oldest = ring[next];
      if (oldest !== undefined) slots.delete(oldest);
      ring[next] = k;
      slots.set(k, next);
      next = (next + 1) % capacity;
      return true;
    },
    has: (device, boot, seq) => slots.has(batchKey(device, boot, seq)),
    forget(device, boot, seq) {
      const k = batchKey(device, boot, seq);
      const slot = slots.get(k);
      if (slot === undefined) return;
      slots.delete(k);
      // Its slot empties, so the key remembered again later is not forgotten when this slot comes round.
      ring[slot] = undefined;
    },
    size: () => slots.size,
  };
}
