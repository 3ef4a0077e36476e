/**
 * A writer for ClickHouse's RowBinary format: fields back to back, little-endian, no names, no
 * separators. What each column type looks like on the wire:
 *
 *   String, LowCardinality(String)   unsigned LEB128 byte length, then the UTF-8 bytes
 *   UInt8 / Bool, UInt16, UInt32     1, 2, 4 bytes
 *   Int64, DateTime64(3)             8 bytes; a DateTime64(3) is its Int64 count of milliseconds
 *   Float64                          8 bytes IEEE 754
 *
 * One buffer is reused across calls and grows by doubling up to `maxBytes`; `reset()` rewinds it.
 * `view()` returns a window onto that buffer: it is valid until the next write.
 */
export interface RowBinaryWriter {
  /** Bytes written since the last reset. */
  readonly length: number;
  /** The buffer's current capacity. */
  readonly capacity: number;
  reset(): void;
  string(value: string): void;
  bool(value: boolean): void;
  uint8(value: number): void;
  uint16(value: number): void;
  uint32(value: number): void;
  /** A safe integer (|n| < 2^53) as a two's-complement Int64. */
  int64(value: number): void;
  float64(value: number): void;
  /** Milliseconds since the epoch, for a DateTime64(3) column. */
  dateTime64Ms(value: number): void;
  /** Appends a copy of bytes already written at [start, end), e.g. a prefix shared by many rows. */
  repeat(start: number, end: number): void;
  view(): Buffer;
}

export interface RowBinaryWriterOptions {
  /** @default 64 KiB */
  readonly initialBytes?: number;
  /** Writing past this many bytes throws a RangeError. */
  readonly maxBytes: number;
}

const TWO_32 = 4294967296;

export function createRowBinaryWriter(options: RowBinaryWriterOptions): RowBinaryWriter {
  const { maxBytes } = options;
  let buf = Buffer.allocUnsafe(Math.min(options.initialBytes ?? 64 * 1024, maxBytes));
  let off = 0;

  function ensure(extra: number): void {
    const needed = off + extra;
    if (needed <= buf.length) return;
    if (needed > maxBytes) throw new RangeError(`RowBinary buffer would exceed its bound of ${maxBytes} bytes`);
    const next = Buffer.allocUnsafe(Math.min(maxBytes, Math.max(buf.length * 2, needed)));
    buf.copy(next, 0, 0, off);
    buf = next;
  }

  function varUInt(value: number): void {
    let v = value;
    while (v >= 0x80) {
      buf[off++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[off++] = v;
  }

  function int64(value: number): void {
    if (!Number.isSafeInteger(value)) throw new RangeError(`Int64 value must be a safe integer, got ${value}`);
    ensure(8);
    const hi = Math.floor(value / TWO_32);
    buf.writeUInt32LE(value - hi * TWO_32, off);
    buf.writeInt32LE(hi, off + 4);
    off += 8;
  }

  return {
    get length() {
      return off;
    },
    get capacity() {
      return buf.length;
    },
    reset() {
      off = 0;
    },
    string(value) {
      const n = value.length;
      // Fast path: short ASCII (sensor ids, metric names, places) is one length byte plus the chars.
      if (n < 0x80) {
        ensure(1 + n);
        let p = off + 1;
        let i = 0;
        for (; i < n; i++) {
          const c = value.charCodeAt(i);
          if (c >= 0x80) break;
          buf[p++] = c;
        }
        if (i === n) {
          buf[off] = n;
          off = p;
          return;
        }
      }
      const bytes = Buffer.byteLength(value, 'utf8');
      ensure(5 + bytes);
      varUInt(bytes);
      off += buf.write(value, off, bytes, 'utf8');
    },
    bool(value) {
      ensure(1);
      buf[off++] = value ? 1 : 0;
    },
    uint8(value) {
      ensure(1);
      off = buf.writeUInt8(value, off);
    },
    uint16(value) {
      ensure(2);
      off = buf.writeUInt16LE(value, off);
    },
    uint32(value) {
      ensure(4);
      off = buf.writeUInt32LE(value, off);
    },
    int64,
    float64(value) {
      ensure(8);
      off = buf.writeDoubleLE(value, off);
    },
    dateTime64Ms: int64,
    repeat(start, end) {
      if (start < 0 || end > off || start > end) throw new RangeError(`repeat range [${start}, ${end}) is outside [0, ${off})`);
      ensure(end - start);
      off += buf.copy(buf, off, start, end);
    },
    view() {
      return buf.subarray(0, off);
    },
  };
}
