import { Packr } from 'msgpackr';
import type { DeadLetter } from '@cityops/warehouse';

/** An accepted telemetry batch: the raw payload plus what the server decided at acceptance. */
export interface WalBatchRecord {
  readonly kind: 'batch';
  readonly receivedAt: number;
  readonly device: string;
  /** The device's place when the batch was accepted (`district/subdistrict/grid[/building]`). */
  readonly place: string;
  readonly boot: number;
  readonly seq: number;
  readonly payload: Uint8Array;
}

/** A payload refused with a reason: the dead-letter row, as it will be inserted. */
export interface WalDeadLetterRecord extends DeadLetter {
  readonly kind: 'dead';
}

export type WalRecord = WalBatchRecord | WalDeadLetterRecord;

export interface WalRecordCodec {
  /** The record's body as parts: a small msgpack header, then the payload bytes as they are. */
  encode(record: WalRecord): Uint8Array[];
  decode(body: Buffer): WalRecord;
}

/**
 * Body layout: `[u32 header length][msgpack header: every field but the payload][payload]`. The
 * payload (up to a megabyte) is never re-encoded or copied on the way to disk.
 */
export function createWalRecordCodec(): WalRecordCodec {
  const packr = new Packr({ useRecords: false, mapsAsObjects: true });
  return {
    encode(record) {
      const { payload, ...header } = record;
      const head = packr.pack(header);
      const prefix = Buffer.allocUnsafe(4);
      prefix.writeUInt32LE(head.byteLength, 0);
      return [prefix, head, payload];
    },
    decode(body) {
      const headLength = body.readUInt32LE(0);
      const header = packr.unpack(body.subarray(4, 4 + headLength)) as WalRecordHeader;
      return { ...header, payload: body.subarray(4 + headLength) };
    },
  };
}

/** A record without its payload: what deduplication needs from retained segments. */
export type WalRecordHeader = Omit<WalBatchRecord, 'payload'> | Omit<WalDeadLetterRecord, 'payload'>;
