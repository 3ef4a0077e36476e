/**
 * Gathers items into batches so that one message to a worker carries many: a batch leaves when it
 * holds `maxItems`, or `maxDelayMs` after its first item (0: at the end of the current event-loop
 * turn, through setImmediate), or when an item with another key arrives (a batch is verified
 * against one trust version). At most one batch is open, so the batcher holds at most maxItems;
 * what happens to batches after they leave is the runner's business (the pool bounds it).
 */
export interface MicroBatcherConfig {
  readonly maxItems: number;
  readonly maxDelayMs: number;
}

export interface MicroBatcher<K, I, O> {
  push(key: K, item: I): Promise<O>;
  /** Sends the open batch now. */
  flush(): void;
  /** Items in the open batch. */
  readonly open: number;
}

interface OpenBatch<K, I, O> {
  readonly key: K;
  readonly items: I[];
  readonly settle: { resolve: (value: O) => void; reject: (err: unknown) => void }[];
  timer?: NodeJS.Timeout;
  immediate?: NodeJS.Immediate;
}

/** `run` must return one result per item, in order; if it rejects, every item of the batch rejects. */
export function createMicroBatcher<K, I, O>(
  config: MicroBatcherConfig,
  run: (key: K, items: I[]) => Promise<O[]>,
): MicroBatcher<K, I, O> {
  let batch: OpenBatch<K, I, O> | undefined;

  function flush(): void {
    const b = batch;
    if (b === undefined) return;
    batch = undefined;
    if (b.timer !== undefined) clearTimeout(b.timer);
    if (b.immediate !== undefined) clearImmediate(b.immediate);
    run(b.key, b.items).then(
      (results) => {
        if (results.length !== b.items.length) {
          const err = new Error(`batch of ${b.items.length} items answered with ${results.length} results`);
          for (const s of b.settle) s.reject(err);
          return;
        }
        b.settle.forEach((s, i) => s.resolve(results[i] as O));
      },
      (err: unknown) => {
        for (const s of b.settle) s.reject(err);
      },
    );
  }

  return {
    get open() {
      return batch?.items.length ?? 0;
    },
    flush,
    push(key, item) {
      if (batch !== undefined && batch.key !== key) flush();
      return new Promise<O>((resolve, reject) => {
        if (batch === undefined) {
          batch = { key, items: [], settle: [] };
          if (config.maxDelayMs === 0) batch.immediate = setImmediate(flush);
          else batch.timer = setTimeout(flush, config.maxDelayMs);
        }
        batch.items.push(item);
        batch.settle.push({ resolve, reject });
        if (batch.items.length >= config.maxItems) flush();
      });
    },
  };
}
