import { createTelemetryCodec, formatPlace, isCityopsError, parsePlace, type TelemetryBatch } from '@cityops/protocol';
import type { DeviceInfo, PackedBatch, SensorSets, StoredBatch, Warehouse } from '@cityops/warehouse';
import type { BatchClaims } from './batch-claims.ts';
import { batchKey, createDedupWindow } from './dedup-window.ts';
import { ingestErrors } from './errors.ts';
import type { IngestMetrics } from './ingest-metrics.ts';
import { describeSensorRefusals } from './sensor-refusals.ts';
import { createWarehouseWriter, type WarehouseWriter, type WriterConfig } from './warehouse-writer.ts';
import type { WalBatchRecord, WalRecord } from './wal/wal-record.ts';
import type { WriteAheadLog } from './wal/write-ahead-log.ts';

export interface PipelineConfig {
  readonly maxPayloadBytes: number;
  /** Readings older than this (relative to arrival) are refused: never silently misdated. */
  readonly maxReadingAgeMs: number;
  /** Readings further in the future than this are refused (a device clock far ahead). */
  readonly maxReadingAheadMs: number;
  readonly dedupCapacity: number;
  readonly writer: WriterConfig;
}

export interface PipelineDeps {
  readonly warehouse: Warehouse;
  readonly wal: WriteAheadLog;
  readonly metrics: IngestMetrics;
  /** Each device's known sensors: readings beyond a device's caps are refused (issue 17). */
  readonly sensors: SensorSets;
  readonly now: () => number;
  readonly onError: (err: unknown) => void;
  /** Cluster mode: the batch key claimed in Redis before the WAL append (issue 22). Absent: this instance's window alone. */
  readonly claims?: BatchClaims;
}

export type Transport = 'mqtt' | 'http';

export type AcceptOutcome =
  | {
      readonly outcome: 'accepted';
      readonly boot: number;
      readonly seq: number;
      readonly readings: number;
      /** What was stored and is to be forwarded: the payload itself, or re-encoded without the refused readings. */
      readonly payload: Buffer;
      /** Readings refused by the device's sensor set, kept as a dead letter with the raw payload. */
      readonly refused?: { readonly code: string; readonly message: string; readonly readings: number };
    }
  | { readonly outcome: 'duplicate'; readonly boot: number; readonly seq: number }
  | { readonly outcome: 'dead_letter'; readonly code: string; readonly message: string };

export interface TelemetryPipeline {
  /** Replays what the log holds from a previous run; call before accepting. */
  start(): Promise<{ replayedBatches: number; alreadyStored: number; truncatedBytes: number; claimsStored: number; claimsReleased: number }>;
  /**
   * Decodes, validates and deduplicates a payload, and resolves once the outcome is durable: an
   * accepted batch or a dead letter is in the write-ahead log. Rejects only when it cannot be made
   * durable (disk failure, stopping): then nothing was accepted and the sender must retry.
   */
  accept(device: DeviceInfo, topic: string, payload: Buffer, transport: Transport): Promise<AcceptOutcome>;
  writer(): WarehouseWriter;
  stop(): Promise<void>;
}

/**
 * decode -> validate -> dedup -> durable hand-off -> batched warehouse writes. The PUBACK (or HTTP
 * 202) is sent only after `accept` resolves, i.e. after the record is fdatasync'ed: that is why an
 * acknowledged batch survives a kill -9.
 */
export function createTelemetryPipeline(config: PipelineConfig, deps: PipelineDeps): TelemetryPipeline {
  const { wal, metrics, now } = deps;
  const codec = createTelemetryCodec({ maxPayloadBytes: config.maxPayloadBytes });
  const dedup = createDedupWindow(config.dedupCapacity);
  const writer = createWarehouseWriter(config.writer, deps);
  // Keys remembered whose append is not yet durable. A copy of such a batch (a device that gave up
  // waiting and resent it on a new connection) is acknowledged only when the first copy's append
  // is: answered at once, a kill in between lost a batch whose device had heard it was stored.
  const appending = new Map<string, Promise<void>>();
  let stopped = false;

  function checkTimestamps(batch: TelemetryBatch, receivedAt: number): void {
    const earliest = receivedAt - config.maxReadingAgeMs;
    const latest = receivedAt + config.maxReadingAheadMs;
    for (const [i, r] of batch.readings.entries()) {
      if (r.ts < earliest || r.ts > latest) {
        throw ingestErrors.INGEST_ERR_TIMESTAMP_OUT_OF_RANGE(
          `/readings/${i}/ts ${new Date(r.ts).toISOString()} is outside ` +
            `[${new Date(earliest).toISOString()}, ${new Date(latest).toISOString()}]`,
        );
      }
    }
  }

  function storedBatch(record: WalBatchRecord, batch: TelemetryBatch): StoredBatch {
    return {
      device: record.device,
      place: parsePlace(record.place),
      boot: batch.boot,
      seq: batch.seq,
      receivedAt: record.receivedAt,
      readings: batch.readings,
    };
  }

  async function recover() {
    const { pending, retained, truncatedBytes } = await wal.open();
    for (const r of retained) if (r.kind === 'batch') dedup.remember(r.device, r.boot, r.seq);
    const batches = pending.filter((r): r is WalBatchRecord => r.kind === 'batch');
    // Before anything is accepted: the claims this instance left pending (killed between claim and
    // PUBACK) are marked stored when the WAL has the batch, given back when it does not.
    let claims = { stored: 0, released: 0 };
    if (deps.claims !== undefined) {
      const keys = new Set<string>();
      for (const r of [...retained, ...batches]) if (r.kind === 'batch') keys.add(batchKey(r.device, r.boot, r.seq));
      claims = await deps.claims.resolve((device, boot, seq) => keys.has(batchKey(device, boot, seq)));
    }
    // A crash between a warehouse insert and its checkpoint leaves rows that are already stored:
    // ask the warehouse which of the pending keys it has, and replay only the others.
    const stored = new Set<string>();
    if (batches.length > 0) {
      const from = batches.reduce((min, b) => Math.min(min, b.receivedAt), Infinity);
      const devices = [...new Set(batches.map((b) => b.device))];
      const rows = await deps.warehouse.query<{ device: string; boot: number; seq: number }>(
        'SELECT DISTINCT device, boot, seq FROM readings ' +
          'WHERE received_at >= fromUnixTimestamp64Milli({from:Int64}) AND device IN {devices:Array(String)}',
        { from, devices },
      );
      for (const row of rows) stored.add(batchKey(row.device, row.boot, row.seq));
    }
    let alreadyStored = 0;
    for (const record of pending) {
      if (record.kind === 'dead') {
        writer.push({ kind: 'dead', letter: record }, false);
        continue;
      }
      dedup.remember(record.device, record.boot, record.seq);
      if (stored.has(batchKey(record.device, record.boot, record.seq))) {
        alreadyStored++;
        continue;
      }
      writer.push({ kind: 'batch', batch: deps.warehouse.pack(storedBatch(record, codec.decode(record.payload))) }, false);
    }
    writer.start();
    return { replayedBatches: batches.length - alreadyStored, alreadyStored, truncatedBytes, claimsStored: claims.stored, claimsReleased: claims.released };
  }

  /** Makes a dead letter durable (write-ahead log) and counts it. */
  async function storeDeadLetter(device: DeviceInfo, topic: string, payload: Buffer, code: string, message: string): Promise<void> {
    const record: WalRecord = {
      kind: 'dead',
      receivedAt: now(),
      device: device.id,
      topic,
      reason: code,
      detail: message.slice(0, 1000),
      // Oversized payloads are cut to the limit: their reason and size are what matter. A copy: the
      // payload is often a view into the socket's 64 KiB read, which the writer's buffer would keep
      // alive whole (a flood of refused batches: ~10x their bytes held, issue 17).
      payload: Buffer.from(payload.subarray(0, config.maxPayloadBytes)),
    };
    await writer.admit(1);
    try {
      await wal.append(record, () => writer.push({ kind: 'dead', letter: record }));
    } catch (err) {
      writer.release(1);
      throw err;
    }
    metrics.deadLetters.inc({ reason: code });
  }

  /** A copy of a batch remembered already: acknowledged once the first copy is durable (its failure fails this one too). */
  async function duplicate(device: string, boot: number, seq: number, transport: Transport): Promise<AcceptOutcome> {
    const first = appending.get(batchKey(device, boot, seq));
    if (first !== undefined) await first;
    metrics.batches.inc({ outcome: 'duplicate', transport });
    return { outcome: 'duplicate', boot, seq };
  }

  async function deadLetter(device: DeviceInfo, topic: string, payload: Buffer, err: unknown, transport: Transport) {
    const code = isCityopsError(err) ? err.code : 'INGEST_ERR_INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    await storeDeadLetter(device, topic, payload, code, message);
    metrics.batches.inc({ outcome: 'dead_letter', transport });
    return { outcome: 'dead_letter' as const, code, message };
  }

  return {
    start: recover,
    async accept(device, topic, payload, transport) {
      if (stopped) throw ingestErrors.INGEST_ERR_STOPPED();
      const receivedAt = now();
      let batch: TelemetryBatch;
      try {
        batch = codec.decode(payload);
        checkTimestamps(batch, receivedAt);
      } catch (err) {
        return deadLetter(device, topic, payload, err, transport);
      }
      const { boot, seq } = batch;
      if (dedup.has(device.id, boot, seq)) return duplicate(device.id, boot, seq, transport);
      const { claims } = deps;
      if (claims === undefined) return store(device, topic, payload, transport, batch, receivedAt);
      // Claimed before anything is made durable, so a refused claim leaves nothing behind.
      const claim = await claims.claim(device.id, boot, seq);
      if (claim.outcome === 'stored') {
        metrics.batches.inc({ outcome: 'duplicate', transport });
        return { outcome: 'duplicate', boot, seq };
      }
      if (claim.outcome === 'held') {
        throw ingestErrors.INGEST_ERR_CLAIM_HELD(
          `${device.id} boot ${boot} seq ${seq} is held by ${claim.holder} (${claim.holderAlive ? 'alive' : 'lease expired: waiting for its WAL replay'})`,
        );
      }
      // A copy in flight here keeps the claim; otherwise nothing of this key is in our WAL: given back.
      const giveBack = async () => {
        if (!dedup.has(device.id, boot, seq)) await claims.release(device.id, boot, seq);
      };
      let result: AcceptOutcome;
      try {
        result = await store(device, topic, payload, transport, batch, receivedAt);
      } catch (err) {
        await giveBack();
        throw err;
      }
      if (result.outcome === 'dead_letter') await giveBack();
      return result;
    },
    writer: () => writer,
    async stop() {
      stopped = true;
      await writer.stop();
      await deps.claims?.stop();
      await wal.close();
    },
  };

  /** From the sensor screen to the durable append: the batch is new here (and claimed, when clustered). */
  async function store(device: DeviceInfo, topic: string, payload: Buffer, transport: Transport, batch: TelemetryBatch, receivedAt: number): Promise<AcceptOutcome> {
    const { boot, seq } = batch;
    // A batch mixing known and refused readings: the known ones are stored and forwarded as usual,
    // the refused ones are a dead letter (the raw payload, their sensors named in the detail). Only
    // then is the payload re-encoded, so subscribers (analytics) never see a refused sensor.
    let readings = batch.readings;
    let stored = payload;
    let refused: { code: string; message: string; readings: number } | undefined;
    const screened = deps.sensors.screen(device.id, readings);
    if (screened !== undefined) {
      const refusal = describeSensorRefusals(screened.refused, readings.length);
      for (const [reason, n] of refusal.counts) metrics.sensorRefusals.inc({ reason }, n);
      const err = ingestErrors[refusal.code](refusal.message);
      if (screened.kept.length === 0) return deadLetter(device, topic, payload, err, transport);
      await storeDeadLetter(device, topic, payload, err.code, err.message);
      refused = { code: err.code, message: err.message, readings: screened.refused.length };
      readings = screened.kept;
      stored = codec.encode({ boot, seq, readings });
    }
    let packed: PackedBatch;
    try {
      // Packed now, while the decoded readings are young: the writer holds only the packed bytes.
      packed = deps.warehouse.pack({ device: device.id, place: device.place, boot, seq, receivedAt, readings });
    } catch (err) {
      return deadLetter(device, topic, payload, err, transport);
    }
    const rows = readings.length;
    await writer.admit(rows);
    if (stopped) {
      writer.release(rows);
      deps.warehouse.release([packed]);
      throw ingestErrors.INGEST_ERR_STOPPED();
    }
    // Claim the key before the await, so a concurrent copy of the same batch is a duplicate.
    if (!dedup.remember(device.id, boot, seq)) {
      writer.release(rows);
      // Never buffered: its bytes may serve the next batch (a gateway resending after a reconnect sends many).
      deps.warehouse.release([packed]);
      return duplicate(device.id, boot, seq, transport);
    }
    const record: WalBatchRecord = {
      kind: 'batch',
      receivedAt,
      device: device.id,
      place: formatPlace(device.place),
      boot,
      seq,
      payload: stored,
    };
    const started = performance.now();
    const key = batchKey(device.id, boot, seq);
    const appended = wal.append(record, () => {
      writer.push({ kind: 'batch', batch: packed });
      deps.claims?.stored(device.id, boot, seq);
    });
    appending.set(key, appended);
    try {
      await appended;
    } catch (err) {
      dedup.forget(device.id, boot, seq);
      writer.release(rows);
      throw err;
    } finally {
      appending.delete(key);
    }
    metrics.walSyncSeconds.observe((performance.now() - started) / 1000);
    metrics.readings.inc(rows);
    metrics.batches.inc({ outcome: 'accepted', transport });
    return { outcome: 'accepted', boot, seq, readings: rows, payload: stored, ...(refused === undefined ? {} : { refused }) };
  }
}
