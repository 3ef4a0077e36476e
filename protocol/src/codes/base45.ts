import { codeErrors } from './code-errors.ts';

/** RFC 9285 §4.2: the 45 characters of the QR alphanumeric mode, in value order. */
export const BASE45_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

const VALUE_OF = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < BASE45_ALPHABET.length; i++) table[BASE45_ALPHABET.charCodeAt(i)] = i;
  return table;
})();

export function encodeBase45(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  // RFC 9285 §4: each pair of bytes is n = a*256 + b written as [c d e], n = c + d*45 + e*45*45.
  for (; i + 1 < bytes.length; i += 2) {
    const n = bytes[i]! * 256 + bytes[i + 1]!;
    const e = Math.floor(n / 2025);
    const rest = n - e * 2025;
    out += BASE45_ALPHABET[rest % 45]! + BASE45_ALPHABET[Math.floor(rest / 45)]! + BASE45_ALPHABET[e]!;
  }
  // RFC 9285 §4: a final odd byte a is written on two characters [c d], a = c + d*45.
  if (i < bytes.length) {
    const a = bytes[i]!;
    out += BASE45_ALPHABET[a % 45]! + BASE45_ALPHABET[Math.floor(a / 45)]!;
  }
  return out;
}

function valueAt(text: string, index: number): number {
  const code = text.charCodeAt(index);
  const v = code < 128 ? VALUE_OF[code]! : -1;
  if (v < 0) {
    throw codeErrors.CODE_ERR_BASE45(`character ${JSON.stringify(text[index])} at ${index} is outside the base45 alphabet`);
  }
  return v;
}

/**
 * Strict RFC 9285 decoding of `text` from `start`: refuses characters outside the alphabet, a
 * three-character group above 65535 (e.g. "GGW"), a final two-character group above 255 and a
 * dangling single character. Never produces bytes from input the RFC calls invalid.
 */
export function decodeBase45(text: string, start = 0): Buffer {
  const length = text.length - start;
  const tail = length % 3;
  // RFC 9285 §4: groups are 3 characters, the last one may be 2; a lone character encodes nothing.
  if (tail === 1) throw codeErrors.CODE_ERR_BASE45(`length ${length} leaves a dangling single character`);
  const out = Buffer.allocUnsafe(Math.floor(length / 3) * 2 + (tail === 2 ? 1 : 0));
  let o = 0;
  let i = start;
  for (const end = text.length - tail; i < end; i += 3) {
    const n = valueAt(text, i) + valueAt(text, i + 1) * 45 + valueAt(text, i + 2) * 2025;
    // RFC 9285 §4: [c d e] stands for a 16-bit number; above 65535 it encodes no pair of bytes.
    if (n > 0xffff) throw codeErrors.CODE_ERR_BASE45(`group ${JSON.stringify(text.slice(i, i + 3))} at ${i} is ${n} > 65535`);
    out[o++] = n >> 8;
    out[o++] = n & 0xff;
  }
  if (tail === 2) {
    const n = valueAt(text, i) + valueAt(text, i + 1) * 45;
    // RFC 9285 §4: a final [c d] stands for one byte; above 255 it encodes none.
    if (n > 0xff) throw codeErrors.CODE_ERR_BASE45(`final group ${JSON.stringify(text.slice(i))} at ${i} is ${n} > 255`);
    out[o++] = n;
  }
  return out;
}
