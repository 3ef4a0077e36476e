import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runVerify } from './run-verify.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevelopmentIssuer } from '@cityops/protocol';
import { dccVaccination } from '../../verifier/test/code-fixtures.ts';
import { pngDeclaring } from '../../test-peers/hostile-images.ts';
import { encodeFrame, renderQrFrame, renderQrVariant, sideBySide, type RgbaFrame } from '../../test-peers/qr-frames.ts';

const now = Date.now();
const health = createDevelopmentIssuer({ issuer: 'city-health', kinds: ['health-code'], now: () => now });
const dcc = createDevelopmentIssuer({ issuer: 'XA', kinds: ['eu-dcc'], now: () => now });

const run = (argv: string[]) => runVerify(argv);

describe('cityops verify --image', () => {
  let dir: string;
  let trust: string;
  const file = (name: string) => join(dir, name);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cityops-verify-image-'));
    trust = file('trust.json');
    await writeFile(trust, JSON.stringify([health.trustEntry, dcc.trustEntry]));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a verdict line per code read, NO_CODE_IN_IMAGE for none, an error line per bad file, and goes on', async () => {
    const green = health.issueHealthCode({ subject: 'p-000001', colour: 'green', validMinutes: 60 });
    const red = health.issueHealthCode({ subject: 'p-000002', colour: 'red', validMinutes: 60 });
    const certificate = dcc.issueDcc({ payload: dccVaccination(), validMinutes: 60 });
    const blank: RgbaFrame = { width: 320, height: 240, data: new Uint8ClampedArray(320 * 240 * 4).fill(180) };
    await writeFile(file('green.png'), await encodeFrame(renderQrVariant(green, 'rotated', 1280, 720), 'png'));
    await writeFile(file('dcc.jpg'), await encodeFrame(renderQrVariant(certificate, 'noisy', 1280, 720), 'jpeg'));
    await writeFile(file('two.png'), await encodeFrame(sideBySide(renderQrFrame(red, { width: 640, height: 480 }), renderQrFrame(green, { width: 640, height: 480 })), 'png'));
    await writeFile(file('blank.jpg'), await encodeFrame(blank, 'jpeg'));
    await writeFile(file('garbage.png'), 'not an image at all');
    await writeFile(file('bomb.png'), pngDeclaring(30000, 30000));
    const names = ['green.png', 'dcc.jpg', 'two.png', 'blank.jpg', 'garbage.png', 'bomb.png', 'missing.png'];
    const [first, ...rest] = names.map(file);

    const out = await run(['--trust', trust, '--at', new Date(now + 60_000).toISOString(), '--image', first!, ...rest]);

    const two = out.filter((l) => l.image === file('two.png'));
    expect(out.map((l) => l.image)).toEqual(names.flatMap((n) => (n === 'two.png' ? [n, n] : [n])).map(file));
    expect(out[0]).toEqual({ image: file('green.png'), qr: green, valid: true, verdict: 'allow', reason: 'OK', kind: 'health-code' });
    expect(out[1]).toEqual({ image: file('dcc.jpg'), qr: certificate, valid: true, verdict: 'allow', reason: 'OK', kind: 'eu-dcc' });
    expect(two.map((l) => [l.qr, l.verdict, l.reason]).sort()).toEqual(
      [
        [green, 'allow', 'OK'],
        [red, 'allow', 'OK'],
      ].sort(),
    );
    expect(out[4]).toEqual({ image: file('blank.jpg'), qr: null, valid: false, verdict: 'deny', reason: 'NO_CODE_IN_IMAGE', kind: null });
    expect(out.slice(5).map((l) => l.error)).toEqual(['IMAGE_ERR_FORMAT', 'IMAGE_ERR_TOO_LARGE', 'IMAGE_ERR_IO']);
    expect(out[6]!.message).toContain('30000x30000');
  });

  it('refuses a file over --max-image-bytes unread, and a bad limit or stray path as usage errors', async () => {
    await writeFile(file('big.png'), await encodeFrame(renderQrVariant('CHC1:X', 'noisy', 640, 480), 'png'));
    const out = await run(['--trust', trust, '--max-image-bytes', '4096', '--image', file('big.png')]);
    expect(out).toEqual([{ image: file('big.png'), qr: null, error: 'IMAGE_ERR_TOO_LARGE', message: expect.stringContaining('limit 4096') as string }]);
    await expect(run(['--trust', trust, '--max-image-bytes', 'lots', '--image', file('big.png')])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
    await expect(run(['--trust', trust, file('big.png')])).rejects.toMatchObject({ code: 'CLI_ERR_USAGE' });
  });
});
