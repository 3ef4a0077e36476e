import { isCityopsError } from '@cityops/protocol';
import type { Logger } from 'pino';
import { createImageCodeReader, type ImageCodeReader } from './image-code-reader.ts';
import { createPresentationGate } from './presentation-gate.ts';
import type { QrImageReader } from './qr-image-reader.ts';

export interface FrameStats {
  /** Frames taken (read or dropped). */
  frames: number;
  /** Frames in which at least one code was read. */
  decoded: number;
  noCode: number;
  /** Frames refused (too large, not PNG/JPEG, corrupt): IMAGE_ERR_* logged. */
  unreadable: number;
  /** Frames never read: a newer one came while the door was busy. */
  dropped: number;
  /** Codes passed on to be checked: new presentations. */
  codes: number;
  /** Sightings of a code still being shown, not checked again. */
  duplicates: number;
}

export interface FramePipelineConfig {
  readonly maxFrameBytes: number;
  readonly maxPixels: number;
  readonly maxDecodeSide: number;
  readonly maxCodes: number;
  readonly presentation: { readonly absentGapMs: number; readonly maxTracked: number };
}

export interface FramePipeline {
  /** The codes of a frame that are new presentations; never throws for a bad frame (counted). */
  codesOf(frame: Uint8Array | { readonly path: string }): Promise<string[]>;
  readonly stats: FrameStats;
}

/** A frame -> its QR codes -> the new presentations among them, counted. Shared by the frame sources. */
export function createFramePipeline(config: FramePipelineConfig, deps: { readonly logger: Logger; readonly now?: () => number; readonly qr?: QrImageReader }): FramePipeline {
  const reader: ImageCodeReader = createImageCodeReader(
    { maxFileBytes: config.maxFrameBytes, maxPixels: config.maxPixels, maxDecodeSide: config.maxDecodeSide, maxCodes: config.maxCodes },
    deps.qr === undefined ? {} : { qr: deps.qr },
  );
  const gate = createPresentationGate(config.presentation, deps.now === undefined ? {} : { now: deps.now });
  const stats: FrameStats = { frames: 0, decoded: 0, noCode: 0, unreadable: 0, dropped: 0, codes: 0, duplicates: 0 };

  return {
    stats,
    async codesOf(frame) {
      stats.frames++;
      let codes: string[];
      try {
        codes = ('path' in frame ? await reader.readFile(frame.path) : await reader.readBytes(frame)).codes;
      } catch (err) {
        if (!isCityopsError(err)) throw err;
        stats.unreadable++;
        deps.logger.warn({ err }, 'frame skipped');
        return [];
      }
      if (codes.length === 0) {
        stats.noCode++;
        // A frame without a code says nothing about absence yet: the gate goes by time since last seen.
        return [];
      }
      stats.decoded++;
      const before = gate.stats().duplicates;
      const fresh = gate.admit(codes);
      stats.duplicates += gate.stats().duplicates - before;
      stats.codes += fresh.length;
      return fresh;
    },
  };
}
