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
 * `view()` returns a window onto that buffer: it is valid until the next write. `take()` hands the
 * bytes written so far to the caller instead, without a copy: the writer never writes there again and
 * carries on after them, in a fresh buffer of `initialBytes` once this one is full (a slab allocator:
 * many small encodings share one allocation, and none is copied out).
 */
export interface RowBinaryWriter {
  /** Bytes written since the last reset or take. Positions (`repeat`) count from there too. */
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
  /** The bytes written since the last reset or take, now the caller's: no later write touches them. */
  take(): Buffer;
}

export interface RowBinaryWriterOptions {
  /** @default 64 KiB */
  readonly initialBytes?: number;
  /** Writing more than this many bytes since the last reset or take throws a RangeError. */
  readonly maxBytes: number;
  /**
   * Where each new buffer comes from (the first, and each time the writer moves on from a full one):
   * a buffer of exactly `bytes` bytes, all of it the writer's until it moves on. A slab pool goes here.
   * @default Buffer.allocUnsafeSlow
   */
  readonly allocate?: (bytes: number) => Buffer;
}

const TWO_32 = 4294967296;

export function createRowBinaryWriter(options: RowBinaryWriterOptions): RowBinaryWriter {
  const { maxBytes } = options;
  // allocUnsafeSlow: a slab is an allocation of its own, never a slice of Node's Buffer pool (64 KiB on
  // Node 24), which later slabs would share.
  const allocate = options.allocate ?? ((bytes: number) => Buffer.allocUnsafeSlow(bytes));
  let buf = allocate(Math.min(options.initialBytes ?? 64 * 1024, maxBytes));
  const slabBytes = buf.length;
  /** Where the bytes not yet taken start: everything before belongs to earlier `take()` callers. */
  let mark = 0;
  let off = 0;

  function ensure(extra: number): void {
    if (off + extra <= buf.length) return;
    const pending = off - mark;
    const needed = pending + extra;
    if (needed > maxBytes) throw new RangeError(`RowBinary buffer would exceed its bound of ${maxBytes} bytes`);
    // A buffer nothing was taken from doubles; one shared with taken bytes is left to them, for a new slab.
    const next = allocate(Math.min(maxBytes, Math.max(mark === 0 ? buf.length * 2 : slabBytes, needed)));
    buf.copy(next, 0, mark, off);
    buf = next;
    mark = 0;
    off = pending;
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
      return off - mark;
    },
    get capacity() {
      return buf.length;
    },
    reset() {
      off = mark;
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
      const length = off - mark;
      if (start < 0 || end > length || start > end) throw new RangeError(`repeat range [${start}, ${end}) is outside [0, ${length})`);
      const n = end - start;
      ensure(n);
      // Buffer#copy makes a Uint8Array view per call (garbage per row) and calls into C++; copyWithin
      // is one builtin on the same buffer. Pack + write CPU per reading with each (measure-insert-copies.ts,
      // interleaved runs, loaded machine): copyWithin 213-339 ns, Buffer#copy 505-512, a JS loop 310-515.
      buf.copyWithin(off, mark + start, mark + end);
      off += n;
    },
    view() {
      return buf.subarray(mark, off);
    },
    take() {
      const taken = buf.subarray(mark, off);
      mark = off;
      return taken;
    },
  };
}
