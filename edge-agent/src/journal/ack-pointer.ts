import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { writeFully } from './fs-durability.ts';

/** Where the first unacknowledged record of a lane starts (everything before it is acknowledged). */
export interface JournalPosition {
  readonly segment: number;
  readonly offset: number;
}

export interface AckPointerFile {
  read(): Promise<JournalPosition | undefined>;
  write(position: JournalPosition): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

const SLOT_BYTES = 24;
const SLOT_MAGIC = 0x41434b50; // "ACKP"

/**
 * The persisted ack pointer of a lane: two 24-byte slots written in turn, each with a generation
 * and a CRC (magic | generation | segment hi | segment lo | offset | CRC-32). A write torn by a
 * crash spoils one slot; the other still holds the previous pointer. Losing an update only
 * replays batches that were already acknowledged, which ingest drops as duplicates.
 */
export async function openAckPointer(path: string): Promise<AckPointerFile> {
  const fh: FileHandle = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  let generation = 0;

  function decodeSlot(buf: Buffer): { generation: number; position: JournalPosition } | undefined {
    if (buf.length < SLOT_BYTES || buf.readUInt32BE(0) !== SLOT_MAGIC) return undefined;
    if (crc32(buf.subarray(0, 20)) !== buf.readUInt32BE(20)) return undefined;
    const segment = buf.readUInt32BE(8) * 2 ** 32 + buf.readUInt32BE(12);
    return { generation: buf.readUInt32BE(4), position: { segment, offset: buf.readUInt32BE(16) } };
  }

  return {
    async read() {
      const buf = Buffer.alloc(2 * SLOT_BYTES);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const slots = [decodeSlot(buf.subarray(0, Math.min(bytesRead, SLOT_BYTES))), decodeSlot(buf.subarray(SLOT_BYTES, bytesRead))];
      const valid = slots.filter((s) => s !== undefined);
      if (valid.length === 0) return undefined;
      // Generations wrap at 2^32: the newer is the one the other is "behind" modulo 2^32.
      const newest = valid.reduce((a, b) => (((b.generation - a.generation) >>> 0) < 2 ** 31 ? b : a));
      generation = (newest.generation + 1) >>> 0;
      return newest.position;
    },
    async write(position) {
      const slot = Buffer.alloc(SLOT_BYTES);
      slot.writeUInt32BE(SLOT_MAGIC, 0);
      slot.writeUInt32BE(generation, 4);
      slot.writeUInt32BE(Math.floor(position.segment / 2 ** 32), 8);
      slot.writeUInt32BE(position.segment % 2 ** 32, 12);
      slot.writeUInt32BE(position.offset, 16);
      slot.writeUInt32BE(crc32(slot.subarray(0, 20)), 20);
      await writeFully(fh, slot, (generation % 2) * SLOT_BYTES);
      generation = (generation + 1) >>> 0;
    },
    sync: () => fh.datasync(),
    close: () => fh.close(),
  };
}
