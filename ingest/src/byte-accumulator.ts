/**
 * Bytes read from a socket, kept as one buffer that doubles as it fills. The wire guard holds a
 * CONNECT's bytes until it is whole: kept as the chunks they came in, a sender writing one byte per
 * TCP segment costs a Buffer per byte (a 1-byte Buffer: 218 bytes of heap, ~400 of RSS, measured),
 * ~26 MiB for a 64 KiB CONNECT; here it costs at most twice its length, copied O(n) in all.
 */
export interface ByteAccumulator {
  append(chunk: Buffer): void;
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
    append(chunk) {
      if (buffer === undefined) {
        buffer = chunk;
        length = chunk.length;
        return;
      }
      const needed = length + chunk.length;
      if (!owned || needed > buffer.length) {
        // allocUnsafeSlow: not a slice of Node's shared 8 KiB pool, which a held slice would pin.
        const next = Buffer.allocUnsafeSlow(Math.max(256, 2 * needed));
        buffer.copy(next, 0, 0, length);
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
