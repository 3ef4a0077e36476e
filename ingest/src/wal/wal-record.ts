import { Packr } from 'msgpackr';

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

/** A payload refused with a reason, kept for the dead-letter table. */
export interface WalDeadLetterRecord {
  readonly kind: 'dead';
  readonly receivedAt: number;
  readonly device: string;
  readonly topic: string;
  readonly reason: string;
  readonly detail: string;
  readonly payload: Uint8Array;
}

export type WalRecord = WalBatchRecord | WalDeadLetterRecord;

export interface WalRecordCodec {
  encode(record: WalRecord): Buffer;
  decode(body: Buffer): WalRecord;
}

export function createWalRecordCodec(): WalRecordCodec {
  const packr = new Packr({ useRecords: false, mapsAsObjects: true });
  return {
    encode: (record) => packr.pack(record),
    decode: (body) => packr.unpack(body) as WalRecord,
  };
}

/** A record without its payload: what deduplication needs from retained segments. */
export type WalRecordHeader = Omit<WalBatchRecord, 'payload'> | Omit<WalDeadLetterRecord, 'payload'>;
