import { crc32 } from 'node:zlib';

/**
 * The journal's on-disk format. A segment file starts with an 8-byte header, then records:
 *
 *   segment header: "CJNL" | u16 version (1) | u8 lane (0 alarm, 1 routine) | u8 reserved (0)
 *   record:         u32 body length | u32 CRC-32 of body | body
 *   body:           u32 boot | u32 seq | u32 reading count | encoded batch (msgpack, as sent)
 *
 * All integers big-endian. The length and CRC let a reader find the end of the good data after a
 * crash tore the last write; boot/seq/count let the journal report and account without decoding.
 */
export const LANES = ['alarm', 'routine'] as const;
export type Lane = (typeof LANES)[number];

export const SEGMENT_MAGIC = Buffer.from('CJNL', 'ascii');
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 8;
export const RECORD_HEADER_BYTES = 8;
export const RECORD_META_BYTES = 12;
/** Far above any batch (10,000 readings of at most ~200 bytes): a larger length is corruption. */
export const MAX_RECORD_BODY_BYTES = 16 * 1024 * 1024;

export interface RecordMeta {
  readonly boot: number;
  readonly seq: number;
  readonly readings: number;
}

export function encodeSegmentHeader(lane: Lane): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(header, 0);
  header.writeUInt16BE(SEGMENT_VERSION, 4);
  header.writeUInt8(LANES.indexOf(lane), 6);
  return header;
}

/** Why a segment header is unusable, or undefined when it is fine. */
export function segmentHeaderProblem(header: Buffer, lane: Lane): string | undefined {
  if (header.length < SEGMENT_HEADER_BYTES) return `header is ${header.length} bytes, expected ${SEGMENT_HEADER_BYTES}`;
  if (!header.subarray(0, 4).equals(SEGMENT_MAGIC)) return 'bad magic';
  const version = header.readUInt16BE(4);
  if (version !== SEGMENT_VERSION) return `unknown version ${version}`;
  if (header.readUInt8(6) !== LANES.indexOf(lane)) return `segment belongs to another lane than ${lane}`;
  return undefined;
}

/** One record, header included, in a single buffer (one write call). */
export function encodeRecord(meta: RecordMeta, payload: Uint8Array): Buffer {
  const bodyBytes = RECORD_META_BYTES + payload.byteLength;
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + bodyBytes);
  record.writeUInt32BE(bodyBytes, 0);
  record.writeUInt32BE(meta.boot, 8);
  record.writeUInt32BE(meta.seq, 12);
  record.writeUInt32BE(meta.readings, 16);
  record.set(payload, RECORD_HEADER_BYTES + RECORD_META_BYTES);
  record.writeUInt32BE(crc32(record.subarray(RECORD_HEADER_BYTES)), 4);
  return record;
}

export type RecordDecode =
  | { readonly kind: 'record'; readonly size: number; readonly meta: RecordMeta; readonly payload: Buffer }
  /** Not enough bytes yet: `need` bytes from `offset` would settle it. */
  | { readonly kind: 'short'; readonly need: number }
  | { readonly kind: 'corrupt'; readonly reason: string };

/** Decodes the record starting at `offset` of `buf`; the payload is a view into `buf`. */
export function decodeRecord(buf: Buffer, offset: number): RecordDecode {
  const available = buf.length - offset;
  if (available < RECORD_HEADER_BYTES) return { kind: 'short', need: RECORD_HEADER_BYTES };
  const bodyBytes = buf.readUInt32BE(offset);
  if (bodyBytes < RECORD_META_BYTES || bodyBytes > MAX_RECORD_BODY_BYTES) {
    return { kind: 'corrupt', reason: `record length ${bodyBytes} out of range` };
  }
  const size = RECORD_HEADER_BYTES + bodyBytes;
  if (available < size) return { kind: 'short', need: size };
  const body = buf.subarray(offset + RECORD_HEADER_BYTES, offset + size);
  if (crc32(body) !== buf.readUInt32BE(offset + 4)) return { kind: 'corrupt', reason: 'CRC mismatch' };
  return {
    kind: 'record',
    size,
    meta: { boot: body.readUInt32BE(0), seq: body.readUInt32BE(4), readings: body.readUInt32BE(8) },
    payload: body.subarray(RECORD_META_BYTES),
  };
}

const SEGMENT_NAME = /^(\d{16})\.seg$/;

export function segmentFileName(id: number): string {
  return `${String(id).padStart(16, '0')}.seg`;
}

export function parseSegmentFileName(name: string): number | undefined {
  const match = SEGMENT_NAME.exec(name);
  return match === null ? undefined : Number(match[1]);
}
