import { imageErrors } from './image-errors.ts';

export type ImageFormat = 'png' | 'jpeg';

export interface ImageHeader {
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** PNG (ISO/IEC 15948 §5.2, §11.2.2): the signature, then IHDR first, 13 bytes, width and height big-endian. */
function pngHeader(bytes: Uint8Array): ImageHeader {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.length < 24 || view.readUInt32BE(8) !== 13 || view.toString('latin1', 12, 16) !== 'IHDR') {
    throw imageErrors.IMAGE_ERR_FORMAT('PNG without an IHDR chunk first');
  }
  return { format: 'png', width: view.readUInt32BE(16), height: view.readUInt32BE(20) };
}

/** Start-of-frame markers (ITU-T T.81 Table B.1): C0-CF except DHT (C4), JPG (C8) and DAC (CC). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/**
 * JPEG (ITU-T T.81 §B.2): marker segments after SOI until a start-of-frame, whose Y and X
 * (height, width) follow the sample precision. Walks segment lengths only: nothing is decoded.
 */
function jpegHeader(bytes: Uint8Array): ImageHeader {
  let pos = 2;
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] !== 0xff) throw imageErrors.IMAGE_ERR_FORMAT(`JPEG: no marker at byte ${pos}`);
    const marker = bytes[pos + 1]!;
    // B.1.1.2: any marker may be preceded by fill bytes 0xFF.
    if (marker === 0xff) {
      pos++;
      continue;
    }
    // Markers without a length: TEM, RSTn (and a stray SOI).
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      pos += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) break;
    const length = (bytes[pos + 2]! << 8) | bytes[pos + 3]!;
    if (length < 2) throw imageErrors.IMAGE_ERR_FORMAT(`JPEG: segment length ${length} at byte ${pos}`);
    if (isStartOfFrame(marker)) {
      if (pos + 9 > bytes.length) break;
      const height = (bytes[pos + 5]! << 8) | bytes[pos + 6]!;
      const width = (bytes[pos + 7]! << 8) | bytes[pos + 8]!;
      return { format: 'jpeg', width, height };
    }
    pos += 2 + length;
  }
  throw imageErrors.IMAGE_ERR_FORMAT('JPEG without a start-of-frame before the scan (truncated?)');
}

/** The format and declared pixel size of a PNG or JPEG, from its header alone. */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  if (bytes.length >= 8 && PNG_SIGNATURE.equals(Buffer.from(bytes.buffer, bytes.byteOffset, 8))) return pngHeader(bytes);
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return jpegHeader(bytes);
  throw imageErrors.IMAGE_ERR_FORMAT(`starts with ${Buffer.from(bytes.subarray(0, 8)).toString('hex') || 'nothing'}`);
}
