/**
 * What a user assembling a pipeline from peers writes to feed chDB its fastest input format: rows
 * of a fixed table in RowBinary (ClickHouse docs, "RowBinary": strings as a LEB128 length and the
 * bytes, numbers little-endian, DateTime64(3) as Int64 milliseconds, Bool as one byte). Grows by
 * doubling up to `maxBytes`; a batch that would go beyond is refused (the caller counts it).
 */
export const PEER_READINGS_STRUCTURE =
  'device String, boot UInt32, seq UInt32, received_at DateTime64(3), sensor String, metric String, ts DateTime64(3), value Float64, alarm Bool';

export interface PeerReading {
  readonly sensor: string;
  readonly metric: string;
  readonly ts: number;
  readonly value: number;
  readonly alarm?: boolean;
}

export interface PeerRowWriter {
  /** Appends a batch's readings; false (nothing written) when it would not fit in `maxBytes`. */
  append(device: string, boot: number, seq: number, receivedAt: number, readings: readonly PeerReading[]): boolean;
  readonly rows: number;
  /** The rows so far: a view valid until the next `reset()`. */
  bytes(): Buffer;
  reset(): void;
}

export function createPeerRowWriter(initialBytes: number, maxBytes: number): PeerRowWriter {
  let buf = Buffer.allocUnsafe(initialBytes);
  let at = 0;
  let rows = 0;

  function string(s: string): void {
    const n = buf.write(s, at + 5, 'utf8'); // room for the longest LEB128 of a length below 2^32
    let len = n;
    let head = 0;
    const lenBytes: number[] = [];
    do {
      let b = len & 0x7f;
      len >>>= 7;
      if (len !== 0) b |= 0x80;
      lenBytes.push(b);
    } while (len !== 0);
    if (lenBytes.length < 5) buf.copyWithin(at + lenBytes.length, at + 5, at + 5 + n);
    for (const b of lenBytes) buf[at + head++] = b;
    at += head + n;
  }

  // Int64 as two 32-bit halves: cheaper than a BigInt per value (times are positive, below 2^53).
  function int64(v: number): void {
    at = buf.writeUInt32LE(v % 0x1_0000_0000, at);
    at = buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), at);
  }

  return {
    append(device, boot, seq, receivedAt, readings) {
      // An upper bound of the batch's size (UTF-8: at most 3 bytes per UTF-16 unit, 5 for a length).
      let need = 0;
      for (const r of readings) need += 3 * (device.length + r.sensor.length + r.metric.length) + 15 + 42;
      if (at + need > buf.length) {
        if (at + need > maxBytes) return false;
        const grown = Buffer.allocUnsafe(Math.min(maxBytes, Math.max(buf.length * 2, at + need)));
        buf.copy(grown, 0, 0, at);
        buf = grown;
      }
      for (const r of readings) {
        string(device);
        at = buf.writeUInt32LE(boot, at);
        at = buf.writeUInt32LE(seq, at);
        int64(receivedAt);
        string(r.sensor);
        string(r.metric);
        int64(r.ts);
        at = buf.writeDoubleLE(r.value, at);
        buf[at++] = r.alarm === true ? 1 : 0;
        rows++;
      }
      return true;
    },
    get rows() {
      return rows;
    },
    bytes: () => buf.subarray(0, at),
    reset() {
      at = 0;
      rows = 0;
    },
  };
}
