import type { DeadLetter, PackedBatch, Warehouse } from '@cityops/warehouse';
import type { IngestMetrics } from './ingest-metrics.ts';
import type { WriteAheadLog } from './wal/write-ahead-log.ts';

export interface WriterConfig {
  /** Flush as soon as this many rows are buffered. */
  readonly flushRows: number;
  /** One flush inserts its rows in parts of at most this many (a single batch may exceed it). */
  readonly maxInsertRows: number;
  /** Flush rows older than this even when fewer than flushRows are buffered. */
  readonly flushIntervalMs: number;
  /** Above this many rows buffered or in flight, acceptance waits (pressure goes back to devices). */
  readonly maxBufferedRows: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
}

export interface WriterDeps {
  readonly warehouse: Warehouse;
  readonly wal: WriteAheadLog;
  readonly metrics: IngestMetrics;
  readonly now: () => number;
  readonly onError: (err: unknown) => void;
}

/** A batch waits packed (`Warehouse.pack`): compact bytes, not the readings' objects. */
export type WriterItem =
  | { readonly kind: 'batch'; readonly batch: PackedBatch }
  | { readonly kind: 'dead'; readonly letter: DeadLetter };

export interface WarehouseWriter {
  /**
   * Reserves room for `rows` (waiting while the buffer is full), so that acceptance never holds more
   * than maxBufferedRows (plus one batch) however many batches arrive at once. Every admission is
   * followed by exactly one `push` of those rows or one `release`.
   */
  admit(rows: number): Promise<void>;
  release(rows: number): void;
  /**
   * Buffers an item that is already durable in the write-ahead log. Its rows were admitted, except
   * for records replayed from the log at start (`admitted: false`), which may exceed the bound.
   */
  push(item: WriterItem, admitted?: boolean): void;
  /** Rows admitted, buffered, or in the insert in flight. */
  load(): number;
  /**
   * When (deps.now) the oldest record that is durable in the log but not yet in the warehouse was
   * handed over (buffered or in the insert in flight); undefined when nothing is pending.
   */
  oldestPendingAt(): number | undefined;
  /** Inserts everything buffered now and waits for it. */
  flush(): Promise<void>;
  healthy(): boolean;
  start(): void;
  /** Flushes what is buffered (one attempt round); what cannot be written stays in the log. */
  stop(): Promise<void>;
}

function rowsOf(item: WriterItem): number {
  return item.kind === 'batch' ? item.batch.rows : 1;
}

/**
 * Cuts batches, in order, into inserts of at most maxRows (a batch larger than that alone). The
 * same list always gives the same parts, so a retried part carries the same dedup token.
 */
function insertParts(batches: readonly PackedBatch[], maxRows: number): PackedBatch[][] {
  const parts: PackedBatch[][] = [];
  let part: PackedBatch[] = [];
  let rows = 0;
  for (const b of batches) {
    if (part.length > 0 && rows + b.rows > maxRows) {
      parts.push(part);
      part = [];
      rows = 0;
    }
    part.push(b);
    rows += b.rows;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

/**
 * Batches durable records into large warehouse inserts: one insert per flush (thousands of rows),
 * one flush at a time, retried with backoff until it succeeds, then the log is checkpointed.
 */
export function createWarehouseWriter(config: WriterConfig, deps: WriterDeps): WarehouseWriter {
  const { warehouse, wal, metrics, now } = deps;
  let buffer: WriterItem[] = [];
  let bufferedRows = 0;
  let inFlightRows = 0;
  let oldest = 0;
  let inFlightOldest = 0;
  let flushing: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryWake: (() => void) | undefined;
  let failing = false;
  let stopping = false;
  let running = false;
  let reservedRows = 0;
  const roomWaiters: { rows: number; admit: () => void }[] = [];

  const load = () => reservedRows + bufferedRows + inFlightRows;

  function updateGauges(): void {
    metrics.bufferedRows.set(load());
    const since = inFlightRows > 0 ? inFlightOldest : bufferedRows > 0 ? oldest : now();
    metrics.lagSeconds.set((now() - since) / 1000);
  }

  /** Admits waiters in arrival order while there is room (or all of them when stopping). */
  function wakeRoomWaiters(): void {
    while (roomWaiters.length > 0 && (stopping || load() < config.maxBufferedRows)) {
      const waiter = roomWaiters.shift()!;
      reservedRows += waiter.rows;
      waiter.admit();
    }
  }

  function scheduleTimer(): void {
    if (timer !== undefined || !running || buffer.length === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      kick();
    }, Math.max(0, oldest + config.flushIntervalMs - now()));
  }

  function kick(): void {
    if (flushing !== undefined || buffer.length === 0) return;
    flushing = flushOnce().finally(() => {
      flushing = undefined;
      updateGauges();
      wakeRoomWaiters();
      if (!running) return;
      if (bufferedRows >= config.flushRows || (buffer.length > 0 && now() - oldest >= config.flushIntervalMs)) kick();
      else scheduleTimer();
    });
  }

  /** Waits until no flush is running (one may start another when it ends). */
  async function settled(): Promise<void> {
    for (let f = flushing; f !== undefined; f = flushing) await f;
  }

  function backoff(attempt: number): Promise<void> {
    const ms = Math.min(config.retryMaxMs, config.retryMinMs * 2 ** attempt);
    return new Promise((resolve) => {
      retryWake = resolve;
      retryTimer = setTimeout(resolve, ms);
    });
  }

  async function flushOnce(): Promise<void> {
    const { sealed, value: items } = await wal.roll(() => {
      const taken = buffer;
      buffer = [];
      inFlightRows = bufferedRows;
      inFlightOldest = oldest;
      bufferedRows = 0;
      return taken;
    });
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const batches: PackedBatch[] = [];
    const letters: DeadLetter[] = [];
    for (const item of items) {
      if (item.kind === 'batch') batches.push(item.batch);
      else letters.push(item.letter);
    }
    let lettersDone = letters.length === 0;
    const parts = insertParts(batches, config.maxInsertRows);
    let partsDone = 0;
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      try {
        // Dead letters first: on a retry after a partial failure, each part is sent once.
        if (!lettersDone) await warehouse.insertDeadLetters(letters);
        lettersDone = true;
        // Part by part; after a failure the retry starts at the part that failed.
        for (; partsDone < parts.length; partsDone++) await warehouse.insertPacked(parts[partsDone]!);
        metrics.flushSeconds.observe((performance.now() - started) / 1000);
        metrics.rowsWritten.inc(inFlightRows - letters.length);
        failing = false;
        break;
      } catch (err) {
        failing = true;
        metrics.warehouseErrors.inc();
        deps.onError(err);
        // Stopping with the warehouse down: the rows stay in the log and are replayed at start.
        if (stopping) {
          inFlightRows = 0;
          return;
        }
        await backoff(attempt);
      }
    }
    inFlightRows = 0;
    // Stored: their bytes may serve the next batches (never before the whole flush is in, as a part may be retried).
    warehouse.release(batches);
    await wal.checkpoint(sealed);
  }

  return {
    admit(rows) {
      if (roomWaiters.length === 0 && load() < config.maxBufferedRows) {
        reservedRows += rows;
        return Promise.resolve();
      }
      metrics.backpressureWaits.inc();
      return new Promise((resolve) => roomWaiters.push({ rows, admit: resolve }));
    },
    release(rows) {
      reservedRows -= rows;
      wakeRoomWaiters();
    },
    push(item, admitted = true) {
      if (buffer.length === 0) oldest = now();
      buffer.push(item);
      const rows = rowsOf(item);
      if (admitted) reservedRows -= rows;
      bufferedRows += rows;
      // The gauges follow every batch, not only each flush: a held insert must not hide a growing buffer.
      updateGauges();
      if (bufferedRows >= config.flushRows) kick();
      else scheduleTimer();
    },
    load,
    oldestPendingAt: () => (inFlightRows > 0 ? inFlightOldest : bufferedRows > 0 ? oldest : undefined),
    async flush() {
      await settled();
      kick();
      await settled();
    },
    healthy: () => !failing,
    start() {
      running = true;
      kick();
      scheduleTimer();
    },
    async stop() {
      running = false;
      stopping = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      retryWake?.();
      await settled();
      if (!failing) {
        kick();
        await settled();
      }
      // Admit anyone still waiting; acceptance checks that it is stopping and refuses.
      wakeRoomWaiters();
    },
  };
}
