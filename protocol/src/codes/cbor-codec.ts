import { Decoder, Encoder, Tag } from 'cbor-x';
import { codeErrors } from './code-errors.ts';

export { Tag };

/** CBOR as COSE and CWT use it: maps keep their integer keys (JS `Map`), byte strings are `Buffer`s. */
export interface CborCodec {
  /** Decodes exactly one item filling `bytes`; anything else is CODE_ERR_CBOR naming `where`. */
  decode(bytes: Uint8Array, where: string): unknown;
  encode(value: unknown): Buffer;
}

export function createCborCodec(): CborCodec {
  const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });
  // Plain RFC 8949 major types only: no tag 64 on byte strings, and with maps not decoded as
  // objects cbor-x writes Maps without its tag 259.
  const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false, variableMapSize: true });
  return {
    decode(bytes, where) {
      if (bytes.length === 0) throw codeErrors.CODE_ERR_CBOR(`${where} is empty`);
      try {
        return decoder.decode(bytes) as unknown;
      } catch (err) {
        throw codeErrors.CODE_ERR_CBOR(`${where}: ${(err as Error).message.slice(0, 200)}`, err);
      }
    },
    encode: (value) => encoder.encode(value),
  };
}

/**
 * The number of entries a definite-length CBOR map declares in its head (RFC 8949 §3.1, major type
 * 5), or -1 when `bytes` does not start with one. cbor-x keeps the last of duplicate keys; a decoded
 * `Map` smaller than its declared size therefore had duplicate labels.
 */
export function declaredMapSize(bytes: Uint8Array): number {
  const head = bytes[0];
  if (head === undefined || head >> 5 !== 5) return -1;
  const info = head & 0x1f;
  if (info < 24) return info;
  if (info === 24 && bytes.length >= 2) return bytes[1]!;
  if (info === 25 && bytes.length >= 3) return (bytes[1]! << 8) | bytes[2]!;
  if (info === 26 && bytes.length >= 5) return ((bytes[1]! << 24) >>> 0) + ((bytes[2]! << 16) | (bytes[3]! << 8) | bytes[4]!);
  return -1;
}

/** RFC 8949 §3: the head of a byte string (major type 2) of `length` bytes. */
export function byteStringHead(length: number): Buffer {
  if (length < 24) return Buffer.from([0x40 | length]);
  if (length < 0x100) return Buffer.from([0x58, length]);
  if (length < 0x10000) return Buffer.from([0x59, length >> 8, length & 0xff]);
  const head = Buffer.allocUnsafe(5);
  head[0] = 0x5a;
  head.writeUInt32BE(length, 1);
  return head;
}
