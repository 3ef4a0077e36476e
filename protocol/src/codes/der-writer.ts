/**
 * The few DER (ITU-T X.690 §10) constructions an X.509 certificate needs, written, never parsed:
 * node:crypto parses certificates (X509Certificate) but cannot make one.
 */
function lengthOctets(length: number): Buffer {
  // X.690 §8.1.3: short form below 128, else long form with the count of length octets first.
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), lengthOctets(content.length), content]);
}

export const derSequence = (...items: Uint8Array[]): Buffer => tlv(0x30, Buffer.concat(items));
export const derSet = (...items: Uint8Array[]): Buffer => tlv(0x31, Buffer.concat(items));
export const derExplicit = (n: number, content: Uint8Array): Buffer => tlv(0xa0 | n, content);
export const derNull = (): Buffer => Buffer.from([0x05, 0x00]);
export const derBoolean = (value: boolean): Buffer => Buffer.from([0x01, 0x01, value ? 0xff : 0x00]);
export const derOctetString = (bytes: Uint8Array): Buffer => tlv(0x04, bytes);
export const derUtf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
export const derPrintableString = (text: string): Buffer => tlv(0x13, Buffer.from(text, 'ascii'));

/** X.690 §8.6: a bit string whose last octet uses all its bits unless `unusedBits` says otherwise. */
export function derBitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

/** X.690 §8.3: a non-negative integer from big-endian bytes, minimal and with a 0 sign octet if needed. */
export function derUnsignedInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const body = Buffer.from(bytes.subarray(start));
  return tlv(0x02, body[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

export const derSmallInteger = (n: number): Buffer => derUnsignedInteger(Buffer.from([n]));

/** X.690 §8.19: first two arcs as 40*a+b, each arc base-128 with continuation bits. */
export function derOid(oid: string): Buffer {
  const arcs = oid.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new RangeError(`bad OID ${oid}`);
  const out: number[] = [];
  const push = (arc: number) => {
    const septets = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) septets.unshift((n & 0x7f) | 0x80);
    out.push(...septets);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const arc of arcs.slice(2)) push(arc);
  return tlv(0x06, Buffer.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always in Z with seconds. */
export function derTime(ms: number): Buffer {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = Number(iso.slice(0, 4));
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii'));
  return tlv(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}
