/**
 * Bytes read from a socket, kept as one buffer that doubles as it fills. The wire guard holds a
 * CONNECT's bytes until it is whole: kept as the chunks they came in, a sender writing one byte per
 * TCP segment costs a Buffer per byte (a 1-byte Buffer: 218 bytes of heap, ~400 of RSS, measured),
 * ~26 MiB for a 64 KiB CONNECT; here it costs at most its declared length, copied O(n) in all.
 */
export interface ByteAccumulator {
  /** Adds `chunk`; a buffer grown for it holds at most `expected` bytes (when known) beyond what it needs. */
  append(chunk: Buffer, expected?: number): void;
  readonly length: number;
  /** The bytes so far (a view: valid until the next append). */
  bytes(): Buffer;
}

export function createByteAccumulator(): ByteAccumulator {
  let buffer: Buffer | undefined;
  let length = 0;
  // The first chunk is kept as it came (most CONNECTs arrive whole); a buffer of our own from the second.
  let owned = false;
  return {
    append(chunk, expected) {
      // A chunk that is a small view of a larger allocation (Node's Buffer pool: 8 KiB on Node 20,
      // 64 KiB on 24) is copied, so a held CONNECT never pins more memory than it has bytes.
      const pins = chunk.buffer.byteLength > 2 * chunk.length + 256;
      if (buffer === undefined && !pins) {
        buffer = chunk;
        length = chunk.length;
        return;
      }
      const needed = length + chunk.length;
      if (buffer === undefined || !owned || needed > buffer.length) {
        // allocUnsafeSlow: not a slice of Node's shared Buffer pool, which a held slice would pin.
        // Doubling, but never past the packet's declared size: 2,048 sockets each holding a CONNECT
        // just short of the limit cost the limit each, not twice it.
        const next = Buffer.allocUnsafeSlow(Math.max(needed, Math.min(Math.max(256, 2 * needed), expected ?? Number.POSITIVE_INFINITY)));
        buffer?.copy(next, 0, 0, length);
        buffer = next;
        owned = true;
      }
      chunk.copy(buffer, length);
      length = needed;
    },
    get length() {
      return length;
    },
    bytes: () => (buffer === undefined ? Buffer.alloc(0) : buffer.length === length ? buffer : buffer.subarray(0, length)),
  };
}
