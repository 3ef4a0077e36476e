import { parseConfig } from '@cityops/protocol';
import type { FromSchema } from 'json-schema-to-ts';
import { imageErrors } from './image-errors.ts';

const MIB = 1024 * 1024;

/** Bounds of reading codes from one image; every one is checked before the pixels are decoded. */
export const imageReaderConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** Larger files are refused unread (a camera frame is ~100-500 KiB, a phone screenshot a few MiB). */
    maxFileBytes: { type: 'integer', minimum: 1024, maximum: 256 * MIB, default: 16 * MIB },
    /** Declared width x height above this is refused from the header, before any pixel is decoded. */
    maxPixels: { type: 'integer', minimum: 1, maximum: 268_402_689, default: 40_000_000 },
    /** Larger images are scaled down to fit this side while decoding, so pixel memory stays <= side² x 4 bytes. */
    maxDecodeSide: { type: 'integer', minimum: 64, maximum: 16_384, default: 2560 },
    /** Codes reported from one image (several people may hold codes up at once). */
    maxCodes: { type: 'integer', minimum: 1, maximum: 16, default: 4 },
  },
} as const;

export type ImageReaderConfigInput = FromSchema<typeof imageReaderConfigSchema, { keepDefaultedPropertiesOptional: true }>;
export type ImageReaderConfig = FromSchema<typeof imageReaderConfigSchema>;

export function parseImageReaderConfig(input: ImageReaderConfigInput = {}): ImageReaderConfig {
  return parseConfig<ImageReaderConfig>(imageReaderConfigSchema, input, imageErrors.IMAGE_ERR_CONFIG);
}
