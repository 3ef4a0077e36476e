/**
 * A few lines of CBOR (RFC 8949) encoding, enough to build malformed codes layer by layer in tests
 * without depending on the protocol's private codec: integers, byte and text strings, arrays, maps
 * and tags.
 */
export class Tagged {
  constructor(
    readonly tag: number,
    readonly value: unknown,
  ) {}
}

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

export function cbor(value: unknown): Buffer {
  if (typeof value === 'number' && !Number.isInteger(value)) {
    // RFC 8949 §3.3: a double-precision float, major type 7, additional information 27.
    const b = Buffer.alloc(9);
    b[0] = 0xfb;
    b.writeDoubleBE(value, 1);
    return b;
  }
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (Buffer.isBuffer(value)) return Buffer.concat([head(2, value.length), value]);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  if (value instanceof Map) {
    const parts: Buffer[] = [head(5, value.size)];
    for (const [k, v] of value) parts.push(cbor(k), cbor(v));
    return Buffer.concat(parts);
  }
  if (value instanceof Tagged) return Buffer.concat([head(6, value.tag), cbor(value.value)]);
  if (value !== null && typeof value === 'object') return cbor(new Map(Object.entries(value)));
  throw new Error(`cannot encode ${typeof value}`);
}
