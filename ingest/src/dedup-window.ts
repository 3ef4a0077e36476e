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

export function createDedupWindow(capacity: number): DedupWindow {
  const keys = new Set<string>();
  const key = (device: string, boot: number, seq: number) => `${device}\u0000${boot}\u0000${seq}`;
  return {
    remember(device, boot, seq) {
      const k = key(device, boot, seq);
      if (keys.has(k)) return false;
      keys.add(k);
      if (keys.size > capacity) {
        // Sets iterate in insertion order: the first key is the oldest.
        const oldest = keys.values().next().value;
        if (oldest !== undefined) keys.delete(oldest);
      }
      return true;
    },
    has: (device, boot, seq) => keys.has(key(device, boot, seq)),
    forget(device, boot, seq) {
      keys.delete(key(device, boot, seq));
    },
    size: () => keys.size,
  };
}
