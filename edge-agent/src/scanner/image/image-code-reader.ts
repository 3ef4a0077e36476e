import { open } from 'node:fs/promises';
import { isCityopsError } from '@cityops/protocol';
import { imageErrors } from './image-errors.ts';
import { readImageHeader, type ImageFormat } from './image-header.ts';
import { parseImageReaderConfig, type ImageReaderConfig, type ImageReaderConfigInput } from './image-reader-config.ts';
import { createQrImageReader, type QrImageReader, type RgbaImage } from './qr-image-reader.ts';

export interface ImageCodes {
  readonly format: ImageFormat;
  /** As declared in the header. */
  readonly width: number;
  readonly height: number;
  /** Distinct QR texts found, in the decoder's order; empty when none is readable. */
  readonly codes: string[];
}

export interface ImageCodeReader {
  readonly config: ImageReaderConfig;
  /** Codes in a PNG or JPEG held in memory. Rejects with IMAGE_ERR_TOO_LARGE / _FORMAT / _UNREADABLE. */
  readBytes(bytes: Uint8Array): Promise<ImageCodes>;
  /** Codes in an image file: its size is checked before it is read (IMAGE_ERR_IO when it cannot be read). */
  readFile(path: string): Promise<ImageCodes>;
}

/**
 * PNG/JPEG bytes -> header checked -> pixels (sharp: libvips with libspng / libjpeg-turbo) -> QR
 * texts (zxing-wasm). Memory is bounded before decoding: the file size, then the declared pixel
 * count from the header; the pixels decoded are capped at maxDecodeSide² (larger images are scaled
 * down while decoding).
 */
export function createImageCodeReader(input: ImageReaderConfigInput = {}, deps: { readonly qr?: QrImageReader } = {}): ImageCodeReader {
  const config = parseImageReaderConfig(input);
  const qr = deps.qr ?? createQrImageReader({ maxCodes: config.maxCodes });

  async function pixels(bytes: Uint8Array, width: number, height: number): Promise<RgbaImage> {
    // sharp (libvips) is imported on the first image, not with the package: every process importing
    // the edge agent (the whole city in `cityops up`) would carry it (~13 MiB RSS, ~175 ms at start).
    const { default: sharp } = await import('sharp');
    let pipeline = sharp(bytes, { limitInputPixels: config.maxPixels, failOn: 'truncated', sequentialRead: true });
    if (Math.max(width, height) > config.maxDecodeSide) {
      pipeline = pipeline.resize({ width: config.maxDecodeSide, height: config.maxDecodeSide, fit: 'inside', kernel: 'linear' });
    }
    try {
      // Grey, grey+alpha, palette or CMYK files all become 4-channel sRGB (sharp's default output,
      // said here because the QR reader reads the buffer as RGBA whatever it holds).
      const { data, info } = await pipeline.toColourspace('srgb').ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== 4) throw new Error(`decoded to ${info.channels} channels`);
      return { data, width: info.width, height: info.height };
    } catch (err) {
      throw imageErrors.IMAGE_ERR_UNREADABLE((err as Error).message.slice(0, 200), err);
    }
  }

  async function readBytes(bytes: Uint8Array): Promise<ImageCodes> {
    if (bytes.length > config.maxFileBytes) throw imageErrors.IMAGE_ERR_TOO_LARGE(`${bytes.length} bytes, limit ${config.maxFileBytes}`);
    const header = readImageHeader(bytes);
    const { width, height } = header;
    if (width === 0 || height === 0) throw imageErrors.IMAGE_ERR_FORMAT(`declares ${width}x${height} pixels`);
    if (width * height > config.maxPixels) throw imageErrors.IMAGE_ERR_TOO_LARGE(`declares ${width}x${height} pixels, limit ${config.maxPixels}`);
    const image = await pixels(bytes, width, height);
    return { ...header, codes: await qr.read(image) };
  }

  async function readFile(path: string): Promise<ImageCodes> {
    let bytes: Buffer;
    try {
      const file = await open(path, 'r');
      try {
        const { size } = await file.stat();
        if (size > config.maxFileBytes) throw imageErrors.IMAGE_ERR_TOO_LARGE(`${size} bytes, limit ${config.maxFileBytes}`);
        // Read one byte past the limit: a file that grew since stat() is refused, never read whole.
        const buffer = Buffer.allocUnsafe(Math.min(size, config.maxFileBytes) + 1);
        let length = 0;
        for (;;) {
          const { bytesRead } = await file.read(buffer, length, buffer.length - length, length);
          if (bytesRead === 0) break;
          length += bytesRead;
          if (length === buffer.length) break;
        }
        if (length > config.maxFileBytes) throw imageErrors.IMAGE_ERR_TOO_LARGE(`more than ${config.maxFileBytes} bytes`);
        bytes = buffer.subarray(0, length);
      } finally {
        await file.close();
      }
    } catch (err) {
      if (isCityopsError(err)) throw err;
      throw imageErrors.IMAGE_ERR_IO(`${path}: ${(err as Error).message}`, err);
    }
    return readBytes(bytes);
  }

  return { config, readBytes, readFile };
}
