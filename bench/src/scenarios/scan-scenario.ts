import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createImageCodeReader } from '@cityops/edge-agent';
import { ZBARIMG } from '../../../test-peers/debian-peers.ts';
import { encodeFrame, renderQrVariant, type QrFrameVariant, type RgbaFrame } from '../../../test-peers/qr-frames.ts';
import { scanCharts, withCharts } from '../charts/scenario-charts.ts';
import type { Scenario } from '../scenario.ts';

const run = promisify(execFile);

const QUESTION =
  'How fast does a door camera read codes: JPEG frame -> pixels -> QR text (sharp + zxing-wasm), per ' +
  '640x480 and 1280x720 frame, frames per CPU-second, and against Debian\u2019s zbarimg on the same files?';

const SIZES = [
  [640, 480],
  [1280, 720],
] as const;
const VARIANTS: readonly QrFrameVariant[] = ['clean', 'noisy', 'combined'];

/** The checked-in vectors of protocol/CODES.md (real codes, the same every run): two health codes and an ES256 DCC. */
function vectorCodes(): string[] {
  const vectors = JSON.parse(readFileSync(new URL('../../../protocol/test/codes/fixtures/vectors.json', import.meta.url), 'utf8')) as { name: string; qr: string }[];
  return ['health code, ES256', 'health code, EdDSA', 'EU DCC, ES256, vaccination'].map((name) => {
    const found = vectors.find((v) => v.name.startsWith(name));
    if (found === undefined) throw new Error(`no vector ${name} in protocol/test/codes/fixtures/vectors.json`);
    return found.qr;
  });
}

interface Frame {
  readonly qr: string | undefined;
  readonly jpeg: Buffer;
  readonly path: string;
}

/** zbarimg over all files in one process (no per-file start-up): ms per frame, and what it read. */
async function zbarimg(frames: readonly Frame[]): Promise<{ msPerFrame: number; read: number }> {
  const started = performance.now();
  let stdout = '';
  try {
    ({ stdout } = await run(ZBARIMG.path, ['--raw', '-q', '-Sdisable', '-Sqrcode.enable', ...frames.map((f) => f.path)], { maxBuffer: 64 * 1024 * 1024 }));
  } catch (err) {
    // Exit 4: some file without a code; its stdout holds the codes it did read.
    stdout = (err as { stdout?: string }).stdout ?? '';
  }
  const lines = new Set(stdout.split('\n'));
  return { msPerFrame: (performance.now() - started) / frames.length, read: frames.filter((f) => f.qr !== undefined && lines.has(f.qr)).length };
}

export const scanScenario: Scenario = {
  name: 'scan',
  peers: [ZBARIMG],
  question: QUESTION,
  defaultDurationS: 10,
  async run({ durationS, smoke, workDir, log }) {
    const codes = vectorCodes();
    const reader = createImageCodeReader();
    const figures: Record<string, number> = {};
    const rows: (string | number)[][] = [];
    const perSize = (durationS * 1000) / SIZES.length;

    for (const [width, height] of SIZES) {
      const size = `${width}x${height}`;
      const frames: Frame[] = [];
      for (const variant of VARIANTS) {
        for (const [i, qr] of codes.entries()) {
          const jpeg = await encodeFrame(renderQrVariant(qr, variant, width, height, i + 1), 'jpeg', 85);
          frames.push({ qr, jpeg, path: join(workDir, `${size}-${variant}-${i}.jpg`) });
        }
      }
      const blank: RgbaFrame = { width, height, data: new Uint8ClampedArray(width * height * 4).fill(190) };
      frames.push({ qr: undefined, jpeg: await encodeFrame(blank, 'jpeg', 85), path: join(workDir, `${size}-blank.jpg`) });
      await Promise.all(frames.map((f) => writeFile(f.path, f.jpeg)));

      // Warm: the first read instantiates the wasm module.
      await reader.readBytes(frames[0]!.jpeg);
      // Ours: frames round-robin, one at a time as the scanner does, for a share of the duration.
      let n = 0;
      let read = 0;
      const cpu = process.cpuUsage();
      const started = performance.now();
      const until = started + (smoke ? 300 : perSize);
      do {
        const frame = frames[n % frames.length]!;
        const result = await reader.readBytes(frame.jpeg);
        if (n < frames.length && frame.qr !== undefined && result.codes[0] === frame.qr) read++;
        n++;
      } while (performance.now() < until || n < frames.length);
      const wallMs = performance.now() - started;
      const used = process.cpuUsage(cpu);
      const cpuS = (used.user + used.system) / 1e6;
      const peer = await zbarimg(frames);
      const withCode = frames.length - 1;
      Object.assign(figures, {
        [`ours_${size}_ms_per_frame`]: wallMs / n,
        [`ours_${size}_frames_per_cpu_second`]: n / cpuS,
        [`ours_${size}_read_of_${withCode}`]: read,
        [`zbarimg_${size}_ms_per_frame`]: peer.msPerFrame,
        [`zbarimg_${size}_read_of_${withCode}`]: peer.read,
      });
      rows.push([size, (wallMs / n).toFixed(1), Math.round(n / cpuS), `${read}/${withCode}`, peer.msPerFrame.toFixed(1), `${peer.read}/${withCode}`]);
      log(`scan ${size}: ${n} frames, ${(wallMs / n).toFixed(1)} ms/frame, ${(n / cpuS).toFixed(1)} frames/CPU-s; zbarimg ${peer.msPerFrame.toFixed(1)} ms/frame`);
    }
    const hd = figures['ours_1280x720_frames_per_cpu_second'] ?? 0;
    return withCharts(scanCharts, {
      scenario: 'scan',
      question: QUESTION,
      figures,
      targets: [
        { name: '1280x720 frames read per CPU-second (a door camera at 10 fps on one core)', target: '>= 10', met: hd >= 10 },
        { name: 'every frame with a code read (clean, noisy, rotated+blurred+noisy)', target: 'all', met: SIZES.every(([w, h]) => figures[`ours_${w}x${h}_read_of_${VARIANTS.length * codes.length}`] === VARIANTS.length * codes.length) },
      ],
      notes: [
        `Frames: the CODES.md vectors (CHC1: health codes of 227 and 218 chars, an HC1: ES256 DCC of 567), EC level Q, ${VARIANTS.join(', ')} (test-peers/qr-frames.ts), JPEG q85, plus a frame without a code; each frame in turn.`,
        'Ours includes the JPEG decode (sharp, on the libuv pool: CPU-seconds count every thread) and a second binarizer pass on frames where the first reads nothing.',
        'zbarimg reads all files in one process (ImageMagick decode included), so its start-up is spread over the frames.',
      ],
      tables: [{ title: 'Decode per frame', columns: ['frame', 'ours ms/frame', 'ours frames/CPU-s', 'ours read', 'zbarimg ms/frame', 'zbarimg read'], rows }],
    });
  },
};
