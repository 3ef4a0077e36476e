import { mkdir, open, readdir, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { agentErrors } from '../errors.ts';
import { openAckPointer, type AckPointerFile, type JournalPosition } from './ack-pointer.ts';
import { syncDirectory, writeFully } from './fs-durability.ts';
import {
  SEGMENT_HEADER_BYTES,
  encodeSegmentHeader,
  parseSegmentFileName,
  segmentFileName,
  type Lane,
  type RecordMeta,
} from './record-format.ts';
import { createRecordReader } from './record-reader.ts';
import { scanSegment } from './segment-scan.ts';

export type FsyncPolicy = 'batch' | 'interval' | 'off';

export interface LaneConfig {
  /** The lane's own directory (segments and its ack pointer). */
  readonly dir: string;
  readonly lane: Lane;
  readonly segmentBytes: number;
  readonly fsync: FsyncPolicy;
  readonly readChunkBytes: number;
}

/** Where a journaled batch sits, and what it is: enough to acknowledge it and to account for it. */
export interface RecordRef extends RecordMeta, JournalPosition {
  readonly lane: Lane;
  readonly size: number;
}

export interface JournalRecord extends RecordRef {
  /** The batch exactly as journaled: a replay sends these same bytes. */
  readonly payload: Buffer;
}

export interface LaneOpenReport {
  readonly maxBoot: number;
  /** Damaged or torn places cut off (each loses the rest of its segment), and the bytes cut. */
  readonly truncations: number;
  readonly truncatedBytes: number;
}

export interface LaneDrop {
  readonly batches: number;
  readonly readings: number;
}

export interface LaneStats {
  bytes: number;
  segments: number;
  pendingBatches: number;
  pendingReadings: number;
  /** Torn or damaged places cut off (at open or during replay), and the bytes cut. */
  truncations: number;
  truncatedBytes: number;
}

interface Segment {
  readonly id: number;
  readonly path: string;
  bytes: number;
  records: number;
  readings: number;
  /** Records (and their readings) acknowledged, counted from the start of the segment. */
  ackedRecords: number;
  ackedReadings: number;
}

/**
 * One lane of the journal (alarm or routine): append-only segment files, a persisted ack pointer,
 * and deletion of segments once every record in them is acknowledged.
 *
 * Methods that touch files must be called one at a time (the journal's serial queue does that);
 * `ack` and the getters only touch memory and may be called at any time.
 */
export interface JournalLane {
  open(): Promise<LaneOpenReport>;
  /** Bytes appending a record of this size would add (a new segment adds its header). */
  costOf(recordBytes: number): number;
  append(record: Buffer, meta: RecordMeta): Promise<RecordRef>;
  /** Up to `maxRecords` records from `from` on, and the position after the last one returned. */
  read(from: JournalPosition, maxRecords: number): Promise<{ records: JournalRecord[]; next: JournalPosition }>;
  firstUnacked(): JournalPosition;
  /** Marks a record acknowledged; true when the acknowledged prefix grew. */
  ack(ref: RecordRef): boolean;
  /** Persists the ack pointer and deletes fully acknowledged segments; returns how many. */
  reclaim(): Promise<number>;
  /** Deletes the oldest segment whatever its state; what it held unacknowledged is returned. */
  dropOldest(): Promise<LaneDrop | undefined>;
  sync(): Promise<void>;
  close(): Promise<void>;
  readonly bytes: number;
  readonly segmentCount: number;
  stats(): LaneStats;
}

function compare(a: JournalPosition, b: JournalPosition): number {
  return a.segment - b.segment || a.offset - b.offset;
}

const key = (p: JournalPosition) => `${p.segment}:${p.offset}`;

export function createJournalLane(config: LaneConfig, deps: { logger: Logger }): JournalLane {
  const { dir, lane, segmentBytes, fsync, readChunkBytes } = config;
  const { logger } = deps;
  const segments: Segment[] = [];
  let active: { seg: Segment; fh: FileHandle; dirty: boolean } | undefined;
  let reader: { seg: Segment; fh: FileHandle } | undefined;
  let ackFile: AckPointerFile | undefined;
  let ackPos: JournalPosition = { segment: 0, offset: 0 };
  let ackDirty = false;
  let ackUnsynced = false;
  // Acks that arrived ahead of an earlier unacknowledged record; at most the in-flight window.
  const ackedAhead = new Map<string, RecordRef>();
  let nextSegmentId = 1;
  let totalBytes = 0;
  const stats = { truncations: 0, truncatedBytes: 0 };

  /**
   * The position of the next record at or after `pos`: past the end of a sealed segment means
   * the start of the next one; a deleted segment means the next that still exists.
   */
  function normalize(pos: JournalPosition): JournalPosition {
    let p = pos;
    for (const seg of segments) {
      if (seg.id < p.segment) continue;
      if (seg.id > p.segment) return { segment: seg.id, offset: SEGMENT_HEADER_BYTES };
      if (p.offset < seg.bytes || seg === active?.seg) return { segment: seg.id, offset: Math.max(p.offset, SEGMENT_HEADER_BYTES) };
      p = { segment: seg.id + 1, offset: SEGMENT_HEADER_BYTES };
    }
    return pos;
  }

  const find = (id: number) => segments.find((s) => s.id === id);

  async function closeReader(): Promise<void> {
    const r = reader;
    reader = undefined;
    await r?.fh.close();
  }

  async function readHandle(seg: Segment): Promise<FileHandle> {
    if (reader?.seg === seg) return reader.fh;
    await closeReader();
    reader = { seg, fh: await open(seg.path, 'r') };
    return reader.fh;
  }

  async function removeSegment(seg: Segment): Promise<void> {
    if (reader?.seg === seg) await closeReader();
    if (active?.seg === seg) {
      const fh = active.fh;
      active = undefined;
      await fh.close();
    }
    await unlink(seg.path);
    segments.splice(segments.indexOf(seg), 1);
    totalBytes -= seg.bytes;
  }

  function advance(ref: RecordRef): void {
    ackPos = { segment: ref.segment, offset: ref.offset + ref.size };
    ackDirty = true;
    const seg = find(ref.segment);
    if (seg !== undefined) {
      seg.ackedRecords++;
      seg.ackedReadings += ref.readings;
    }
  }

  function forgetAcksBefore(pos: JournalPosition): void {
    for (const [k, ref] of ackedAhead) if (compare(ref, pos) < 0) ackedAhead.delete(k);
  }

  async function rotate(): Promise<void> {
    if (active !== undefined) {
      const sealed = active;
      active = undefined;
      if (sealed.dirty && fsync !== 'off') await sealed.fh.datasync();
      await sealed.fh.close();
    }
    const id = nextSegmentId++;
    const path = join(dir, segmentFileName(id));
    const fh = await open(path, 'wx');
    try {
      await writeFully(fh, encodeSegmentHeader(lane), 0);
      if (fsync === 'batch') {
        await fh.datasync();
        await syncDirectory(dir); // the new file's directory entry must survive a power cut too
      }
    } catch (err) {
      await fh.close();
      await unlink(path).catch(() => undefined);
      throw err;
    }
    const seg: Segment = { id, path, bytes: SEGMENT_HEADER_BYTES, records: 0, readings: 0, ackedRecords: 0, ackedReadings: 0 };
    segments.push(seg);
    totalBytes += SEGMENT_HEADER_BYTES;
    active = { seg, fh, dirty: fsync !== 'batch' };
  }

  const needsRotation = (recordBytes: number) =>
    active === undefined || (active.seg.records > 0 && active.seg.bytes + recordBytes > segmentBytes);

  /** Cuts a segment at `offset` after damage was found there (after the startup scan). */
  async function cutDamaged(seg: Segment, offset: number, reason: string): Promise<void> {
    const ackOffset = ackPos.segment > seg.id ? Number.POSITIVE_INFINITY : ackPos.segment === seg.id ? ackPos.offset : 0;
    const prefix = await scanSegment(seg.path, lane, ackOffset, readChunkBytes, offset);
    const cut = seg.bytes - offset;
    if (reader?.seg === seg) await closeReader();
    if (active?.seg === seg) await active.fh.truncate(offset);
    else await truncate(seg.path, offset);
    totalBytes -= cut;
    seg.bytes = offset;
    seg.records = prefix.records;
    seg.readings = prefix.readings;
    seg.ackedRecords = Math.min(seg.ackedRecords, prefix.records);
    seg.ackedReadings = Math.min(seg.ackedReadings, prefix.readings);
    if (ackPos.segment === seg.id && ackPos.offset > offset) ackPos = { segment: seg.id, offset };
    for (const [k, ref] of ackedAhead) if (ref.segment === seg.id && ref.offset >= offset) ackedAhead.delete(k);
    stats.truncations++;
    stats.truncatedBytes += cut;
    logger.error(
      { err: agentErrors.AGENT_ERR_JOURNAL_CORRUPT(`${seg.path} at byte ${offset}: ${reason}; ${cut} bytes cut`), lane },
      'journal damage found during replay',
    );
  }

  return {
    async open() {
      await mkdir(dir, { recursive: true });
      ackFile = await openAckPointer(join(dir, 'ack'));
      const pointer = await ackFile.read();
      const ids = (await readdir(dir))
        .map(parseSegmentFileName)
        .filter((id) => id !== undefined)
        .sort((a, b) => a - b);
      let maxBoot = 0;
      for (const id of ids) {
        const path = join(dir, segmentFileName(id));
        nextSegmentId = Math.max(nextSegmentId, id + 1);
        if (pointer !== undefined && id < pointer.segment) {
          await unlink(path); // wholly before the ack pointer: acknowledged; a crash came before its deletion
          continue;
        }
        const ackOffset = pointer?.segment === id ? pointer.offset : 0;
        const scan = await scanSegment(path, lane, ackOffset, readChunkBytes);
        const cut = scan.fileBytes - scan.validBytes;
        if (scan.problem !== undefined && cut > 0) {
          stats.truncations++;
          stats.truncatedBytes += cut;
          logger.warn(
            { err: agentErrors.AGENT_ERR_JOURNAL_CORRUPT(`${path} at byte ${scan.validBytes}: ${scan.problem}; ${cut} bytes cut`), lane },
            'journal tail truncated (torn write after a crash, or damage)',
          );
        }
        if (scan.headerBad === true) {
          await unlink(path);
          continue;
        }
        if (cut > 0) await truncate(path, scan.validBytes);
        segments.push({
          id,
          path,
          bytes: scan.validBytes,
          records: scan.records,
          readings: scan.readings,
          ackedRecords: scan.ackedRecords,
          ackedReadings: scan.ackedReadings,
        });
        totalBytes += scan.validBytes;
        maxBoot = Math.max(maxBoot, scan.maxBoot);
        if (pointer?.segment === id) ackPos = { segment: id, offset: scan.ackedEnd };
      }
      if (pointer !== undefined) {
        nextSegmentId = Math.max(nextSegmentId, pointer.segment + 1);
        if (find(pointer.segment) === undefined) ackPos = pointer;
      }
      return { maxBoot, truncations: stats.truncations, truncatedBytes: stats.truncatedBytes };
    },

    costOf: (recordBytes) => recordBytes + (needsRotation(recordBytes) ? SEGMENT_HEADER_BYTES : 0),

    async append(record, meta) {
      if (needsRotation(record.length)) await rotate();
      const a = active!;
      const offset = a.seg.bytes;
      try {
        await writeFully(a.fh, record, offset);
        if (fsync === 'batch') await a.fh.datasync();
        else a.dirty = true;
      } catch (err) {
        // Leave no half record behind for the next append to bury.
        await a.fh.truncate(offset).catch(() => undefined);
        throw err;
      }
      a.seg.bytes += record.length;
      a.seg.records++;
      a.seg.readings += meta.readings;
      totalBytes += record.length;
      return { lane, segment: a.seg.id, offset, size: record.length, ...meta };
    },

    async read(from, maxRecords) {
      const records: JournalRecord[] = [];
      let pos = normalize(from);
      while (records.length < maxRecords) {
        const seg = find(pos.segment);
        if (seg === undefined || pos.offset >= seg.bytes) break;
        const recordReader = createRecordReader(await readHandle(seg), pos.offset, seg.bytes, readChunkBytes);
        while (records.length < maxRecords) {
          const step = await recordReader.next();
          if (step.kind === 'end') break;
          if (step.kind === 'corrupt') {
            await cutDamaged(seg, step.offset, step.reason);
            break;
          }
          // Copy: the reader reuses its buffer, and a copy lets the chunk go.
          records.push({ lane, segment: seg.id, offset: step.offset, size: step.size, ...step.meta, payload: Buffer.from(step.payload) });
          pos = { segment: seg.id, offset: step.offset + step.size };
        }
        const next = normalize(pos);
        if (compare(next, pos) === 0 && pos.offset >= seg.bytes) break; // at the end of the active segment
        pos = next;
      }
      return { records, next: pos };
    },

    firstUnacked: () => normalize(ackPos),

    ack(ref) {
      const start = normalize(ackPos);
      const order = compare(ref, start);
      if (order < 0) return false; // acknowledged already, or dropped
      if (order > 0) {
        ackedAhead.set(key(ref), ref);
        return false;
      }
      advance(ref);
      for (;;) {
        const next = normalize(ackPos);
        const ahead = ackedAhead.get(key(next));
        if (ahead === undefined) break;
        ackedAhead.delete(key(next));
        advance(ahead);
      }
      return true;
    },

    async reclaim() {
      if (ackDirty && ackFile !== undefined) {
        ackDirty = false;
        ackUnsynced = true;
        // Pointer first, then deletion: a crash in between leaves acknowledged segments that the
        // next start deletes, never a pointer behind deleted data.
        await ackFile.write(ackPos);
      }
      let removed = 0;
      for (let seg = segments[0]; seg !== undefined; seg = segments[0]) {
        const done = seg.ackedRecords >= seg.records && (seg.records > 0 || seg !== active?.seg);
        if (!done) break;
        await removeSegment(seg);
        removed++;
      }
      return removed;
    },

    async dropOldest() {
      const seg = segments[0];
      if (seg === undefined) return undefined;
      const dropped = { batches: seg.records - seg.ackedRecords, readings: seg.readings - seg.ackedReadings };
      await removeSegment(seg);
      const end = { segment: seg.id, offset: seg.bytes };
      if (compare(ackPos, end) < 0) {
        ackPos = end;
        ackDirty = true;
      }
      forgetAcksBefore(normalize(ackPos));
      return dropped;
    },

    async sync() {
      if (active?.dirty === true) {
        active.dirty = false;
        await active.fh.datasync();
      }
      if (ackUnsynced && ackFile !== undefined) {
        ackUnsynced = false;
        await ackFile.sync();
      }
    },

    async close() {
      await closeReader();
      if (active !== undefined) {
        const last = active;
        active = undefined;
        if (last.dirty && fsync !== 'off') await last.fh.datasync();
        await last.fh.close();
      }
      if (ackFile !== undefined) {
        const file = ackFile;
        ackFile = undefined;
        if (ackDirty) await file.write(ackPos);
        if (fsync !== 'off') await file.sync();
        await file.close();
      }
    },

    get bytes() {
      return totalBytes;
    },
    get segmentCount() {
      return segments.length;
    },
    stats() {
      let pendingBatches = 0;
      let pendingReadings = 0;
      for (const seg of segments) {
        pendingBatches += seg.records - seg.ackedRecords;
        pendingReadings += seg.readings - seg.ackedReadings;
      }
      return { bytes: totalBytes, segments: segments.length, pendingBatches, pendingReadings, ...stats };
    },
  };
}
