import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jpegDeclaring, pngDeclaring } from '../../test-peers/hostile-images.ts';
import { encodeFrame, renderQrVariant } from '../../test-peers/qr-frames.ts';
import { createImageCodeReader } from '../src/scanner/image/image-code-reader.ts';
import { readImageHeader } from '../src/scanner/image/image-header.ts';
import type { QrImageReader, RgbaImage } from '../src/scanner/image/qr-image-reader.ts';

describe('image reader against hostile files', () => {
  let calls = 0;
  // Counts what reaches the QR decoder: a refused image must not get there.
  const counting: QrImageReader = { read: () => Promise.resolve((calls++, [])) };
  const reader = createImageCodeReader({}, { qr: counting });
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-image-hostile-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads declared sizes from PNG and JPEG headers without decoding', async () => {
    expect(readImageHeader(pngDeclaring(30000, 30000))).toEqual({ format: 'png', width: 30000, height: 30000 });
    expect(readImageHeader(jpegDeclaring(65535, 65535))).toEqual({ format: 'jpeg', width: 65535, height: 65535 });
    const real = await encodeFrame(renderQrVariant('CHC1:X', 'clean', 640, 480), 'jpeg');
    expect(readImageHeader(real)).toEqual({ format: 'jpeg', width: 640, height: 480 });
  });

  it('refuses a PNG or JPEG declaring 30000x30000 from its header, before any pixel is decoded', async () => {
    const before = process.memoryUsage().rss;
    await expect(reader.readBytes(pngDeclaring(30000, 30000))).rejects.toMatchObject({ code: 'IMAGE_ERR_TOO_LARGE', message: expect.stringContaining('30000x30000') as string });
    await expect(reader.readBytes(jpegDeclaring(30000, 30000))).rejects.toMatchObject({ code: 'IMAGE_ERR_TOO_LARGE' });
    // 30000² RGBA would be 3.6 GB; nothing near it was allocated.
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
    await expect(reader.readBytes(pngDeclaring(0, 10))).rejects.toMatchObject({ code: 'IMAGE_ERR_FORMAT' });
    expect(calls).toBe(0);
  });

  it('decodes a 36-megapixel PNG of 116 KB (a bomb within the pixel limit) scaled down, in bounded memory', async () => {
    const white = { width: 6000, height: 6000, channels: 3, background: { r: 255, g: 255, b: 255 } } as const;
    const png = await sharp({ create: white }).png({ compressionLevel: 9 }).toBuffer();
    expect(png.length).toBeLessThan(256 * 1024);
    const seen: RgbaImage[] = [];
    const capturing = createImageCodeReader({}, { qr: { read: (image) => Promise.resolve((seen.push(image), [])) } });
    const before = process.memoryUsage().rss;
    expect(await capturing.readBytes(png)).toEqual({ format: 'png', width: 6000, height: 6000, codes: [] });
    // Handed over at maxDecodeSide (2560), never 6000² x 4 = 144 MB of pixels.
    expect(seen.map((i) => [i.width, i.height])).toEqual([[2560, 2560]]);
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });

  it('refuses garbage, empty and truncated files with a code, and files over the size limit unread', async () => {
    await expect(reader.readBytes(Buffer.from('GIF89a garbage garbage'))).rejects.toMatchObject({ code: 'IMAGE_ERR_FORMAT' });
    await expect(reader.readBytes(Buffer.alloc(0))).rejects.toMatchObject({ code: 'IMAGE_ERR_FORMAT' });
    await expect(reader.readBytes(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00]))).rejects.toMatchObject({ code: 'IMAGE_ERR_FORMAT' });
    const jpeg = await encodeFrame(renderQrVariant('CHC1:X', 'noisy', 640, 480), 'jpeg');
    await expect(reader.readBytes(jpeg.subarray(0, jpeg.length >> 1))).rejects.toMatchObject({ code: 'IMAGE_ERR_UNREADABLE' });
    const png = await encodeFrame(renderQrVariant('CHC1:X', 'noisy', 640, 480), 'png');
    await expect(reader.readBytes(png.subarray(0, png.length >> 1))).rejects.toMatchObject({ code: 'IMAGE_ERR_UNREADABLE' });
    // A PNG bomb within the pixel limit but with a few bytes for 4000x4000 pixels: broken, not decoded whole.
    await expect(reader.readBytes(pngDeclaring(4000, 4000))).rejects.toMatchObject({ code: 'IMAGE_ERR_UNREADABLE' });
    expect(calls).toBe(0);

    const tight = createImageCodeReader({ maxFileBytes: 1024 }, { qr: counting });
    const big = join(dir, 'big.png');
    await writeFile(big, Buffer.concat([pngDeclaring(10, 10), Buffer.alloc(2048)]));
    await expect(tight.readFile(big)).rejects.toMatchObject({ code: 'IMAGE_ERR_TOO_LARGE' });
    await expect(tight.readBytes(Buffer.alloc(2048))).rejects.toMatchObject({ code: 'IMAGE_ERR_TOO_LARGE' });
    await expect(reader.readFile(join(dir, 'missing.png'))).rejects.toMatchObject({ code: 'IMAGE_ERR_IO' });
    expect(() => createImageCodeReader({ maxFileBytes: 10, maxCodes: 0 })).toThrow(/maxFileBytes[\s\S]*maxCodes|maxCodes[\s\S]*maxFileBytes/);
  });
});
