/**
 * A reader of DER (ITU-T X.690 §10) just wide enough to walk a CMS SignedData (RFC 5652), and of the
 * BER a CMS may also come in: BouncyCastle, which signs the EU DCC Gateway's entries, and openssl
 * -stream write indefinite lengths (X.690 §8.1.3.6) and constructed OCTET STRINGs (§8.7.3). Every
 * length is checked against what is left, nesting is bounded. Throws a plain Error naming what is
 * wrong; the caller wraps it with its code.
 */
export interface DerElement {
  readonly tag: number;
  /** The whole element, header included (what a signature or a digest covers). */
  readonly raw: Buffer;
  /** The contents octets (for an indefinite length, without the end-of-contents octets). */
  readonly body: Buffer;
}

/** Far deeper than any CMS; a bound on the recursion through indefinite lengths. */
const MAX_DEPTH = 32;

export function readElement(bytes: Buffer, offset = 0, depth = 0): DerElement {
  if (depth > MAX_DEPTH) throw new Error('DER: nested too deep');
  if (offset + 2 > bytes.length) throw new Error('DER: truncated header');
  const tag = bytes[offset]!;
  // X.690 §8.1.2.4: high tag numbers are not used by the structures read here.
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: high tag number');
  let length = bytes[offset + 1]!;
  let header = 2;
  if (length === 0x80) {
    // X.690 §8.1.3.6: constructed only, contents end at two zero octets.
    if ((tag & 0x20) === 0) throw new Error('DER: indefinite length on a primitive element');
    let at = offset + 2;
    for (;;) {
      if (at + 2 > bytes.length) throw new Error('DER: indefinite length without end-of-contents');
      if (bytes[at] === 0 && bytes[at + 1] === 0) break;
      at += readElement(bytes, at, depth + 1).raw.length;
    }
    return { tag, raw: bytes.subarray(offset, at + 2), body: bytes.subarray(offset + 2, at) };
  }
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count > 4) throw new Error('DER: length too large');
    if (offset + 2 + count > bytes.length) throw new Error('DER: truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[offset + 2 + i]!;
    header += count;
  }
  const end = offset + header + length;
  if (end > bytes.length) throw new Error('DER: element longer than its container');
  return { tag, raw: bytes.subarray(offset, end), body: bytes.subarray(offset + header, end) };
}

/** The one element a buffer holds; bytes after it are an error. */
export function readSingle(bytes: Buffer): DerElement {
  const element = readElement(bytes, 0);
  if (element.raw.length !== bytes.length) throw new Error('DER: trailing bytes');
  return element;
}

/** An OCTET STRING's octets, primitive or constructed of segments (X.690 §8.7.3). */
export function octetsOf(element: DerElement, depth = 0): Buffer {
  if (element.tag === 0x04) return element.body;
  if (element.tag !== 0x24 || depth > MAX_DEPTH) throw new Error('DER: not an OCTET STRING');
  return Buffer.concat(childrenOf(element).map((segment) => octetsOf(segment, depth + 1)));
}

/** The elements of a constructed element's contents, in order. */
export function childrenOf(element: DerElement, maxChildren = 1024): DerElement[] {
  if ((element.tag & 0x20) === 0) throw new Error(`DER: tag 0x${element.tag.toString(16)} is not constructed`);
  const out: DerElement[] = [];
  for (let offset = 0; offset < element.body.length; ) {
    if (out.length >= maxChildren) throw new Error('DER: too many elements');
    const child = readElement(element.body, offset);
    out.push(child);
    offset += child.raw.length;
  }
  return out;
}

export function expectTag(element: DerElement | undefined, tag: number, what: string): DerElement {
  if (element === undefined) throw new Error(`${what} missing`);
  if (element.tag !== tag) throw new Error(`${what}: tag 0x${element.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  return element;
}

/** X.690 §8.19: an OBJECT IDENTIFIER's dotted form. */
export function oidOf(element: DerElement): string {
  if (element.tag !== 0x06 || element.body.length === 0) throw new Error('DER: not an OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let value = 0;
  for (const byte of element.body) {
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) throw new Error('DER: OID arc too large');
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}
