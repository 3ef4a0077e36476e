import { crc32 } from 'node:zlib';

/**
 * One write-ahead-log frame: `[u32 length][u32 crc32(body)][body]`, little-endian. A frame cut short
 * by a crash, or whose checksum does not match, marks the end of the valid log.
 */
export const FRAME_HEADER_BYTES = 8;

export function encodeFrame(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.byteLength);
  frame.writeUInt32LE(body.byteLength, 0);
  frame.writeUInt32LE(crc32(body), 4);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
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
    if (length > maxFrameBytes || end > data.length) break;
    const body = data.subarray(offset + FRAME_HEADER_BYTES, end);
    if (crc32(body) !== data.readUInt32LE(offset + 4)) break;
    bodies.push(body);
    offset = end;
  }
  return { bodies, validBytes: offset };
}
