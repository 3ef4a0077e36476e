import { createRowBinaryWriter } from '@cityops/warehouse';

/**
 * What a user assembling a pipeline from peers writes to feed chDB its fastest input format: rows
 * of a fixed table in RowBinary, written with the warehouse's RowBinary writer (the format's rules are
 * there; a peer's own encoder would write the same bytes). Grows by doubling up to `maxBytes`; a batch
 * that would go beyond is refused whole (the caller counts it).
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
  const out = createRowBinaryWriter({ initialBytes, maxBytes });
  let rows = 0;
  return {
    append(device, boot, seq, receivedAt, readings) {
      // An upper bound of the batch's size (UTF-8: at most 3 bytes per UTF-16 unit, 5 for a length):
      // a batch is refused whole, never written in part.
      let need = 0;
      for (const r of readings) need += 3 * (device.length + r.sensor.length + r.metric.length) + 15 + 42;
      if (out.length + need > maxBytes) return false;
      for (const r of readings) {
        out.string(device);
        out.uint32(boot);
        out.uint32(seq);
        out.dateTime64Ms(receivedAt);
        out.string(r.sensor);
        out.string(r.metric);
        out.dateTime64Ms(r.ts);
        out.float64(r.value);
        out.bool(r.alarm === true);
        rows++;
      }
      return true;
    },
    get rows() {
      return rows;
    },
    bytes: () => out.view(),
    reset() {
      out.reset();
      rows = 0;
    },
  };
}
