import { crc32 } from 'node:zlib';

/**
 * One write-ahead-log frame: `[u32 length][u32 crc32(body)][body]`, little-endian, the body given in
 * parts so a payload is written as it arrived, never copied into a bigger buffer. A frame cut short
 * by a crash, or whose checksum does not match, marks the end of the valid log.
 */
export const FRAME_HEADER_BYTES = 8;

/** The frame as buffers for `writev`: an 8-byte header, then the body's parts. */
export function encodeFrame(parts: readonly Uint8Array[]): Uint8Array[] {
  let length = 0;
  let crc = 0;
  for (const part of parts) {
    length += part.byteLength;
    crc = crc32(part, crc);
  }
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32LE(length, 0);
  header.writeUInt32LE(crc, 4);
  return [header, ...parts];
}

export interface DecodedFrames {
  readonly bodies: Buffer[];
  /** Bytes of valid frames from the start; anything after is a torn or corrupt tail. */
  readonly validBytes: number;
}

export function decodeFrames(data: Buffer, maxFrameBytes: number): DecodedFrames {
  const bodies: Buffer[] = [];
  let offset = 0;
  while (offset + FRAME_HEADER_BYTES <= data.length) {
    const length = data.readUInt32LE(offset);
    const end = offset + FRAME_HEADER_BYTES + length;
    // No record is empty, and eight zero bytes would pass as one (the CRC-32 of nothing is 0): a
    // zero length is where a preallocated segment's unwritten part (or a filesystem's zero-filled
    // tail after a crash) begins.
    if (length === 0 || length > maxFrameBytes || end > data.length) break;
    const body = data.subarray(offset + FRAME_HEADER_BYTES, end);
    if (crc32(body) !== data.readUInt32LE(offset + 4)) break;
    bodies.push(body);
    offset = end;
  }
  return { bodies, validBytes: offset };
}
