import { isCityopsError } from '@cityops/protocol';
import type { ImageCodeReader } from '@cityops/edge-agent';
import type { Verdict } from '@cityops/verifier';

/** One output line: the verdict fields, with what it is about. */
export type ImageLine = { readonly image: string; readonly qr: string | null } & ({ readonly verdict: Verdict } | { readonly error: string; readonly message: string });

/**
 * The images of `cityops verify --image`, in order: one line per code read (an image showing
 * several codes gives several lines, in the decoder's order, at most maxCodes), one deny line with
 * NO_CODE_IN_IMAGE for an image without a readable code, one error line (IMAGE_ERR_*) for a file
 * that is missing, too large, not a PNG/JPEG or corrupt; then the next image.
 */
export async function* verifyImages(paths: readonly string[], reader: ImageCodeReader, check: (qr: string) => Verdict): AsyncGenerator<ImageLine> {
  for (const image of paths) {
    let codes: string[];
    try {
      codes = (await reader.readFile(image)).codes;
    } catch (err) {
      if (!isCityopsError(err)) throw err;
      yield { image, qr: null, error: err.code, message: err.message.slice(0, 300) };
      continue;
    }
    if (codes.length === 0) yield { image, qr: null, verdict: { verdict: 'deny', reason: 'NO_CODE_IN_IMAGE', kind: null } };
    for (const qr of codes) yield { image, qr, verdict: check(qr) };
  }
}
