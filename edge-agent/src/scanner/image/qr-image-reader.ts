import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { prepareZXingModule, readBarcodes, type ReaderOptions, type ReadResult } from 'zxing-wasm/reader';

/** Pixels as the decoder takes them: RGBA, 8 bits a channel, rows top to bottom. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array | Uint8ClampedArray;
}

export interface QrImageReader {
  /** The distinct texts of the QR codes readable in the image (error correction passed), at most `maxCodes`. */
  read(image: RgbaImage): Promise<string[]>;
}

/** zxing-wasm's ImageData: duck-typed (its declaration names the DOM type, absent in Node's lib). */
interface ZxingImage {
  readonly data: Uint8Array | Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
  readonly colorSpace: 'srgb';
}
const readImage = readBarcodes as unknown as (image: ZxingImage, options: ReaderOptions) => Promise<ReadResult[]>;

/**
 * ZXing-C++ compiled to WebAssembly (the `zxing-wasm` package), chosen on our own codes against
 * zbar-wasm, @zxing/library and jsQR (README, "Codes read from pictures"). Its wasm binary is read
 * from the installed package: left to its default, the package would fetch it from a CDN.
 */
export function createQrImageReader(options: { readonly maxCodes: number }): QrImageReader {
  const require = createRequire(import.meta.url);
  const wasmBinary = readFileSync(require.resolve('zxing-wasm/reader/zxing_reader.wasm'));
  const ready = prepareZXingModule({
    overrides: { wasmBinary: wasmBinary.buffer.slice(wasmBinary.byteOffset, wasmBinary.byteOffset + wasmBinary.byteLength) },
    fireImmediately: true,
  });
  const base: ReaderOptions = { formats: ['QRCode'], tryHarder: true, tryInvert: false, maxNumberOfSymbols: options.maxCodes };
  // The local-average binarizer reads most frames; a global threshold rescues small, blurred
  // codes it loses (measured: 640x480 rotated+blurred DCC codes 3/6 -> 5/6), and inverted
  // (light on dark: a phone in dark mode) codes are tried there too. Only on a miss.
  const passes: ReaderOptions[] = [base, { ...base, binarizer: 'GlobalHistogram', tryInvert: true }];

  return {
    async read(image) {
      await ready;
      const input: ZxingImage = { data: image.data, width: image.width, height: image.height, colorSpace: 'srgb' };
      for (const pass of passes) {
        const texts = new Set<string>();
        for (const result of await readImage(input, pass)) if (result.isValid && result.text !== '') texts.add(result.text);
        if (texts.size > 0) return [...texts].slice(0, options.maxCodes);
      }
      return [];
    },
  };
}
