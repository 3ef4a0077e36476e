import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, QR_FRAME_VARIANTS, renderQrFrame, renderQrVariant, sideBySide, type QrFrameVariant, type RgbaFrame } from '../../test-peers/qr-frames.ts';
import { createImageCodeReader } from '../src/scanner/image/image-code-reader.ts';
import type { RgbaImage } from '../src/scanner/image/qr-image-reader.ts';

const run = promisify(execFile);
/** The checked-in vectors of protocol/CODES.md: the same real codes every run, so the same frames. */
const VECTORS = JSON.parse(readFileSync(new URL('../../protocol/test/codes/fixtures/vectors.json', import.meta.url), 'utf8')) as { name: string; qr: string }[];
const vector = (name: string) => VECTORS.find((v) => v.name.startsWith(name))!.qr;
const CODES = [vector('health code, ES256'), vector('health code, EdDSA'), vector('EU DCC, ES256, vaccination'), vector('EU DCC, PS256, test')];
const SIZES = [
  [640, 480],
  [1280, 720],
] as const;
/** What zbar reads too; `heavyNoise` is held against our decoder alone (zbar reads none of it). */
const PEER_VARIANTS = (Object.keys(QR_FRAME_VARIANTS) as QrFrameVariant[]).filter((v) => v !== 'heavyNoise');

/** Debian's zbarimg (zbar-tools, installed by scripts/install-peers.sh): the peer decoder. */
async function zbarimg(path: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('zbarimg', ['--raw', '-q', '-Sdisable', '-Sqrcode.enable', path]);
    return stdout.replace(/\n$/, '');
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { code?: unknown };
    if (e.code === 'ENOENT') throw new Error('zbarimg is not installed: run scripts/install-peers.sh (Debian package zbar-tools)');
    // zbarimg exits 4 when it found no symbol.
    return undefined;
  }
}

describe('image code reader', () => {
  const reader = createImageCodeReader();
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-image-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('agrees with zbarimg on real codes, clean, scaled, rotated, blurred and noisy, at 640x480 and 1280x720', async () => {
    const misses = { ours: [] as string[], zbar: [] as string[] };
    for (const [width, height] of SIZES) {
      for (const variant of PEER_VARIANTS) {
        for (const [i, qr] of CODES.entries()) {
          const name = `${variant}-${width}-${i}`;
          const path = join(dir, `${name}.png`);
          await writeFile(path, await encodeFrame(renderQrVariant(qr, variant, width, height, i + 1), 'png'));
          const [ours, peer] = await Promise.all([reader.readFile(path), zbarimg(path)]);
          // What either reads is the code itself, never another text.
          for (const [who, read] of [['ours', ours.codes[0]], ['zbar', peer]] as const) {
            if (read === undefined) misses[who].push(name);
            else expect({ path, [who]: read }).toEqual({ path, [who]: qr });
          }
        }
      }
    }
    // The DCCs at 640x480 in the combined variant (turned, blurred, noised, 0.6 of the height):
    // neither reads the 873-character PS256 one (~2.3 px a module); zbar also loses the
    // 567-character ES256 one (~2.9 px), which we read. Every other frame both read, alike.
    expect(misses).toEqual({ ours: ['combined-640-3'], zbar: ['combined-640-2', 'combined-640-3'] });
  });

  it('reads through noise zbar gives up on, from JPEG as from PNG', async () => {
    for (const [i, qr] of CODES.entries()) {
      const frame = renderQrVariant(qr, 'heavyNoise', 1280, 720, 7 + i);
      expect((await reader.readBytes(await encodeFrame(frame, 'png'))).codes).toEqual([qr]);
      const jpeg = await encodeFrame(renderQrVariant(qr, 'clean', 640, 480), 'jpeg', 80);
      expect(await reader.readBytes(jpeg)).toEqual({ format: 'jpeg', width: 640, height: 480, codes: [qr] });
    }
  });

  it('reports every code of an image with several, and none of one without', async () => {
    const two = sideBySide(renderQrFrame(CODES[0]!, { width: 640, height: 480 }), renderQrFrame(CODES[2]!, { width: 640, height: 480 }));
    const found = (await reader.readBytes(await encodeFrame(two, 'png'))).codes;
    expect([...found].sort()).toEqual([CODES[0], CODES[2]].sort());
    const blank: RgbaFrame = { width: 320, height: 240, data: new Uint8ClampedArray(320 * 240 * 4).fill(200) };
    expect((await reader.readBytes(await encodeFrame(blank, 'jpeg'))).codes).toEqual([]);
  });

  it('reads an inverted code (light on dark, a phone in dark mode)', async () => {
    const frame = renderQrVariant(CODES[0]!, 'noisy', 640, 480, 5);
    const inverted = new Uint8ClampedArray(frame.data.length);
    for (let i = 0; i < inverted.length; i++) inverted[i] = i % 4 === 3 ? 255 : 255 - frame.data[i]!;
    expect((await reader.readBytes(await encodeFrame({ ...frame, data: inverted }, 'jpeg'))).codes).toEqual([CODES[0]]);
  });

  it('reads one-channel grey PNG and JPEG files (decoded to RGBA first)', async () => {
    for (const format of ['png', 'jpeg'] as const) {
      const grey = await encodeFrame(renderQrVariant(CODES[2]!, 'rotated', 1280, 720), format, 90, true);
      expect((await sharp(grey).metadata()).channels).toBe(1);
      expect((await reader.readBytes(grey)).codes).toEqual([CODES[2]]);
      // What the QR decoder is handed: RGBA, 4 bytes a pixel (a grey+alpha buffer would be read askew).
      const seen: RgbaImage[] = [];
      await createImageCodeReader({}, { qr: { read: (image) => Promise.resolve((seen.push(image), [])) } }).readBytes(grey);
      expect(seen.map((i) => [i.width, i.height, i.data.length])).toEqual([[1280, 720, 1280 * 720 * 4]]);
    }
  });

  it('scales an image above maxDecodeSide down while decoding, and still reads it', async () => {
    const small = createImageCodeReader({ maxDecodeSide: 960 });
    const png = await encodeFrame(renderQrVariant(CODES[0]!, 'clean', 1280, 720), 'png');
    expect(await small.readBytes(png)).toEqual({ format: 'png', width: 1280, height: 720, codes: [CODES[0]] });
  });
});
