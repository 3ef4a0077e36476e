import { constants, deflateSync, inflateSync } from 'node:zlib';
import { codeErrors } from './code-errors.ts';

/**
 * RFC 1950 §2.2: a zlib stream starts with CMF (method 8 = deflate, window <= 32K) and FLG, the pair
 * being a multiple of 31; FDICT (a preset dictionary nobody shares with us) is refused.
 */
export function hasZlibHeader(bytes: Uint8Array): boolean {
  if (bytes.length < 2) return false;
  const cmf = bytes[0]!;
  const flg = bytes[1]!;
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && (cmf * 256 + flg) % 31 === 0 && (flg & 0x20) === 0;
}

/**
 * Inflates a zlib stream without ever holding more than `maxBytes` of output: zlib stops and the
 * decompression bomb is refused as soon as the output would pass the bound.
 */
export function inflateBounded(bytes: Uint8Array, maxBytes: number): Buffer {
  if (!hasZlibHeader(bytes)) throw codeErrors.CODE_ERR_ZLIB('no zlib header (RFC 1950 §2.2)');
  try {
    return inflateSync(bytes, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw codeErrors.CODE_ERR_INFLATE_LIMIT(`more than ${maxBytes} bytes`, err);
    }
    throw codeErrors.CODE_ERR_ZLIB((err as Error).message.slice(0, 200), err);
  }
}

export function deflate(bytes: Uint8Array): Buffer {
  return deflateSync(bytes, { level: constants.Z_BEST_COMPRESSION });
}
