import QRCode from 'qrcode';
import { createSeededRandom } from '@cityops/edge-agent';
import sharp from 'sharp';

/**
 * Camera-like frames of a QR code, made deterministically (seeded) for the image decoder's tests
 * and the scan benchmark: the code drawn at a given size and angle on a grey background, then
 * blurred and noised as a cheap camera would. RGBA, 8 bits a channel, rows top to bottom.
 */
export interface RgbaFrame {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray;
}

export interface QrFrameOptions {
  readonly width: number;
  readonly height: number;
  /** Side of the code, quiet zone included, as a fraction of the frame's shorter side. Default 0.8. */
  readonly size?: number;
  /** Turned about the frame's centre, degrees. */
  readonly rotationDeg?: number;
  /** Box-blur radius in pixels, applied twice (close to a Gaussian). */
  readonly blur?: number;
  /** Standard deviation of Gaussian noise added to every pixel, 0-255. */
  readonly noise?: number;
  /** Seed of the noise. */
  readonly seed?: number;
  /** Error correction level; default Q (the EU DCC's recommendation, hcert §3.2.1). */
  readonly ecLevel?: 'L' | 'M' | 'Q' | 'H';
  /** Where the code's centre lies, as fractions of the frame (default the middle). */
  readonly centre?: readonly [number, number];
}

/** The variants the decoders are compared on; the decoder's tests and the benchmark use them too. */
export const QR_FRAME_VARIANTS = {
  clean: {},
  small: { size: 0.45 },
  rotated: { rotationDeg: 23, size: 0.7 },
  blurred: { blur: 1 },
  noisy: { noise: 16 },
  combined: { size: 0.6, rotationDeg: 9, blur: 1, noise: 10 },
  /** Beyond what zbar reads: only the chosen decoder is held to it. */
  heavyNoise: { noise: 40 },
} as const satisfies Record<string, Omit<QrFrameOptions, 'width' | 'height'>>;

export type QrFrameVariant = keyof typeof QR_FRAME_VARIANTS;

const QUIET_MODULES = 4;
const BACKGROUND = 200;
const SUPERSAMPLE = 2;

function boxBlur(grey: Float32Array, width: number, height: number, radius: number): Float32Array {
  const horizontal = new Float32Array(grey.length);
  const out = new Float32Array(grey.length);
  const span = 2 * radius + 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let d = -radius; d <= radius; d++) sum += grey[y * width + Math.min(width - 1, Math.max(0, x + d))]!;
      horizontal[y * width + x] = sum / span;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let d = -radius; d <= radius; d++) sum += horizontal[Math.min(height - 1, Math.max(0, y + d)) * width + x]!;
      out[y * width + x] = sum / span;
    }
  }
  return out;
}

/** One frame showing `text` as a QR code. */
export function renderQrFrame(text: string, options: QrFrameOptions): RgbaFrame {
  const { width, height } = options;
  const qr = QRCode.create(text, { errorCorrectionLevel: options.ecLevel ?? 'Q' });
  const modules = qr.modules.size;
  const side = (options.size ?? 0.8) * Math.min(width, height);
  const modulePx = side / (modules + 2 * QUIET_MODULES);
  const [cxFraction, cyFraction] = options.centre ?? [0.5, 0.5];
  const cx = cxFraction * width;
  const cy = cyFraction * height;
  const angle = ((options.rotationDeg ?? 0) * Math.PI) / 180;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);

  const dark = (px: number, py: number): boolean => {
    // Back into the code's own frame: undo the rotation about the centre.
    const dx = px - cx;
    const dy = py - cy;
    const u = (cos * dx + sin * dy) / modulePx + modules / 2;
    const v = (-sin * dx + cos * dy) / modulePx + modules / 2;
    if (u < 0 || v < 0 || u >= modules || v >= modules) return false;
    return qr.modules.get(Math.floor(v), Math.floor(u)) === 1;
  };
  const inCode = (px: number, py: number): boolean => {
    const dx = px - cx;
    const dy = py - cy;
    const half = side / 2;
    return Math.abs(cos * dx + sin * dy) < half && Math.abs(-sin * dx + cos * dy) < half;
  };

  let grey: Float32Array = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let value = 0;
      for (let sy = 0; sy < SUPERSAMPLE; sy++) {
        for (let sx = 0; sx < SUPERSAMPLE; sx++) {
          const px = x + (sx + 0.5) / SUPERSAMPLE;
          const py = y + (sy + 0.5) / SUPERSAMPLE;
          value += dark(px, py) ? 20 : inCode(px, py) ? 245 : BACKGROUND;
        }
      }
      grey[y * width + x] = value / (SUPERSAMPLE * SUPERSAMPLE);
    }
  }
  const blur = options.blur ?? 0;
  if (blur > 0) grey = boxBlur(boxBlur(grey, width, height, blur), width, height, blur);

  const random = createSeededRandom(options.seed ?? 1);
  const sigma = options.noise ?? 0;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < grey.length; i++) {
    let value = grey[i]!;
    if (sigma > 0) {
      // Box-Muller: two uniforms to one standard normal.
      value += sigma * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    }
    data[i * 4] = value;
    data[i * 4 + 1] = value;
    data[i * 4 + 2] = value;
    data[i * 4 + 3] = 255;
  }
  return { width, height, data };
}

/** A frame of a named variant at the given resolution. */
export function renderQrVariant(text: string, variant: QrFrameVariant, width: number, height: number, seed = 1): RgbaFrame {
  return renderQrFrame(text, { width, height, seed, ...QR_FRAME_VARIANTS[variant] });
}

/** The frame as a PNG or JPEG file (sharp, as the decoder's own image library); `grey`: one channel. */
export function encodeFrame(frame: RgbaFrame, format: 'png' | 'jpeg', quality = 85, grey = false): Promise<Buffer> {
  let image = sharp(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength), {
    raw: { width: frame.width, height: frame.height, channels: 4 },
  });
  if (grey) image = image.extractChannel(0).toColourspace('b-w');
  return (format === 'png' ? image.png() : image.jpeg({ quality })).toBuffer();
}

/** Two frames side by side in one image: two people holding up their codes. */
export function sideBySide(left: RgbaFrame, right: RgbaFrame): RgbaFrame {
  const width = left.width + right.width;
  const data = new Uint8ClampedArray(width * left.height * 4);
  for (let y = 0; y < left.height; y++) {
    data.set(left.data.subarray(y * left.width * 4, (y + 1) * left.width * 4), y * width * 4);
    data.set(right.data.subarray(y * right.width * 4, (y + 1) * right.width * 4), (y * width + left.width) * 4);
  }
  return { width, height: left.height, data };
}
