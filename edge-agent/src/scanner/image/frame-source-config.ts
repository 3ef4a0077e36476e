import { parseConfig } from '@cityops/protocol';
import type { FromSchema } from 'json-schema-to-ts';
import { imageErrors } from './image-errors.ts';
import { imageReaderConfigSchema } from './image-reader-config.ts';

const MIB = 1024 * 1024;

/** What both frame sources share: bounds of a frame, and when a code counts as presented again. */
const frameProperties = {
  /** A frame (a JPEG from the command, a file in the folder) larger than this is dropped unread. */
  maxFrameBytes: { type: 'integer', minimum: 1024, maximum: 64 * MIB, default: 4 * MIB },
  maxPixels: imageReaderConfigSchema.properties.maxPixels,
  maxDecodeSide: imageReaderConfigSchema.properties.maxDecodeSide,
  maxCodes: imageReaderConfigSchema.properties.maxCodes,
  presentation: {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      /** A code seen again within this of its last sighting is the same presentation: not checked again. */
      absentGapMs: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 2000 },
      /** Codes remembered at once (least recently seen forgotten first). */
      maxTracked: { type: 'integer', minimum: 1, maximum: 100_000, default: 256 },
    },
  },
} as const;

/** Frames from a command's stdout: concatenated JPEGs, e.g. ffmpeg reading a camera. */
export const frameCommandSourceConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['command'],
  properties: {
    /** argv of the command (no shell unless the command is one: ["sh", "-c", "..."]). */
    command: { type: 'array', minItems: 1, maxItems: 256, items: { type: 'string', minLength: 1 } },
    ...frameProperties,
    /** When the command exits, it is started again after a jittered exponential backoff. */
    restart: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        minMs: { type: 'integer', minimum: 1, maximum: 600_000, default: 500 },
        maxMs: { type: 'integer', minimum: 1, maximum: 3_600_000, default: 30_000 },
      },
    },
    /** On stop: SIGTERM, then SIGKILL after this. */
    killAfterMs: { type: 'integer', minimum: 1, maximum: 60_000, default: 2000 },
  },
} as const;

/** Frames from image files appearing in a folder (PNG, JPEG; dot-files ignored: write, then rename). */
export const frameFolderSourceConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['dir'],
  properties: {
    dir: { type: 'string', minLength: 1 },
    ...frameProperties,
    /** The folder is listed on every change event and at least this often (watch events can be lost). */
    rescanMs: { type: 'integer', minimum: 10, maximum: 3_600_000, default: 1000 },
    /** Files waiting to be read; more wait in the folder for a later listing. */
    maxPending: { type: 'integer', minimum: 1, maximum: 100_000, default: 64 },
    /** Files remembered as read (a file read is not read again while it is there); beyond, the oldest is forgotten. */
    maxSeen: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 100_000 },
  },
} as const;

export type FrameCommandSourceConfigInput = FromSchema<typeof frameCommandSourceConfigSchema, { keepDefaultedPropertiesOptional: true }>;
export type FrameCommandSourceConfig = FromSchema<typeof frameCommandSourceConfigSchema>;
export type FrameFolderSourceConfigInput = FromSchema<typeof frameFolderSourceConfigSchema, { keepDefaultedPropertiesOptional: true }>;
export type FrameFolderSourceConfig = FromSchema<typeof frameFolderSourceConfigSchema>;

export function parseFrameCommandSourceConfig(input: FrameCommandSourceConfigInput): FrameCommandSourceConfig {
  const config = parseConfig<FrameCommandSourceConfig>(frameCommandSourceConfigSchema, input, imageErrors.IMAGE_ERR_CONFIG);
  if (config.restart.maxMs < config.restart.minMs) throw imageErrors.IMAGE_ERR_CONFIG(`/restart/maxMs (${config.restart.maxMs}) is below minMs (${config.restart.minMs})`);
  return config;
}

export function parseFrameFolderSourceConfig(input: FrameFolderSourceConfigInput): FrameFolderSourceConfig {
  return parseConfig<FrameFolderSourceConfig>(frameFolderSourceConfigSchema, input, imageErrors.IMAGE_ERR_CONFIG);
}
