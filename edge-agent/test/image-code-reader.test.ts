import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createDevelopmentIssuer } from '@cityops/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dccVaccination } from '../../verifier/test/code-fixtures.ts';
import { encodeFrame, QR_FRAME_VARIANTS, renderQrFrame, renderQrVariant, sideBySide, type QrFrameVariant, type RgbaFrame } from '../../test-peers/qr-frames.ts';
import { createImageCodeReader } from '../src/scanner/image/image-code-reader.ts';

const run = promisify(execFile);
const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'] });
const dcc = createDevelopmentIssuer({ issuer: 'XA', kinds: ['eu-dcc'] });
const CODES = [
  health.issueHealthCode({ subject: 'p-000001', colour: 'green' }),
  health.issueHealthCode({ subject: 'p-000002', colour: 'yellow' }),
  dcc.issueDcc({ payload: dccVaccination() }),
];
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
    const zbarMisses: string[] = [];
    for (const [width, height] of SIZES) {
      for (const variant of PEER_VARIANTS) {
        for (const [i, qr] of CODES.entries()) {
          const path = join(dir, `${variant}-${width}-${i}.png`);
          await writeFile(path, await encodeFrame(renderQrVariant(qr, variant, width, height, i + 1), 'png'));
          const [ours, peer] = await Promise.all([reader.readFile(path), zbarimg(path)]);
          expect({ path, ours: ours.codes }).toEqual({ path, ours: [qr] });
          // Whatever zbar reads, it reads as we do; it never reads a different text.
          if (peer === undefined) zbarMisses.push(`${variant}-${width}-${i}`);
          else expect({ path, peer }).toEqual({ path, peer: qr });
        }
      }
    }
    // zbar may lose the DCC (~550 characters, ~2.9 px a module) rotated, blurred and noised at
    // 640x480 (the signature, so the QR, differs each run); it reads every other frame. We read all.
    expect(zbarMisses.filter((name) => name !== 'combined-640-2')).toEqual([]);
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

  it('scales an image above maxDecodeSide down while decoding, and still reads it', async () => {
    const small = createImageCodeReader({ maxDecodeSide: 960 });
    const png = await encodeFrame(renderQrVariant(CODES[0]!, 'clean', 1280, 720), 'png');
    expect(await small.readBytes(png)).toEqual({ format: 'png', width: 1280, height: 720, codes: [CODES[0]] });
  });
});
