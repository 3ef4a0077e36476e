import type { RegisterSpec } from './register-map-schema.ts';

/**
 * The raw value of one register spec from the words (or bits) a request returned, before scale and
 * offset. Modbus Application Protocol V1.1b3 §4.2: a register travels big-endian (high byte first);
 * how a device splits a 32-bit value over two registers is its own choice, hence `wordOrder`, and
 * some devices also swap the bytes inside each register, hence `byteOrder`.
 */
export function decodeRegister(spec: Pick<RegisterSpec, 'type' | 'wordOrder' | 'byteOrder'>, words: readonly number[], at: number): number {
  if (spec.type === 'bool') return words[at] === 0 ? 0 : 1;
  const bytes = Buffer.alloc(4);
  const count = spec.type === 'int16' || spec.type === 'uint16' ? 1 : 2;
  for (let i = 0; i < count; i++) {
    // Word i of the value (0 = high) sits in register i for big word order, in the other one for little.
    const word = words[at + (spec.wordOrder === 'big' || count === 1 ? i : count - 1 - i)] ?? 0;
    const value = spec.byteOrder === 'big' ? word : ((word & 0xff) << 8) | (word >> 8);
    bytes.writeUInt16BE(value & 0xffff, i * 2);
  }
  switch (spec.type) {
    case 'int16':
      return bytes.readInt16BE(0);
    case 'uint16':
      return bytes.readUInt16BE(0);
    case 'int32':
      return bytes.readInt32BE(0);
    case 'uint32':
      return bytes.readUInt32BE(0);
    case 'float32': {
      // IEEE 754 has a negative zero (0x80000000); a reading of zero is zero (JSON and msgpack would disagree on -0).
      const value = bytes.readFloatBE(0);
      return value === 0 ? 0 : value;
    }
  }
}

/** The registers a test or a simulator writes for `value` (the inverse of decodeRegister, raw). */
export function encodeRegister(spec: Pick<RegisterSpec, 'type' | 'wordOrder' | 'byteOrder'>, value: number): number[] {
  if (spec.type === 'bool') return [value === 0 ? 0 : 1];
  const bytes = Buffer.alloc(4);
  let count = 2;
  if (spec.type === 'int16') bytes.writeInt16BE(value, 0);
  else if (spec.type === 'uint16') bytes.writeUInt16BE(value, 0);
  else if (spec.type === 'int32') bytes.writeInt32BE(value, 0);
  else if (spec.type === 'uint32') bytes.writeUInt32BE(value, 0);
  else bytes.writeFloatBE(value, 0);
  if (spec.type === 'int16' || spec.type === 'uint16') count = 1;
  const words: number[] = [];
  for (let i = 0; i < count; i++) {
    const word = bytes.readUInt16BE(i * 2);
    words.push(spec.byteOrder === 'big' ? word : ((word & 0xff) << 8) | (word >> 8));
  }
  return spec.wordOrder === 'big' ? words : words.reverse();
}
