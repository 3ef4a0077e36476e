/**
 * Gathers items into batches so that one message to a worker carries many: a batch leaves when it
 * holds `maxItems`, or `maxDelayMs` after its first item (0: at the end of the current event-loop
 * turn, through setImmediate), or when an item with another key arrives (a batch is verified
 * against one trust version). A batch whose time has come while `hold()` says the runner is
 * backed up stays open and keeps gathering until one of this batcher's runs settles (or it is
 * full): under load batches grow instead of queueing behind each other, and a request waits no
 * longer than it would have in the runner's queue. At most one batch is open, so the batcher holds
 * at most maxItems; what happens to batches after they leave is the runner's business (the pool
 * bounds it).
 */
export interface MicroBatcherConfig {
  readonly maxItems: number;
  readonly maxDelayMs: number;
}

export interface MicroBatcherDeps<K, I, O> {
  /** Must return one result per item, in order; if it rejects, every item of the batch rejects. */
  readonly run: (key: K, items: I[]) => Promise<O[]>;
  /** True while a batch sent now would only wait (a batch already waits for a thread); absent: never. */
  readonly hold?: () => boolean;
}

export interface MicroBatcher<K, I, O> {
  push(key: K, item: I): Promise<O>;
  /** Sends the open batch now, held or not. */
  flush(): void;
  /** Items in the open batch. */
  readonly open: number;
}

interface OpenBatch<K, I, O> {
  readonly key: K;
  readonly items: I[];
  readonly settle: { resolve: (value: O) => void; reject: (err: unknown) => void }[];
  timer?: NodeJS.Timeout | undefined;
  immediate?: NodeJS.Immediate | undefined;
  /** Its time came while the runner was backed up: it leaves when one of our runs settles. */
  held: boolean;
}

export function createMicroBatcher<K, I, O>(config: MicroBatcherConfig, deps: MicroBatcherDeps<K, I, O>): MicroBatcher<K, I, O> {
  const { run, hold } = deps;
  let batch: OpenBatch<K, I, O> | undefined;
  let running = 0;

  /** A run of ours settled: a held batch goes now (if the runner is still backed up, it waits for the next). */
  function settled(): void {
    running--;
    if (batch?.held === true) due();
  }

  /** The open batch's time has come. Held only while one of our runs is out, so a settle always releases it. */
  function due(): void {
    const b = batch;
    if (b === undefined) return;
    b.timer = undefined;
    b.immediate = undefined;
    if (running > 0 && hold?.() === true) {
      b.held = true;
      return;
    }
    flush();
  }

  function flush(): void {
    const b = batch;
    if (b === undefined) return;
    batch = undefined;
    if (b.timer !== undefined) clearTimeout(b.timer);
    if (b.immediate !== undefined) clearImmediate(b.immediate);
    running++;
    run(b.key, b.items).then(
      (results) => {
        settled();
        if (results.length !== b.items.length) {
          const err = new Error(`batch of ${b.items.length} items answered with ${results.length} results`);
          for (const s of b.settle) s.reject(err);
          return;
        }
        for (let i = 0; i < results.length; i++) b.settle[i]!.resolve(results[i] as O);
      },
      (err: unknown) => {
        settled();
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
          batch = { key, items: [], settle: [], held: false };
          if (config.maxDelayMs === 0) batch.immediate = setImmediate(due);
          else batch.timer = setTimeout(due, config.maxDelayMs);
        }
        batch.items.push(item);
        batch.settle.push({ resolve, reject });
        if (batch.items.length >= config.maxItems) flush();
      });
    },
  };
}
