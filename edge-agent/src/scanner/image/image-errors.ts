import { defineErrors } from '@cityops/protocol';

/**
 * Errors of reading codes from pictures (files handed to `cityops verify --image`, camera frames,
 * a watched folder). None stops a source: the image is counted and skipped.
 */
export const imageErrors = defineErrors({
  IMAGE_ERR_CONFIG: { message: 'Invalid image or frame source configuration' },
  IMAGE_ERR_TOO_LARGE: { message: 'Image refused before decoding: its file or declared pixel size is over the limit', statusCode: 413 },
  IMAGE_ERR_FORMAT: { message: 'Not a PNG or JPEG image (or its header is broken)', statusCode: 415 },
  IMAGE_ERR_UNREADABLE: { message: 'Image could not be decoded (corrupt or truncated)', statusCode: 422 },
  IMAGE_ERR_IO: { message: 'Image file could not be read' },
  IMAGE_ERR_FRAME_COMMAND: { message: 'Frame source command failed; it is restarted with backoff' },
});
